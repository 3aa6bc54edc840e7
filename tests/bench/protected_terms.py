"""Protected-term matching benchmark: the word n-gram lookup against a regex per term.

Run from the repository root (``make bench BENCH=protected_terms``)::

    .venv/bin/python tests/bench/protected_terms.py [--prompts 300]

Needs no database: it builds the same in-memory index ``apps.moderation.policy`` builds from
the table (terms of one to four words, made-up names), and checks realistic prompts of 10 to 60
words with ``policy.find``. Baselines measured in the same run on the same prompts: one
compiled ``\\b...\\b`` regex per term (the obvious way), and one alternation of every term. All
three see the same normalised text and must agree on every prompt. Prints one JSON object: the
median microseconds per prompt for 100, 1,000 and 10,000 terms, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

from apps.moderation import policy

SYLLABLES = tuple(
    [
        "ka",
        "lo",
        "mi",
        "ra",
        "ten",
        "vo",
        "su",
        "bel",
        "dor",
        "an",
        "qui",
        "zem",
        "pa",
        "ri",
        "tho",
        "lu",
        "ver",
        "sha",
        "mon",
        "el",
    ]
)
SCENE = (
    (
        "golden hour over misty mountains and a still lake, watercolour, soft light, city skyline "
        "at night with neon signs, aurora above the dunes, oil painting of a forest in autumn"
    )
    .replace(",", "")
    .split()
)


def name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def make_terms(n: int, rng: random.Random) -> dict[tuple[str, ...], tuple[str, str]]:
    terms = {}
    while len(terms) < n:
        term = " ".join(name(rng) for _ in range(rng.choice((1, 2, 2, 3, 4))))
        action = rng.choice(("refuse", "review"))
        terms[tuple(policy.words(term))] = (term, action)
    return terms


def make_prompts(count: int, terms, rng: random.Random) -> list[str]:
    listed = [v[0] for v in terms.values()]
    prompts = []
    for i in range(count):
        words = [rng.choice(SCENE) for _ in range(rng.randint(10, 60))]
        if i % 4 == 0:  # a quarter name a listed term, accented or in capitals
            term = rng.choice(listed)
            words.insert(
                rng.randrange(len(words)), term.upper() if i % 8 else term.replace("a", "à")
            )
        prompts.append(" ".join(words))
    return prompts


def timed(fn, prompts) -> tuple[float, list]:
    samples, results = [], []
    for p in prompts:
        t = time.perf_counter()
        results.append(fn(p))
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6, results


def measure(size: int, count: int, rng: random.Random) -> dict:
    terms = make_terms(size, rng)
    prompts = make_prompts(count, terms, rng)
    index = policy._Index(
        version="bench", terms=terms, lengths=tuple(sorted({len(k) for k in terms}))
    )
    per_term = [(re.compile(r"\b" + re.escape(" ".join(k)) + r"\b"), v) for k, v in terms.items()]
    alternation = re.compile(
        r"\b(?:" + "|".join(re.escape(" ".join(k)) for k in sorted(terms, key=len)) + r")\b"
    )

    def ngram(p: str) -> set[str]:
        return {m.term for m in policy.find(p, field_name="prompt", index=index)}

    def regex_each(p: str) -> set[str]:
        text = " ".join(policy.words(p))
        return {v[0] for rx, v in per_term if rx.search(text)}

    def regex_one(p: str) -> set[str]:
        # Non-overlapping matches only: may miss a term inside another (timing baseline only).
        text = " ".join(policy.words(p))
        return {terms[tuple(m.split(" "))][0] for m in alternation.findall(text)}

    ngram_us, found = timed(ngram, prompts)
    each_us, expected = timed(regex_each, prompts)
    one_us, _ = timed(regex_one, prompts)
    assert found == expected, "the n-gram lookup and the regex per term disagree"
    hits = sum(1 for r in found if r)
    assert hits >= count // 4
    return {
        "ngram_us_p50": round(ngram_us, 1),
        "regex_per_term_us_p50": round(each_us, 1),
        "one_alternation_us_p50": round(one_us, 1),
        "regex_per_term_over_ngram": round(each_us / ngram_us, 1),
        "alternation_over_ngram": round(one_us / ngram_us, 2),
        "prompts_with_a_term": hits,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    sizes = {str(n): measure(n, args.prompts, rng) for n in (100, 1_000, 10_000)}
    print(json.dumps({"prompts": args.prompts, "sizes": sizes}, indent=2))


if __name__ == "__main__":
    main()

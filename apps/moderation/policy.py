"""Prompt policy: does a prompt name a protected name or mark?

Matching is on whole words after Unicode normalisation, so a term matches however it is typed
("Tàylor Swift", fullwidth "TAYLOR swift", "taylor-swift") and never inside another word ("peg" does
not match "pegboard"). Terms of several words match as a run of whole words.

With thousands of terms, one regular expression per term would cost thousands of scans per
prompt. Instead the prompt is split into words once and each run of 1..N words (N: the most
words any term has, only the lengths some term has) is looked up in a dict: a prompt of W words
costs at most W x (distinct term lengths) dict lookups whatever the list's size. The dict is
built once per process and rebuilt when the list changes: every change writes a new version
into the shared cache (Redis), and each check compares that version with the one it built
from (one GET). If the cache cannot be read, the list is read from the database instead, so the
policy never fails open.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field

from django.core.cache import cache

logger = logging.getLogger(__name__)

VERSION_KEY = "moderation:protected_terms:version"

# A word is a run of letters and digits; everything else (spaces, punctuation, underscores,
# symbols) separates words.
_WORD = re.compile(r"[^\W_]+")


def normalize(text: str) -> str:
    """NFKC, case folding, accents removed: "Tàylor" (or fullwidth) → "taylor".

    Accents go by decomposing (NFD) and dropping combining marks; NFKC again at the end puts
    what is left (e.g. Hangul syllables) back together.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", text)


def words(text: str) -> list[str]:
    """The normalised words of a text, in order."""
    return _WORD.findall(normalize(text))


def normalize_term(term: str) -> str:
    """What a term is stored and compared as: its normalised words joined by single spaces."""
    return " ".join(words(term))


@dataclass(frozen=True)
class Match:
    term: str  # as written in the list
    action: str  # "refuse" or "review"
    field: str  # "prompt" or "negative_prompt"


@dataclass
class PolicyResult:
    """The outcome of a check: the first refused term (with its field), and the review terms."""

    refused: Match | None = None
    review: list[Match] = field(default_factory=list)

    @property
    def review_terms(self) -> list[str]:
        """Each review term once, in the order first met."""
        return list(dict.fromkeys(m.term for m in self.review))


@dataclass
class _Index:
    version: str | None = None
    # normalised word tuple → (term as written, action)
    terms: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()


_index = _Index()
_lock = threading.Lock()


def _load() -> tuple[dict[tuple[str, ...], tuple[str, str]], tuple[int, ...]]:
    from apps.moderation.models import ProtectedTerm

    terms = {
        tuple(normalized.split(" ")): (term, action)
        for term, normalized, action in ProtectedTerm.objects.values_list(
            "term", "normalized", "action"
        ).iterator(chunk_size=5000)
    }
    return terms, tuple(sorted({len(k) for k in terms}))


def _current_version() -> str | None:
    """The list's version in the shared cache (created if missing); None if unreadable."""
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, _new_version(), timeout=None)
            version = cache.get(VERSION_KEY)
        return version
    except Exception:  # the cache is down: read the list from the database this time
        logger.warning("protected terms: cache unreadable, reading the list from the database")
        return None


def _new_version() -> str:
    from apps.core.ids import new_id

    return str(new_id())


def index_invalidate() -> None:
    """Tell every process the list changed (called after commit by each change)."""
    global _index
    try:
        cache.set(VERSION_KEY, _new_version(), timeout=None)
    except Exception:
        logger.warning("protected terms: could not publish a new list version")
    with _lock:
        _index = _Index()


def _terms() -> _Index:
    global _index
    version = _current_version()
    current = _index
    if version is not None and current.version == version:
        return current
    terms, lengths = _load()
    fresh = _Index(version=version, terms=terms, lengths=lengths)
    if version is not None:
        with _lock:
            _index = fresh
    return fresh


def find(text: str, *, field_name: str, index: _Index | None = None) -> list[Match]:
    """Every protected term named in ``text``, in the order they appear."""
    index = index or _terms()
    if not index.terms or not text:
        return []
    tokens = words(text)
    found = []
    for i in range(len(tokens)):
        for n in index.lengths:
            if i + n > len(tokens):
                break
            hit = index.terms.get(tuple(tokens[i : i + n]))
            if hit is not None:
                found.append(Match(term=hit[0], action=hit[1], field=field_name))
    return found


def prompt_check(*, prompt: str, negative_prompt: str = "") -> PolicyResult:
    """Check a prompt and its negative prompt against the protected names and marks.

    ``refused`` is the first ``refuse`` term met (the prompt before the negative prompt);
    ``review`` lists every ``review`` term met.
    """
    index = _terms()
    result = PolicyResult()
    for name, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        for match in find(text, field_name=name, index=index):
            if match.action == "refuse":
                if result.refused is None:
                    result.refused = match
            else:
                result.review.append(match)
    return result

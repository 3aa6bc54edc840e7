"""Feed benchmark on PostgreSQL: queries per page, home-feed server time against a raw query,
and how page time holds up as the data grows and as one pages deeper.

Run from the repository root with a PostgreSQL server (``DATABASE_URL`` names the server; each
scale gets its own database ``<name>_<scale>``, seeded on first use and kept for later runs)::

    .venv/bin/python tests/bench/feed.py --scale large [--small-scale 10k] [--runs 200]

Prints one JSON object. What it measures, all in this process and in the same run:

- ``queries``: queries for one home, public, trending and hashtag page of 10, 50 and 100 items
  (the request's own authentication included), which must be constant and at most 5.
- ``home``: ``GET /api/v1/feed/home?limit=20`` for the user ``bench`` (follows 500 accounts):
  p50 and p99 of server time, the WSGI application called as a server calls it (middleware,
  token auth, feed, viewer reactions, JSON), against a
  raw psycopg query returning the same rows (the feed's SQL with its parameters, sent on a plain
  connection); target: ratio ≤ 2.5 at p50.
- ``flat_size``: the same page at ``--small-scale`` (10k posts) against ``--scale`` (≤ 1.2).
- ``flat_depth``: page 40 against page 1 of the same feed, by cursor (≤ 1.2).

Each scale runs in its own child process; the children alternate ``--rounds`` times (the runs
split between rounds) and their samples are pooled, and within a child each pair (API and raw,
page 40 and page 1) is interleaved, so drift in the machine's load hits both sides of a ratio.

Not collected by pytest (``norecursedirs``). Timings are wall-clock on a shared machine; the load
average is printed with them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

TARGET_RATIO = 2.5
TARGET_FLAT = 1.2
MAX_QUERIES = 5


def _db_url(base: str, scale: str) -> str:
    parts = urlsplit(base)
    name = (parts.path.lstrip("/") or "vivid") + f"_bench_{scale}"
    return urlunsplit(parts._replace(path="/" + name))


def _ensure_seeded(url: str, scale: str) -> float | None:
    """Create, migrate and seed the scale's database unless it has users; the seed's seconds."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    with psycopg.connect(url) as conn:
        seeded = conn.execute("SELECT to_regclass('accounts_user') IS NOT NULL").fetchone()[0]
        if seeded:
            seeded = conn.execute("SELECT EXISTS (SELECT 1 FROM accounts_user)").fetchone()[0]
    if seeded:
        return None
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env)
    started = time.monotonic()
    subprocess.run([*manage, "seed", "--scale", scale], check=True, env=env, stdout=sys.stderr)
    return round(time.monotonic() - started, 1)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


def _measure(url: str, runs: int) -> dict:
    """Everything that needs Django, against the database ``url`` (run in a child process)."""
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    import psycopg
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from apps.accounts import services as account_services
    from apps.accounts.models import User
    from apps.posts import selectors
    from apps.posts.models import Post, PostTag

    bench = User.objects.get(username="bench")
    _, raw_token = account_services.token_create(user=bench, name="bench")

    # Server time: the WSGI application itself, as a server process calls it (no test client).
    handler = WSGIHandler()
    factory = RequestFactory()

    def serve(path: str) -> bytes:
        environ = factory.get(path, HTTP_AUTHORIZATION=f"Bearer {raw_token}").environ
        environ["wsgi.input"] = io.BytesIO(b"")
        status = {}
        body = b"".join(handler(environ, lambda s, h: status.setdefault("line", s)))
        assert status["line"].startswith("200"), (path, status, body[:200])
        return body

    def get(path: str):
        return json.loads(serve(path))

    tag = PostTag.objects.values_list("tag", flat=True).first() or "landscape"
    feeds = {
        "home": "/api/v1/feed/home",
        "public": "/api/v1/feed/public",
        "trending": "/api/v1/feed/public?sort=trending",
        "hashtag": f"/api/v1/tags/{tag}/posts",
    }
    get(feeds["home"])  # warm-up: the token's first use is recorded once
    queries = {}
    for name, path in feeds.items():
        counts = {}
        for limit in (10, 50, 100):
            sep = "&" if "?" in path else "?"
            with CaptureQueriesContext(connection) as captured:
                items = get(f"{path}{sep}limit={limit}")["items"]
            counts[str(limit)] = {"queries": len(captured), "items": len(items)}
        queries[name] = counts

    # The feed's own SQL, to run raw on a plain psycopg connection.
    def page_sql(cursor: int | None):
        page_qs = selectors._feed_posts(bench).filter(
            selectors.Q(author_id=bench.pk)
            | selectors.Q(
                author_id__in=selectors.Follow.objects.filter(follower_id=bench.pk).values(
                    "followee_id"
                )
            )
        )
        if cursor is not None:
            page_qs = page_qs.filter(id__lt=cursor)
        return page_qs.order_by("-id")[:21].query.sql_with_params()

    raw = psycopg.connect(url, autocommit=True)

    def raw_page(sql_params) -> list:
        sql, params = sql_params
        return raw.execute(sql, params, prepare=False).fetchall()

    def timed(fn, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    # Same rows: the raw query returns the ids the API returns.
    api_ids = [int(i["id"]) for i in get(f"{feeds['home']}?limit=20")["items"]]
    assert [row[0] for row in raw_page(page_sql(None))][:20] == api_ids

    # Interleave the two so drift on a shared machine hits both alike.
    api_t, raw_t = [], []
    first_sql = page_sql(None)
    for _ in range(runs):
        api_t += timed(lambda: serve(f"{feeds['home']}?limit=20"), 1)
        raw_t += timed(lambda: raw_page(first_sql), 1)
    api_p, raw_p = _percentiles(api_t), _percentiles(raw_t)

    # Page 40 by cursor, interleaved with page 1 like the pair above.
    cursor = None
    for _ in range(39):
        body = get(f"{feeds['home']}?limit=20" + (f"&cursor={cursor}" if cursor else ""))
        cursor = body["next_cursor"]
    deep_t, first_t = [], []
    for _ in range(runs):
        deep_t += timed(lambda: serve(f"{feeds['home']}?limit=20&cursor={cursor}"), 1)
        first_t += timed(lambda: serve(f"{feeds['home']}?limit=20"), 1)
    deep_p, first_p = _percentiles(deep_t), _percentiles(first_t)
    return {
        "samples": {"api": api_t, "raw": raw_t, "page_1": first_t, "page_40": deep_t},
        "posts": Post.objects.count(),
        "bench_follows": bench.following.count(),
        "queries": queries,
        "home": {
            "api": api_p,
            "raw_psycopg": raw_p,
            "ratio_p50": round(api_p["p50_ms"] / raw_p["p50_ms"], 2),
        },
        "depth": {"page_1": first_p, "page_40": deep_p},
    }


def _pooled(parts: list[dict]) -> dict:
    """One scale's rounds as one result: counts from the first, timings from all samples."""
    samples = {k: [t for p in parts for t in p["samples"][k]] for k in parts[0]["samples"]}
    api_p, raw_p = _percentiles(samples["api"]), _percentiles(samples["raw"])
    out = {k: v for k, v in parts[0].items() if k != "samples"}
    out["runs"] = len(samples["api"])
    out["home"] = {
        "api": api_p,
        "raw_psycopg": raw_p,
        "ratio_p50": round(api_p["p50_ms"] / raw_p["p50_ms"], 2),
    }
    out["depth"] = {
        "page_1": _percentiles(samples["page_1"]),
        "page_40": _percentiles(samples["page_40"]),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="large", choices=["10k", "medium", "large"])
    parser.add_argument("--small-scale", default="10k", choices=["10k", "medium", "large"])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate the scales this many times (runs split between them), pooling samples,"
        " so load drift on a shared machine hits both scales alike",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.runs)))
        return

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server (postgres://...): the benchmark is PG-only."
        )
    scales = list(dict.fromkeys([args.small_scale, args.scale]))
    seed_s = {scale: _ensure_seeded(_db_url(base, scale), scale) for scale in scales}
    rounds = max(1, args.rounds)
    per_round = max(1, args.runs // rounds)
    parts: dict[str, list[dict]] = {scale: [] for scale in scales}
    for _ in range(rounds):
        for scale in scales:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    _db_url(base, scale),
                    "--runs",
                    str(per_round),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            parts[scale].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = {scale: _pooled(runs) for scale, runs in parts.items()}

    big, small = results[args.scale], results[args.small_scale]
    counts = [c["queries"] for feed in big["queries"].values() for c in feed.values()]
    per_feed_constant = all(
        len({c["queries"] for c in feed.values()}) == 1 for feed in big["queries"].values()
    )
    ratio = big["home"]["ratio_p50"]
    flat_size = round(big["depth"]["page_1"]["p50_ms"] / small["depth"]["page_1"]["p50_ms"], 2)
    flat_depth = round(big["depth"]["page_40"]["p50_ms"] / big["depth"]["page_1"]["p50_ms"], 2)
    report = {
        "scale": args.scale,
        "small_scale": args.small_scale,
        "seed_seconds": seed_s,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "targets": {
            "queries_constant_and_at_most_5": {
                "value": max(counts),
                "constant": per_feed_constant,
                "met": per_feed_constant and max(counts) <= MAX_QUERIES,
            },
            "home_p50_ratio_vs_raw": {
                "value": ratio,
                "target": TARGET_RATIO,
                "met": ratio <= TARGET_RATIO,
            },
            "flat_from_small_to_large": {
                "value": flat_size,
                "target": TARGET_FLAT,
                "met": flat_size <= TARGET_FLAT,
            },
            "flat_from_page_1_to_40": {
                "value": flat_depth,
                "target": TARGET_FLAT,
                "met": flat_depth <= TARGET_FLAT,
            },
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

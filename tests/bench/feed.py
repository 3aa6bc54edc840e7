"""Feed benchmark on PostgreSQL: queries per page, every feed's server time against its own raw
query, and how page time holds up as the data grows and as one pages deeper.

Run from the repository root with a PostgreSQL server (``DATABASE_URL`` names the server; each
scale gets its own database ``<name>_bench_<scale>``, seeded on first use and kept for later
runs, so only the first run pays the seed: 25 minutes for ``large`` on two busy cores)::

    .venv/bin/python tests/bench/feed.py --scale large [--small-scale 10k] [--runs 200]

Prints one JSON object. What it measures, all in this process and in the same run:

- ``queries``: queries for one home, public (recent), trending, hashtag and profile page of 10,
  50 and 100 items (the request's own authentication included), which must be constant and at
  most 2 (the token, the page).
- ``feeds``: for each of ``home`` (``GET /api/v1/feed/home``, the user ``bench``, who follows
  500 accounts), ``public`` (``/feed/public``), ``trending`` (``/feed/public?sort=trending``),
  ``hashtag`` (``/tags/<the most used tag>/posts``) and ``profile`` (``/users/<the author with
  the most posts>/posts``), ``limit=20`` as ``bench``: p50 and p99 of server time, the WSGI
  application called as a server calls it (middleware, token auth, feed, viewer reactions,
  JSON), against the feed's own SQL with its parameters (``selectors.feed_sql``) sent raw on a
  plain psycopg connection (``raw_psycopg``, as a client sends a query: parsed and planned each
  time; target: ratio ≤ 2 at p50), and for reference the same prepared (``raw_prepared``, which
  the API itself uses for all but the hashtag feed). The raw rows are checked to be the API's.
- ``flat_size``: the home page at ``--small-scale`` (10k posts) against ``--scale`` (≤ 1.2).
- ``flat_depth``: page 40 against page 1 of the home feed, by cursor (≤ 1.2).

Each scale runs in its own child process; the children alternate ``--rounds`` times (the runs
split between rounds) and their samples are pooled, and within a child each run times every
feed's API page and its raw query back to back, so drift in the machine's load hits both sides
of a ratio.

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
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

TARGET_RATIO = 2.0
TARGET_FLAT = 1.2
MAX_QUERIES = 2
FEEDS = ("home", "public", "trending", "hashtag", "profile")


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

    from django.db.models import Count

    from apps.core.pagination import PageParams

    tag = PostTag.objects.values("tag").annotate(n=Count("*")).order_by("-n")[:1].get()["tag"]
    top = Post.objects.values("author_id").annotate(n=Count("*")).order_by("-n")[:1].get()
    author = User.objects.get(pk=top["author_id"]).username
    feeds = {
        "home": "/api/v1/feed/home",
        "public": "/api/v1/feed/public",
        "trending": "/api/v1/feed/public?sort=trending",
        "hashtag": f"/api/v1/tags/{tag}/posts",
        "profile": f"/api/v1/users/{author}/posts",
    }
    selector_feed = {"hashtag": "tag", "profile": "user"}
    keys = {"hashtag": tag, "profile": author}
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

    # Each feed's own SQL, to run raw on a plain psycopg connection.
    def page_sql(name: str, cursor: int | None = None):
        return selectors.feed_sql(
            feed=selector_feed.get(name, name),
            viewer=bench,
            params=PageParams(limit=20, cursor=cursor),
            key=keys.get(name),
        )

    raw = psycopg.connect(url, autocommit=True)

    def raw_page(sql_params, prepare=False) -> list:
        sql, params = sql_params
        return raw.execute(sql, params, prepare=prepare).fetchall()

    def timed(fn, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    def page_path(name: str) -> str:
        path = feeds[name]
        return path + ("&" if "?" in path else "?") + "limit=20"

    # Same rows: each raw query returns the ids its API page returns.
    sqls = {name: page_sql(name) for name in FEEDS}
    for name in FEEDS:
        api_ids = [int(i["id"]) for i in get(page_path(name))["items"]]
        assert len(api_ids) == 20, name
        assert [row[0] for row in raw_page(sqls[name])][:20] == api_ids, name

    # Interleaved: every run times each feed's API page and its raw query back to back.
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for name in FEEDS:
            path, sql = page_path(name), sqls[name]
            for side, fn in (
                ("api", partial(serve, path)),
                ("raw", partial(raw_page, sql)),
                ("prepared", partial(raw_page, sql, True)),
            ):
                samples.setdefault(f"{name}_{side}", []).extend(timed(fn, 1))

    # Page 40 by cursor, interleaved with page 1 like the pair above.
    cursor = None
    for _ in range(39):
        body = get(f"{feeds['home']}?limit=20" + (f"&cursor={cursor}" if cursor else ""))
        cursor = body["next_cursor"]
    deep_t, first_t = [], []
    for _ in range(runs):
        deep_t += timed(lambda: serve(f"{feeds['home']}?limit=20&cursor={cursor}"), 1)
        first_t += timed(lambda: serve(f"{feeds['home']}?limit=20"), 1)
    samples.update({"page_1": first_t, "page_40": deep_t})
    return {
        "samples": samples,
        "posts": Post.objects.count(),
        "bench_follows": bench.following.count(),
        "hashtag": tag,
        "profile": {"username": author, "posts": top["n"]},
        "queries": queries,
    }


def _feeds(samples: dict[str, list[float]]) -> dict:
    out = {}
    for name in FEEDS:
        api, raw = _percentiles(samples[f"{name}_api"]), _percentiles(samples[f"{name}_raw"])
        prepared = _percentiles(samples[f"{name}_prepared"])
        out[name] = {
            "api": api,
            "raw_psycopg": raw,
            "raw_prepared": prepared,
            "ratio_p50": round(api["p50_ms"] / raw["p50_ms"], 2),
            "ratio_p50_vs_prepared": round(api["p50_ms"] / prepared["p50_ms"], 2),
        }
    return out


def _pooled(parts: list[dict]) -> dict:
    """One scale's rounds as one result: counts from the first, timings from all samples."""
    samples = {k: [t for p in parts for t in p["samples"][k]] for k in parts[0]["samples"]}
    out = {k: v for k, v in parts[0].items() if k != "samples"}
    out["runs"] = len(samples["home_api"])
    out["feeds"] = _feeds(samples)
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
    ratios = {name: big["feeds"][name]["ratio_p50"] for name in FEEDS}
    flat_size = round(big["depth"]["page_1"]["p50_ms"] / small["depth"]["page_1"]["p50_ms"], 2)
    flat_depth = round(big["depth"]["page_40"]["p50_ms"] / big["depth"]["page_1"]["p50_ms"], 2)
    report = {
        "scale": args.scale,
        "small_scale": args.small_scale,
        "seed_seconds": seed_s,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "targets": {
            "queries_constant_and_at_most_2": {
                "value": max(counts),
                "constant": per_feed_constant,
                "met": per_feed_constant and max(counts) <= MAX_QUERIES,
            },
            **{
                f"{name}_p50_ratio_vs_raw": {
                    "value": ratio,
                    "target": TARGET_RATIO,
                    "met": ratio <= TARGET_RATIO,
                }
                for name, ratio in ratios.items()
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

"""Search benchmark on PostgreSQL: server time of ``GET /api/v1/search`` for common and rare
terms against the raw SQL of the same query, and queries per page.

Run from the repository root with a PostgreSQL server (``DATABASE_URL`` names the server; the
scale's database ``<name>_bench_<scale>`` is the one ``tests/bench/feed.py`` uses, seeded with
``manage.py seed --scale <scale>`` on first use, then migrated and indexed with
``manage.py search_reindex`` when its search storage is behind)::

    .venv/bin/python tests/bench/search.py --scale large [--runs 200]

Prints one JSON object:

- ``setup``: seconds spent seeding, migrating, indexing and counting tags (each when it ran),
  and vacuuming the tables searched (a bulk-loaded database has no visibility maps yet).
- ``queries``: queries for one page of 10, 50 and 100 items of each type (the request's own
  authentication included): constant, whatever the page size.
- ``terms``: for each term (``common``: a caption word in about one post in six; ``tag``: a
  hashtag of one post in ten; ``prompt``: a word of a shared prompt; ``phrase``: two words;
  ``rare``: a word in 25 posts, added by this script; ``none``: a word in no post), p50 and p99
  of server time (the WSGI application called as a server calls it: middleware, token auth,
  search, serialising) as the user ``bench`` (follows 500 accounts) and as a visitor, against a
  raw psycopg run of the page's own SQL (Vivid's query with its parameters, without Vivid's
  layers); targets: p50 < 50 ms and p99 < 200 ms.
- ``people`` and ``tags``: the same for a name with a typo and a tag prefix.

API and raw runs are interleaved so drift in a shared machine's load hits both. Not collected by
pytest (``norecursedirs``); the load average is printed with the timings.
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
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

from tests.bench.feed import _db_url, _ensure_seeded  # noqa: E402

TARGET_P50_MS = 50.0
TARGET_P99_MS = 200.0
RARE_WORD = "zanzibarite"
TERMS = {
    "common": "light",
    "tag": "sunset",
    "prompt": "harbour",
    "phrase": "quiet waves",
    "rare": RARE_WORD,
    "none": "xylophonist",
}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


def _prepare(url: str) -> dict:
    """Migrate, index what is not indexed, add the rare word; seconds of each step that ran."""
    import psycopg

    env = {**os.environ, "DATABASE_URL": url}
    manage = [sys.executable, str(ROOT / "manage.py")]
    out = {}
    started = time.monotonic()
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env)
    out["migrate_s"] = round(time.monotonic() - started, 1)
    with psycopg.connect(url) as conn:
        posts = conn.execute("SELECT count(*) FROM posts_post").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM search_postsearch").fetchone()[0]
    if indexed < posts:
        started = time.monotonic()
        subprocess.run([*manage, "search_reindex", "--batch", "5000"], check=True, env=env)
        out["search_reindex_s"] = round(time.monotonic() - started, 1)
        out["search_reindex_posts"] = posts
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE search_postsearch")
    # A seeded database was loaded in bulk and never vacuumed: without visibility maps no scan
    # is index-only (counting a profile's followers read the heap), unlike a live database.
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("social_follow", "posts_post", "search_postsearch", "accounts_user"):
            conn.execute(f"VACUUM ANALYZE {table}")
    out["vacuum_s"] = round(time.monotonic() - started, 1)
    with psycopg.connect(url) as conn:
        counted = conn.execute("SELECT EXISTS (SELECT 1 FROM search_tagcount)").fetchone()[0]
    if not counted:
        started = time.monotonic()
        refresh = "from apps.search.services import tag_counts_refresh; tag_counts_refresh()"
        subprocess.run([*manage, "shell", "-c", refresh], check=True, env=env)
        out["tag_counts_refresh_s"] = round(time.monotonic() - started, 1)
    return out


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
    from apps.posts.models import Post
    from apps.search import selectors
    from apps.search.services import post_index

    bench = User.objects.get(username="bench")
    _, raw_token = account_services.token_create(user=bench, name="bench-search")

    # The rare word: in 25 public posts spread over the whole history (once per database).
    if not Post.objects.filter(caption__contains=RARE_WORD).exists():
        ids = list(
            Post.objects.filter(visibility="public").order_by("?").values_list("id", flat=True)[:25]
        )
        for pk in ids:
            post = Post.objects.get(id=pk)
            post.caption = f"{post.caption} {RARE_WORD}"
            post.save(update_fields=["caption"])
            post_index(post_id=pk)

    handler = WSGIHandler()
    factory = RequestFactory()

    def serve(path: str, token: str | None = raw_token) -> bytes:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        environ = factory.get(path, **headers).environ
        environ["wsgi.input"] = io.BytesIO(b"")
        status = {}
        body = b"".join(handler(environ, lambda s, h: status.setdefault("line", s)))
        assert status["line"].startswith("200"), (path, status, body[:300])
        return body

    def path(q: str, kind: str = "posts", limit: int = 20) -> str:
        return f"/api/v1/search?q={quote(q)}&type={kind}&limit={limit}"

    serve(path("light"))  # warm-up: the token's first use is recorded once

    queries = {}
    for kind, q in (("posts", "light"), ("people", "ana"), ("tags", "s")):
        counts = {}
        for limit in (10, 50, 100):
            with CaptureQueriesContext(connection) as captured:
                items = json.loads(serve(path(q, kind, limit)))["items"]
            counts[str(limit)] = {"queries": len(captured), "items": len(items)}
        queries[kind] = counts

    raw = psycopg.connect(url, autocommit=True)

    def page_sql(q: str, kind: str, viewer) -> tuple[str, list]:
        """The page's own SQL as Vivid sends it (captured), to run raw."""
        with CaptureQueriesContext(connection) as captured:
            if kind == "posts":
                selectors.search_posts(viewer=viewer, q=q, limit=20)
            elif kind == "people":
                selectors.search_people(viewer=viewer, q=q, limit=20)
            else:
                selectors.search_tags(viewer=viewer, q=q, limit=20)
        sqls = [c["sql"] for c in captured.captured_queries]
        # The page's reads; the transaction and the threshold are the raw run's own.
        return [
            s for s in sqls if s.lstrip().upper().startswith("SELECT") and "set_config" not in s
        ]

    def raw_run(sqls: list[str]) -> None:
        with raw.transaction():  # people: the similarity threshold holds for the transaction
            raw.execute("SELECT set_config('pg_trgm.similarity_threshold', '0.2', true)")
            for sql in sqls:
                raw.execute(sql, prepare=False).fetchall()

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    from django.contrib.auth.models import AnonymousUser

    def bench_case(q: str, kind: str) -> dict:
        out = {"q": q}
        for who, token, viewer in (("bench", raw_token, bench), ("visitor", None, AnonymousUser())):
            sqls = page_sql(q, kind, viewer)
            body = json.loads(serve(path(q, kind), token))
            api_t, raw_t = [], []
            url_path = path(q, kind)
            for _ in range(runs):
                api_t.append(timed(lambda p=url_path, t=token: serve(p, t)))
                raw_t.append(timed(lambda s=sqls: raw_run(s)))
            api_p, raw_p = _percentiles(api_t), _percentiles(raw_t)
            out[who] = {
                "items": len(body["items"]),
                "api": api_p,
                "raw_sql": raw_p,
                "ratio_p50": round(api_p["p50_ms"] / max(raw_p["p50_ms"], 1e-6), 2),
                "meets_target": api_p["p50_ms"] < TARGET_P50_MS and api_p["p99_ms"] < TARGET_P99_MS,
            }
        return out

    terms = {name: bench_case(q, "posts") for name, q in TERMS.items()}
    return {
        "posts": Post.objects.count(),
        "users": User.objects.count(),
        "runs": runs,
        "queries": queries,
        "terms": terms,
        "people": bench_case("anna", "people"),
        "tags": bench_case("sun", "tags"),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="large", choices=["10k", "medium", "large"])
    parser.add_argument("--runs", type=int, default=100)
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
    url = _db_url(base, args.scale)
    setup = {"seed_s": _ensure_seeded(url, args.scale), **_prepare(url)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, "--runs", str(args.runs)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "scale": args.scale,
                "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
                "setup": setup,
                **result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

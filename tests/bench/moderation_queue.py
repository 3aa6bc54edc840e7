"""The moderators' queue at 100,000 open cases on PostgreSQL: server time of a page of
``GET /api/v1/moderation/queue`` and its query count, against a naive queue measured in the
same run.

Run from the repository root with a PostgreSQL server (``DATABASE_URL`` names the server; the
benchmark creates its own scratch database ``<name>_bench_modq_<pid>`` and drops it at the end)::

    .venv/bin/python tests/bench/moderation_queue.py [--cases 100000] [--requests 200]

What it does, all in one run:

- migrates the scratch database and bulk-creates 2,000 authors, then ``--cases`` open cases:
  70 % about posts (each with its asset), 20 % about comments, 10 % about people, with reasons
  spread over every severity, some claimed by the moderator, some escalated; VACUUM ANALYZE;
- times the API view in process (Django's test client with a ``moderate`` token: the whole
  request, authentication, the role check, the page and the open count, i.e. server time)
  for: the first page, a deep page (a cursor half way down the queue), and each filter
  (reason, kind, assigned to me, escalated); counts the queries of each request;
- the baseline, interleaved with the real page: the naive queue a first version would write,
  OFFSET paging and the target of each row read one by one (subject, assignee, post or comment
  per case), at the same depths.

Prints one JSON object; targets: p50 of the page under 50 ms, at most 6 queries for the page
itself (the selector), whatever the queue's size or depth. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

TARGET_P50_MS = 50.0
MAX_QUERIES = 6
PAGE = 20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load(n_cases: int, moderator) -> dict:
    """Authors, posts with assets, comments, and ``n_cases`` open cases, by bulk_create."""
    import random

    from apps.accounts.models import User
    from apps.media.models import Asset
    from apps.moderation.models import SEVERITY, Case, Reason
    from apps.posts.models import Comment, Post

    rng = random.Random(20261207)
    authors = User.objects.bulk_create(
        [
            User(username=f"author{i}", email=f"author{i}@example.com", password="!")
            for i in range(2000)
        ],
        batch_size=2000,
    )
    n_posts = int(n_cases * 0.7)
    n_comments = int(n_cases * 0.2)
    n_users = min(len(authors), n_cases - n_posts - n_comments)
    n_posts = n_cases - n_comments - n_users  # the rest are posts
    assets = Asset.objects.bulk_create(
        [
            Asset(
                owner=authors[i % len(authors)],
                kind="image",
                mime="image/png",
                sha256=secrets.token_hex(32),
                original=f"originals/{i}.png",
                width=512,
                height=512,
                bytes=1000,
                variants={"thumb": f"variants/{i}-t.webp"},
            )
            for i in range(n_posts + 1)
        ],
        batch_size=5000,
    )
    posts = Post.objects.bulk_create(
        [
            Post(
                author=a.owner,
                asset=a,
                caption=f"caption {i} " + "words " * rng.randint(1, 20),
                visibility="public",
            )
            for i, a in enumerate(assets)
        ],
        batch_size=5000,
    )
    comments = Comment.objects.bulk_create(
        [
            Comment(post=posts[-1], author=authors[i % len(authors)], body=f"comment {i}")
            for i in range(n_comments)
        ],
        batch_size=5000,
    )
    reasons = list(Reason)
    cases = []
    targets = (
        [("post", p.id, p.author_id) for p in posts[:n_posts]]
        + [("comment", c.id, c.author_id) for c in comments]
        + [("user", u.id, u.id) for u in authors[:n_users]]
    )
    rng.shuffle(targets)
    for target_type, target_id, subject_id in targets:
        reason = rng.choice(reasons)
        cases.append(
            Case(
                target_type=target_type,
                target_id=target_id,
                subject_id=subject_id,
                reason=reason,
                severity=SEVERITY[reason],
                escalated=rng.random() < 0.02,
                assigned_to=moderator if rng.random() < 0.05 else None,
                reports_count=rng.randint(1, 5),
            )
        )
    Case.objects.bulk_create(cases, batch_size=5000)
    return {"posts": n_posts, "comments": n_comments, "users": n_users}


def _naive_page(offset: int) -> int:
    """What a first version would do: OFFSET paging and each row's target read on its own."""
    from apps.moderation.models import Case
    from apps.posts.models import Comment, Post

    rows = list(
        Case.objects.filter(status="open").order_by("-severity", "id")[offset : offset + PAGE]
    )
    out = []
    for case in rows:
        item = {
            "id": case.id,
            "subject": case.subject.username if case.subject_id else None,
            "assigned_to": case.assigned_to.username if case.assigned_to_id else None,
        }
        if case.target_type == "post":
            post = Post.objects.get(id=case.target_id)
            item["caption"] = post.caption
            item["thumb"] = post.asset.variants.get("thumb")
        elif case.target_type == "comment":
            item["body"] = Comment.objects.get(id=case.target_id).body
        out.append(item)
    return len(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vivid")
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'vivid'}_bench_modq_{os.getpid()}"
    url = urlunsplit(parts._replace(path="/" + name))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    result: dict = {"open_cases": args.cases, "page_size": PAGE}
    try:
        env = {**os.environ, "DATABASE_URL": url, "DB_POOL_MAX_SIZE": "0"}
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, env=env
        )
        result["migrate_s"] = round(time.monotonic() - started, 1)
        os.environ.update({"DATABASE_URL": url, "DB_POOL_MAX_SIZE": "0"})
        import django

        django.setup()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from rest_framework.test import APIClient

        from apps.accounts import services as account_services
        from apps.accounts.models import AccessToken, hash_token
        from apps.moderation import queue
        from apps.moderation.models import Case
        from apps.moderation.roles import role_set

        moderator = account_services.user_create(
            username="mod", email="mod@example.com", password="correct horse battery 9"
        )
        role_set(user=moderator, role="moderator")
        started = time.monotonic()
        result["targets"] = _load(args.cases, moderator)
        result["load_s"] = round(time.monotonic() - started, 1)
        with connection.cursor() as c:
            started = time.monotonic()
            c.execute("VACUUM ANALYZE")
            result["vacuum_s"] = round(time.monotonic() - started, 1)
        assert Case.objects.filter(status="open").count() == args.cases

        raw = "vvd_" + secrets.token_urlsafe(32)
        AccessToken.objects.create(
            user=moderator,
            prefix=raw[:12],
            key_hash=hash_token(raw),
            scopes=["read", "moderate"],
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

        # A cursor half way down: walk there through the keyset (cheap) once.
        filters = queue.QueueFilters(limit=100)
        middle = queue.queue_cases(moderator=moderator, filters=filters)[
            args.cases // 2 : args.cases // 2 + 1
        ].get()
        deep_cursor = f"{middle.severity}-{middle.id}"

        scenarios = {
            "first_page": "",
            "deep_page": f"cursor={deep_cursor}",
            "reason_spam": "reason=spam",
            "kind_comment": "kind=comment",
            "assigned_me": "assigned=me",
            "escalated": "escalated=1",
        }
        naive_offsets = {"first_page": 0, "deep_page": args.cases // 2}

        def request(query: str) -> tuple[float, int]:
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(f"/api/v1/moderation/queue?limit={PAGE}&{query}")
                elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["items"]) == PAGE, query
            return elapsed, len(queries)

        def selector(query: str) -> int:
            from django.http import QueryDict

            parsed = queue.QueueFilters.from_query(QueryDict(f"limit={PAGE}&{query}"))
            with CaptureQueriesContext(connection) as queries:
                queue.queue_page(moderator=moderator, filters=parsed)
            return len(queries)

        for query in scenarios.values():  # warm caches and plans
            request(query)
            request(query)
        _naive_page(0)

        timings: dict[str, list[float]] = {k: [] for k in scenarios}
        request_queries: dict[str, int] = {}
        naive: dict[str, list[float]] = {k: [] for k in naive_offsets}
        naive_queries: dict[str, int] = {}
        for i in range(args.requests):
            for key, query in scenarios.items():
                elapsed, count = request(query)
                timings[key].append(elapsed)
                request_queries[key] = count
            if i % 4 == 0:  # the baseline is slow: a quarter as many, interleaved
                for key, offset in naive_offsets.items():
                    with CaptureQueriesContext(connection) as queries:
                        started = time.perf_counter()
                        _naive_page(offset)
                        naive[key].append((time.perf_counter() - started) * 1000)
                    naive_queries[key] = len(queries)

        # Where the request's time goes: the page's own queries, and the open count.
        parsed = queue.QueueFilters(limit=PAGE)
        selector_ms, count_ms = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            queue.queue_page(moderator=moderator, filters=parsed)
            selector_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            queue.queue_count()
            count_ms.append((time.perf_counter() - started) * 1000)
        result["first_page_parts_ms_p50"] = {
            "selector": round(statistics.median(selector_ms), 2),
            "open_count": round(statistics.median(count_ms), 2),
        }
        first_p50 = statistics.median(timings["first_page"])
        all_p50 = {k: round(statistics.median(v), 2) for k, v in timings.items()}
        worst_p50 = max(all_p50.values())
        selector_queries = {k: selector(q) for k, q in scenarios.items()}
        result.update(
            {
                "page_ms_p50": all_p50,
                "page_ms_p99": {k: round(_percentile(v, 0.99), 2) for k, v in timings.items()},
                "request_queries": request_queries,
                "selector_queries": selector_queries,
                "naive_ms_p50": {k: round(statistics.median(v), 2) for k, v in naive.items()},
                "naive_queries": naive_queries,
                "speedup_p50_vs_naive": {
                    k: round(statistics.median(naive[k]) / statistics.median(timings[k]), 1)
                    for k in naive
                },
                "deep_vs_first_page_p50": round(
                    statistics.median(timings["deep_page"]) / first_p50, 2
                ),
                "target_p50_ms": TARGET_P50_MS,
                "max_queries": MAX_QUERIES,
                "ok": worst_p50 < TARGET_P50_MS and max(selector_queries.values()) <= MAX_QUERIES,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    finally:
        from django.db import connections

        try:
            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

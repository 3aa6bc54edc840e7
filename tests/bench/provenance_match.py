"""Near-copy lookup at a million assets: the multi-index lookup of ``apps.provenance.matching``
against a linear scan, on PostgreSQL.

Run from the repository root with a PostgreSQL server (``DATABASE_URL`` names the server; the
benchmark creates its own scratch database ``<name>_bench_match_<pid>`` and drops it at the end)::

    .venv/bin/python tests/bench/provenance_match.py [--assets 1000000] [--queries 300]

What it does, all in one run:

- migrates the scratch database and loads ``--assets`` perceptual hashes (one frame each, so
  four index rows per asset) with COPY, indexes built after the load, then VACUUM ANALYZE;
- the hashes: 70 % uniform, 30 % in 3,000 families of near-identical pictures (a centre and
  copies 1-20 bits away: variations of one prompt, remixes), which crowd the bands the way
  real pictures do;
- queries: near copies (a stored hash with 0-10 random bits flipped, like the re-encodes, crops
  and recolours measured in ``apps.provenance.matching``) and unrelated hashes;
- lookups through ``matching.near`` (the code the endpoint runs) and the linear scan
  (``matching.linear_scan``, the whole table read and every distance computed) on a sample,
  interleaved; recall of the index against the scan for every sampled query.

Prints one JSON object; target: p50 of the lookup under 50 ms. Not collected by pytest.
"""

from __future__ import annotations

import argparse
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

TARGET_P50_MS = 50.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _hashes(n: int, rng):
    import numpy as np

    uniform = int(n * 0.7)
    families = 3000
    out = np.empty(n, dtype=np.uint64)
    out[:uniform] = rng.integers(0, 2**64, uniform, dtype=np.uint64)
    centres = rng.integers(0, 2**64, families, dtype=np.uint64)
    rest = n - uniform
    which = centres[rng.integers(0, families, rest)]
    flips = np.zeros(rest, dtype=np.uint64)
    bits = rng.integers(1, 21, rest)
    for k in range(20):  # flip up to 20 random bits, as many as ``bits`` says
        bit = rng.integers(0, 64, rest).astype(np.uint64)
        flips ^= np.where(k < bits, np.uint64(1) << bit, np.uint64(0))
    out[uniform:] = which ^ flips
    rng.shuffle(out)
    return out


def _load(cursor, hashes, first_asset_id: int) -> None:
    """COPY four band rows per hash into the key table (foreign keys off: no assets here)."""
    import numpy as np

    from apps.provenance.matching_models import PerceptualKey

    table = PerceptualKey._meta.db_table
    chunk = 250_000
    with cursor.copy(f"COPY {table} (asset_id, frame, band, value, hash) FROM STDIN") as copy:
        for start in range(0, len(hashes), chunk):
            h = hashes[start : start + chunk]
            ids = np.arange(first_asset_id + start, first_asset_id + start + len(h), dtype=np.int64)
            signed = h.view(np.int64)
            lines = []
            for band in range(4):
                values = ((h >> np.uint64(16 * (3 - band))) & np.uint64(0xFFFF)).astype(np.int64)
                lines.extend(
                    f"{a}\t0\t{band}\t{v}\t{s}\n"
                    for a, v, s in zip(ids.tolist(), values.tolist(), signed.tolist(), strict=True)
                )
            copy.write("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--linear", type=int, default=20, help="queries also run as a scan")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    import numpy as np
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vivid")
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'vivid'}_bench_match_{os.getpid()}"
    url = urlunsplit(parts._replace(path="/" + name))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    result: dict = {"assets": args.assets, "index_rows": args.assets * 4}
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

        from apps.provenance import matching
        from apps.provenance.matching_models import PerceptualKey

        table = PerceptualKey._meta.db_table
        rng = np.random.default_rng(20261207)
        hashes = _hashes(args.assets, rng)

        with connection.cursor() as c:
            # Indexes are built after the load (much faster than row by row).
            c.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                "AND indexname = 'perceptual_key_probe'",
                [table],
            )
            lookup_def = c.fetchone()[1]
            c.execute("DROP INDEX perceptual_key_probe")
            c.execute(f"ALTER TABLE {table} DROP CONSTRAINT perceptual_key_asset_frame_band")
            c.execute("SET session_replication_role = replica")  # no assets: skip the FK
            started = time.monotonic()
            _load(c.cursor, hashes, first_asset_id=1)
            result["copy_s"] = round(time.monotonic() - started, 1)
            c.execute("SET session_replication_role = DEFAULT")
            started = time.monotonic()
            c.execute(lookup_def)
            c.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT perceptual_key_asset_frame_band "
                "UNIQUE (asset_id, frame, band)"
            )
            result["index_s"] = round(time.monotonic() - started, 1)
            started = time.monotonic()
            c.execute(f"VACUUM ANALYZE {table}")
            result["vacuum_s"] = round(time.monotonic() - started, 1)
            c.execute(f"SELECT pg_total_relation_size('{table}'), pg_relation_size('{table}')")
            total, heap = c.fetchone()
            result["table_mib"] = round(heap / 2**20)
            result["with_indexes_mib"] = round(total / 2**20)

        # Queries: near copies of stored hashes (0-10 bits flipped) and unrelated hashes.
        near_n = args.queries * 2 // 3
        picked = rng.integers(0, args.assets, near_n)
        queries = []
        for idx in picked:
            h = int(hashes[idx])
            for bit in rng.choice(64, size=int(rng.integers(0, 11)), replace=False):
                h ^= 1 << int(bit)
            queries.append(("near", f"{h:016x}", int(idx) + 1))
        for h in rng.integers(0, 2**64, args.queries - near_n, dtype=np.uint64):
            queries.append(("unrelated", f"{int(h):016x}", None))
        order = rng.permutation(len(queries))
        queries = [queries[i] for i in order]

        for _, phash, _ in queries[:10]:  # warm the cache and the plan
            matching.near(phash)
        timings: dict[str, list[float]] = {"near": [], "unrelated": []}
        found = found_total = 0
        sizes: list[int] = []
        for kind, phash, source in queries:
            started = time.perf_counter()
            hits = matching.near(phash)
            timings[kind].append((time.perf_counter() - started) * 1000)
            sizes.append(len(hits))
            if source is not None:
                found_total += 1
                found += any(h.asset_id == source for h in hits)

        # The baseline and recall: the same queries as a full scan, interleaved with the index.
        linear_ms: list[float] = []
        index_ms: list[float] = []
        recall_hits = recall_total = 0
        for _, phash, _ in queries[: args.linear]:
            started = time.perf_counter()
            scanned = matching.linear_scan(phash, max_distance=matching.MAX_DISTANCE)
            linear_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            indexed = matching.near(phash, limit=10_000)
            index_ms.append((time.perf_counter() - started) * 1000)
            want = {(n.asset_id, n.distance) for n in scanned}
            got = {(n.asset_id, n.distance) for n in indexed}
            recall_total += len(want)
            recall_hits += len(want & got)

        with connection.cursor() as c:
            h = matching.parse(queries[0][1])
            branches = " UNION ALL ".join(
                f"SELECT asset_id, frame, hash FROM {table} WHERE band = {b} AND value = ANY(%s)"
                for b in range(matching.BANDS)
            )
            c.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM ({branches}) x",
                [matching.probes(v) for v in matching.bands_of(h)],
            )
            plan = c.fetchone()[0][0]

            def scans(node):
                if "Index" in node.get("Node Type", ""):
                    yield node
                for child in node.get("Plans", []):
                    yield from scans(child)

            index_nodes = list(scans(plan["Plan"]))
            candidates = sum(n["Actual Rows"] * n.get("Actual Loops", 1) for n in index_nodes)
            heap_fetches = sum(n.get("Heap Fetches", 0) for n in index_nodes)
            scan_types = sorted({n["Node Type"] for n in index_nodes})

        all_ms = timings["near"] + timings["unrelated"]
        p50 = statistics.median(all_ms)
        result.update(
            {
                "lookup_ms": {
                    "p50": round(p50, 2),
                    "p99": round(_percentile(all_ms, 0.99), 2),
                    "near_p50": round(statistics.median(timings["near"]), 2),
                    "near_p99": round(_percentile(timings["near"], 0.99), 2),
                    "unrelated_p50": round(statistics.median(timings["unrelated"]), 2),
                },
                "queries": len(queries),
                "near_copies_found": f"{found}/{found_total}",
                "matches_per_query_p50": statistics.median(sizes),
                "example_query": {
                    "candidates_read": candidates,
                    "heap_fetches": heap_fetches,
                    "scans": scan_types,
                    "execution_ms": round(plan["Execution Time"], 2),
                },
                "linear_scan_ms": {
                    "p50": round(statistics.median(linear_ms), 1),
                    "p99": round(_percentile(linear_ms, 0.99), 1),
                    "same_queries_index_p50": round(statistics.median(index_ms), 2),
                },
                "speedup_p50": round(statistics.median(linear_ms) / statistics.median(index_ms), 1),
                "recall_vs_scan": f"{recall_hits}/{recall_total}",
                "target_p50_ms": TARGET_P50_MS,
                "ok": p50 < TARGET_P50_MS,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
        connection.close()
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

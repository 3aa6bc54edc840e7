"""Content credentials benchmark: what the provenance record and the C2PA credential add to a
draft image job, and what signing adds to making an asset's variants.

Run from the repository root (``make bench BENCH=c2pa``)::

    .venv/bin/python tests/bench/c2pa.py [--runs 8]

Uses the configured database (``DATABASE_URL``; embedded SQLite otherwise) through a throwaway
test database, and media in a temporary folder. A job here is what the worker does for a draft
picture: the backend renders it, the original is stored and recorded (``asset_create``), then,
with credentials, the provenance record is written and the original signed (the same calls as
``apps.generation.services``), all in one transaction. Runs with and without alternate so that
both see the same machine load. Prints one JSON object with the medians, the ratios and the
target (record + credential at most 10 % of the job).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# This file's own folder comes first on the path and this file is named like the c2pa library:
# take the folder off, so ``import c2pa`` finds the library.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
_tmp = tempfile.mkdtemp(prefix="vivid-bench-c2pa-")
os.environ["MEDIA_ROOT"] = str(Path(_tmp) / "media")
os.environ.setdefault("C2PA_KEYS_DIR", str(Path(_tmp) / "keys" / "c2pa"))

TARGET_OVERHEAD = 0.10
PROMPT = "golden hour mountains above a calm lake, drifting clouds"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps(measure(args.runs), indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def measure(runs: int) -> dict:
    from django.db import transaction

    from apps.accounts.services import user_create
    from apps.generation.backends.registry import backend_get
    from apps.generation.models import GenerationJob
    from apps.generation.services import dimensions, request_for
    from apps.media.services import asset_create, asset_make_variants
    from apps.provenance import c2pa
    from apps.provenance.embedding import original_credential
    from apps.provenance.services import record_write

    owner = user_create(username="bench", email="bench@example.com", password="bench pass 9 x")
    backend = backend_get("procedural")
    width, height = dimensions("image", "1:1", "draft")

    def job_for(seed: int) -> GenerationJob:
        return GenerationJob.objects.create(
            owner=owner,
            kind="image",
            prompt=PROMPT,
            backend="procedural",
            seed=seed,
            status="running",
            params={"width": width, "height": height, "quality": "draft", "count": 1},
        )

    parts = {"render": [], "store": [], "record": [], "credential": []}
    added: list[int] = []  # bytes the credential adds to the original
    plain, signed = [], []

    def run(seed: int, with_credentials: bool):
        job = job_for(seed)
        start = time.perf_counter()
        files = backend.generate(request_for(job), lambda fraction: None)
        rendered = time.perf_counter()
        with transaction.atomic():
            for f in files:
                asset = asset_create(
                    owner=owner,
                    data=f.data,
                    mime=f.mime,
                    width=f.width,
                    height=f.height,
                    job=job,
                )
                stored = time.perf_counter()
                if with_credentials:
                    record = record_write(asset=asset, job=job)
                    recorded = time.perf_counter()
                    before = asset.bytes
                    assert original_credential(asset=asset, record=record, data=f.data)
                    added.append(asset.bytes - before)
                    credentialed = time.perf_counter()
        end = time.perf_counter()
        if with_credentials:
            parts["render"].append(rendered - start)
            parts["store"].append(stored - rendered)
            parts["record"].append(recorded - stored)
            parts["credential"].append(credentialed - recorded)
        return end - start, asset

    run(1, True)  # warm-up: the CA is made, the c2pa context and signer loaded, caches filled
    run(2, False)
    assets_plain, assets_signed = [], []
    for i in range(runs):
        t, a = run(100 + 2 * i, False)
        plain.append(t)
        assets_plain.append(a)
        t, a = run(101 + 2 * i, True)
        signed.append(t)
        assets_signed.append(a)

    # Variants: the same work with and without signing (an asset without a record is not
    # signed), each picture's variants made from scratch.
    variants_plain, variants_signed = [], []
    for a, b in zip(assets_plain, assets_signed, strict=True):
        start = time.perf_counter()
        asset_make_variants(asset=a)
        variants_plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        asset_make_variants(asset=b)
        variants_signed.append(time.perf_counter() - start)
    stored = Path(os.environ["MEDIA_ROOT"], assets_signed[0].original).read_bytes()
    check = c2pa.read(stored, "image/png")

    med = lambda xs: round(statistics.median(xs), 4)  # noqa: E731
    job_plain, job_signed = med(plain), med(signed)
    overhead = med(parts["record"]) + med(parts["credential"])
    return {
        "what": "draft image job (512x512 procedural render, stored) with and without its "
        "provenance record and signed C2PA credential",
        "runs": runs,
        "job_s": {"without": job_plain, "with": job_signed},
        "parts_s": {name: med(xs) for name, xs in parts.items()},
        "record_plus_credential_s": round(overhead, 4),
        "overhead_ratio": round(overhead / job_plain, 4),
        "job_ratio_with_vs_without": round(job_signed / job_plain, 4),
        "variants_s": {"without": med(variants_plain), "with": med(variants_signed)},
        "variants_ratio_with_vs_without": round(med(variants_signed) / med(variants_plain), 4),
        "credential_bytes_added": int(statistics.median(added)),
        "signed_file_valid": check["valid"],
        "target": {
            "overhead_ratio_at_most": TARGET_OVERHEAD,
            "met": overhead / job_plain <= TARGET_OVERHEAD,
        },
        "loadavg": os.getloadavg(),
    }


if __name__ == "__main__":
    main()

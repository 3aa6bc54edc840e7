"""What Vivid adds around a ComfyUI job, against the server's own time.

Run from the repository root (``make bench BENCH=comfyui``; needs PostgreSQL and Redis)::

    .venv/bin/python tests/bench/comfyui.py [--images 12] [--videos 4] [--step-s 0.05]

Jobs run through Vivid's job service (``services.job_run``, as the worker runs them) against the
stand-in ComfyUI server (``tests/generation/comfyui_standin.py``) in this process, so one clock
times both sides. For each job:

- ``server_s``: the server's own time, from the moment ``POST /prompt`` answered to the moment
  the stand-in sent ``execution_success`` (the baseline: what a GPU box would spend);
- ``before_s``: from ``job_run`` starting to the prompt being queued (claiming the job, choosing
  the server by its queue, filling the workflow, uploading a start picture);
- ``after_s``: from the server's result to the creator being told: the result downloaded, fitted
  to Vivid's size (clips re-encoded to H.264), stored with its provenance record and content
  credentials, the job marked succeeded, and the ``generation.updated`` event received on the
  creator's channel-layer group (a real subscriber on Redis).

Prints one JSON object with medians and p90 per scenario, ``overhead_ratio`` = (before + after)
/ server, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p and Path(p).resolve() != _HERE]

from tests.bench.databases import bench_database  # noqa: E402
from tests.bench.ideation import Listener  # noqa: E402

SCENARIOS = {
    "image_draft_512": {"kind": "image", "quality": "draft", "aspect_ratio": "1:1"},
    "image_final_1024": {"kind": "image", "quality": "final", "aspect_ratio": "1:1"},
    "video_draft_2s_720p": {
        "kind": "video",
        "quality": "draft",
        "aspect_ratio": "16:9",
        "duration_s": 2,
    },
}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p90_ms": round(_percentile(values, 0.9) * 1000, 1),
    }


def run(images: int, videos: int, step_s: float) -> dict[str, Any]:
    from django.conf import settings

    from apps.accounts.models import User
    from apps.generation import services
    from apps.generation.backends.comfyui import client as comfy_client
    from tests.generation.comfyui_standin import ComfyStandin

    user, _ = User.objects.get_or_create(username="comfybench", defaults={"email": "cb@x.test"})
    told = Listener(f"user.{user.pk}")
    # The stand-in stamps its results with the monotonic clock, the listener with the wall clock.
    wall = time.time() - time.monotonic()
    queued_at: dict[str, float] = {}
    original = comfy_client.ComfyServer.prompt_queue

    def timed_queue(self, graph, client_id):
        prompt_id = original(self, graph, client_id)
        queued_at[prompt_id] = time.time()
        return prompt_id

    comfy_client.ComfyServer.prompt_queue = timed_queue
    results: dict[str, Any] = {}
    with ComfyStandin(step_s=step_s) as server:
        settings.GENERATION_BACKENDS = {
            **settings.GENERATION_BACKENDS,
            "comfyui": {
                "BACKEND": "apps.generation.backends.comfyui.ComfyUIBackend",
                "OPTIONS": {
                    "urls": [server.url],
                    "workflows_dir": str(ROOT / "platform" / "comfyui"),
                },
            },
        }
        from apps.generation.backends import registry

        registry._backends.cache_clear()
        for name, fields in SCENARIOS.items():
            n = videos if fields["kind"] == "video" else images
            backend = "comfyui:wan22-ti2v" if fields["kind"] == "video" else "comfyui:sdxl-turbo"
            before, server_s, after, total = [], [], [], []
            for i in range(n + 1):  # the first run warms up and is not counted
                job = services.job_request(
                    owner=user, prompt=f"a lighthouse at dusk {i}", backend=backend, **fields
                )
                started = time.time()
                services.job_run(job_id=job.id)
                told_at = told.first(str(job.id), lambda j: j["status"] == "succeeded", 10)
                job.refresh_from_db()
                if job.status != "succeeded" or told_at is None:
                    raise RuntimeError(f"{name}: job ended {job.status}: {job.error}")
                prompt_id = server.prompts[-1]["prompt_id"]
                result_at = server.result_at[prompt_id] + wall
                if i == 0:
                    continue
                before.append(queued_at[prompt_id] - started)
                server_s.append(result_at - queued_at[prompt_id])
                after.append(told_at - result_at)
                total.append(told_at - started)
            overhead = statistics.median([b + a for b, a in zip(before, after, strict=True)])
            results[name] = {
                "jobs": n,
                "server": _summary(server_s),
                "before": _summary(before),
                "after": _summary(after),
                "total": _summary(total),
                "overhead_ratio": round(overhead / statistics.median(server_s), 2),
            }
    comfy_client.ComfyServer.prompt_queue = original
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument(
        "--step-s",
        type=float,
        default=0.05,
        help="seconds per sampler step on the stand-in (a fast GPU: SDXL Turbo at 512 px)",
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run_id = f"bc{os.getpid()}"
    os.environ.update(
        {
            "DATABASE_URL": bench_database(base, "comfyui"),
            "CHANNELS_PREFIX": f"vivid-{run_id}",
            "CACHE_PREFIX": f"vivid-{run_id}",
            "CELERY_PREFIX": f"vivid-{run_id}:",
            "RATE_LIMITS_ENABLED": "0",
            "GENERATION_DAILY_BUDGET": "1000000",
            "MEDIA_ROOT": tempfile.mkdtemp(prefix="vivid-bench-comfyui-"),
            "LEDGER_KEYS_DIR": str(Path(tempfile.gettempdir()) / "vivid-bench-comfyui-keys"),
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)
    import django

    django.setup()
    load_before = [round(x, 2) for x in os.getloadavg()]
    scenarios = run(args.images, args.videos, args.step_s)
    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_avg_before": load_before,
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()],
                },
                "stand_in_step_s": args.step_s,
                "scenarios": scenarios,
                "notes": (
                    "server = POST /prompt answered -> execution_success (the baseline); before = "
                    "job_run start -> prompt queued; after = result -> creator's event received; "
                    "overhead_ratio = median(before + after) / median(server)."
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

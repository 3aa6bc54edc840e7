"""Generation benchmark: how fast the procedural backend makes images and videos on this machine.

Run from the repository root (``make bench``)::

    .venv/bin/python tests/bench/generation.py [--stress]

Prints one JSON object: the timings, the machine, and each target with whether it was met.
``--stress`` adds a worst case (a rainy 20 s 1080p final: rain is the hardest thing to encode).
Not collected by pytest (``norecursedirs``); timings are wall-clock and suffer from anything else
running on the machine, so the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

PROMPT = "golden hour mountains above a calm lake, drifting clouds"
STRESS_PROMPT = "neon city at night in the rain"
SEED = 7
FPS = 24
DRAFT = {"width": 1280, "height": 720, "duration_s": 5}
FINAL = {"width": 1920, "height": 1080, "duration_s": 20}
TARGET_DRAFT_RATIO = 1.0  # rendering a draft takes at most as long as encoding its frames
TARGET_FINAL_WALL_S = 60.0  # a 20 s 1080p final, rendered and encoded


def _imports() -> dict[str, Any]:
    """The backend needs no Django; set it up only if importing says otherwise."""
    try:
        return _load()
    except Exception:  # AppRegistryNotReady, ImproperlyConfigured, ...
        import django

        django.setup()
        return _load()


def _load() -> dict[str, Any]:
    import av
    import numpy as np

    from apps.generation.backends.base import GenerationRequest
    from apps.generation.backends.procedural import ProceduralBackend, render_frames, render_scene
    from apps.media import video

    return {
        "av": av,
        "np": np,
        "GenerationRequest": GenerationRequest,
        "ProceduralBackend": ProceduralBackend,
        "render_frames": render_frames,
        "render_scene": render_scene,
        "video": video,
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _median(runs: list[float]) -> float:
    return round(statistics.median(runs), 3)


def _pyav_encode(m: dict[str, Any], frames: list, width: int, height: int, quality: str) -> int:
    """The baseline: PyAV alone encoding ready-made frames with the settings ``encode`` uses."""
    av, video = m["av"], m["video"]
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        container = av.open(tmp.name, mode="w")
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {
            "crf": str(video.CRF[quality]),
            "preset": video.PRESET[quality],
            "threads": str(video.ENCODER_THREADS),
        }
        stream.thread_type = "AUTO"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
        return Path(tmp.name).stat().st_size


def bench_image(m: dict[str, Any]) -> dict[str, Any]:
    render = m["render_scene"]
    render(PROMPT, "", SEED, 256, 256, "final")  # warm up imports and caches
    runs = [_timed(lambda: render(PROMPT, "", SEED, 1024, 1024, "final"))[0] for _ in range(3)]
    return {"size": "1024x1024", "quality": "final", "seconds": _median(runs), "runs": runs}


def bench_draft(m: dict[str, Any]) -> dict[str, Any]:
    w, h, d = DRAFT["width"], DRAFT["height"], DRAFT["duration_s"]
    n = d * FPS
    backend = m["ProceduralBackend"]("procedural")
    request = m["GenerationRequest"](
        kind="video", prompt=PROMPT, seed=SEED, width=w, height=h, quality="draft", duration_s=d
    )

    def render() -> None:
        for _frame in m["render_frames"](PROMPT, "", SEED, w, h, "draft", frame_count=n):
            pass  # frames are dropped as they come, as the encoder would

    frames = list(m["render_frames"](PROMPT, "", SEED, w, h, "draft", frame_count=n))
    render_runs, encode_runs, baseline_runs, wall_runs = [], [], [], []
    size = 0
    for _ in range(3):
        render_runs.append(_timed(render)[0])
        encode_runs.append(
            _timed(lambda: m["video"].encode(frames, width=w, height=h, quality="draft"))[0]
        )
        baseline_runs.append(_timed(lambda: _pyav_encode(m, frames, w, h, "draft"))[0])
        elapsed, files = _timed(lambda: backend.generate(request, lambda _f: None))
        wall_runs.append(elapsed)
        size = len(files[0].data)
    render_s, baseline_s = _median(render_runs), _median(baseline_runs)
    return {
        "size": f"{w}x{h}",
        "duration_s": d,
        "frames": n,
        "render_s": render_s,
        "encode_s": _median(encode_runs),
        "total_wall_s": _median(wall_runs),
        "baseline_encode_s": baseline_s,
        "render_over_baseline_encode": round(render_s / baseline_s, 3),
        "bytes": size,
        "runs": {
            "render_s": render_runs,
            "encode_s": encode_runs,
            "baseline_encode_s": baseline_runs,
            "total_wall_s": wall_runs,
        },
        "notes": (
            "render_s: render_frames alone (frames dropped); encode_s: apps.media.video.encode "
            "of the same frames held in memory; baseline_encode_s: a bare PyAV loop with the "
            "same settings; total_wall_s: ProceduralBackend.generate (render and encode "
            "overlapping). Medians of 3."
        ),
    }


def bench_final(m: dict[str, Any], prompt: str) -> dict[str, Any]:
    w, h, d = FINAL["width"], FINAL["height"], FINAL["duration_s"]
    backend = m["ProceduralBackend"]("procedural")
    request = m["GenerationRequest"](
        kind="video", prompt=prompt, seed=SEED, width=w, height=h, quality="final", duration_s=d
    )
    cpu = time.process_time()
    elapsed, files = _timed(lambda: backend.generate(request, lambda _f: None))
    size = len(files[0].data)
    return {
        "prompt": prompt,
        "size": f"{w}x{h}",
        "duration_s": d,
        "frames": d * FPS,
        "wall_s": round(elapsed, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "bytes": size,
        "mbit_per_s": round(size * 8 / d / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stress", action="store_true", help="also time a rainy 1080p final")
    args = parser.parse_args()
    m = _imports()
    load_before = os.getloadavg()
    started = time.perf_counter()
    image = bench_image(m)
    draft = bench_draft(m)
    final = bench_final(m, PROMPT)
    result: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": m["np"].__version__,
            "pyav": m["av"].__version__,
            "load_avg_before": [round(x, 2) for x in load_before],
        },
        "prompt": PROMPT,
        "image_final_1024": image,
        "video_draft_720p_5s": draft,
        "video_final_1080p_20s": final,
    }
    if args.stress:
        result["video_final_1080p_20s_stress"] = bench_final(m, STRESS_PROMPT)
    ratio = draft["render_over_baseline_encode"]
    result["targets"] = {
        "draft_render_over_baseline_encode": {
            "target": f"<= {TARGET_DRAFT_RATIO}",
            "value": ratio,
            "pass": ratio <= TARGET_DRAFT_RATIO,
        },
        "final_1080p_20s_wall_s": {
            "target": f"< {TARGET_FINAL_WALL_S}",
            "value": final["wall_s"],
            "pass": final["wall_s"] < TARGET_FINAL_WALL_S,
        },
    }
    if args.stress:
        stress = result["video_final_1080p_20s_stress"]["wall_s"]
        result["targets"]["final_1080p_20s_stress_wall_s"] = {
            "target": f"< {TARGET_FINAL_WALL_S}",
            "value": stress,
            "pass": stress < TARGET_FINAL_WALL_S,
        }
    result["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

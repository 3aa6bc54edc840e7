"""Media benchmark: preview sharpness and size, the cost of a variant set, video renditions.

Run from the repository root (needs the ``bench`` extra: ``pip install -e '.[dev,bench]'``)::

    .venv/bin/python tests/bench/media.py [--quick]

Prints one JSON object. Every figure is set against a baseline measured in the same run:
- ``sharpness``: each preview (WebP and AVIF, as served) against the original downscaled with
  Lanczos, as SSIM on luma (and on RGB), and its bytes against a plain JPEG q75 of that reference.
  Target: SSIM >= 0.97 at <= 60 % of the JPEG's bytes.
- ``variant_set``: Vivid's pipeline (Pillow) making thumb and preview in WebP and AVIF from a
  1024² and a 2048² PNG, against pyvips making the same sizes and formats with the same
  settings at their fixed quality (one encode each: Vivid's previews also search their quality,
  which is part of what is timed). Time (median of runs) and peak memory (each side in a fresh
  process). Target: at most 1.5x pyvips's time, else the pipeline should move to pyvips.
- ``video``: Vivid's 480p and 720p renditions of a 1080p clip against a plain PyAV transcode with
  the same encoder and scaler settings (and, for scale, with swscale's cheaper bilinear filter).
Not collected by pytest; wall-clock timings suffer from anything else running, so the load
average is reported alongside.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

PROMPTS = [
    "golden hour mountains above a calm lake, drifting clouds",
    "neon city at night in the rain",
    "forest in fog with a river, watercolor",
    "desert dunes under a starry sky",
]
SSIM_TARGET = 0.97
BYTES_TARGET = 0.60
TIME_TARGET = 1.5


def _setup() -> None:
    import django

    django.setup()


def _render(prompt: str, side: int, seed: int = 3):
    from PIL import Image

    from apps.generation.backends.procedural.render import render_scene

    return Image.fromarray(render_scene(prompt, seed=seed, width=side, height=side))


def _png(im) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


# --- sharpness ------------------------------------------------------------------------------


def bench_sharpness(sides: list[int], prompts: list[str]) -> dict:
    import numpy as np
    from PIL import Image
    from skimage.metrics import structural_similarity as ssim

    from apps.media import images
    from apps.media.services import IMAGE_VARIANTS

    def luma(im):
        return np.asarray(im.convert("RGB").convert("L"), dtype=np.float64)

    rows = []
    for side in sides:
        for prompt in prompts:
            original = _render(prompt, side)
            for name in ("preview", "preview_avif"):
                spec = IMAGE_VARIANTS[name]
                with images.resize_longest(original, spec.longest) as ours:
                    data = spec.encoding.save(ours)
                    size = ours.size
                reference = (
                    original.resize(size, Image.Resampling.LANCZOS)
                    if size != original.size
                    else original.copy()
                )
                jpeg = io.BytesIO()
                reference.save(jpeg, "JPEG", quality=75)
                with Image.open(io.BytesIO(data)) as decoded:
                    decoded = decoded.convert("RGB")
                    s_luma = ssim(luma(reference), luma(decoded), data_range=255)
                    s_rgb = ssim(
                        np.asarray(reference), np.asarray(decoded), channel_axis=2, data_range=255
                    )
                with Image.open(jpeg) as j:
                    s_jpeg = ssim(luma(reference), luma(j), data_range=255)
                rows.append(
                    {
                        "original": f"{side}x{side}",
                        "prompt": prompt,
                        "variant": name,
                        "size": f"{size[0]}x{size[1]}",
                        "ssim_luma": round(s_luma, 4),
                        "ssim_rgb": round(s_rgb, 4),
                        "bytes": len(data),
                        "jpeg_q75_bytes": len(jpeg.getvalue()),
                        "jpeg_q75_ssim_luma": round(s_jpeg, 4),
                        "bytes_vs_jpeg": round(len(data) / len(jpeg.getvalue()), 3),
                    }
                )
    summary = {}
    for name in ("preview", "preview_avif"):
        mine = [r for r in rows if r["variant"] == name]
        met = [
            r for r in mine if r["ssim_luma"] >= SSIM_TARGET and r["bytes_vs_jpeg"] <= BYTES_TARGET
        ]
        summary[name] = {
            "median_ssim_luma": round(statistics.median(r["ssim_luma"] for r in mine), 4),
            "min_ssim_luma": min(r["ssim_luma"] for r in mine),
            "median_bytes_vs_jpeg": round(statistics.median(r["bytes_vs_jpeg"] for r in mine), 3),
            "images_meeting_target": f"{len(met)}/{len(mine)}",
        }
    return {"rows": rows, "summary": summary}


# --- variant set ----------------------------------------------------------------------------


def _pillow_set(data: bytes) -> int:
    """What asset_make_variants does for an image, minus storage."""
    from PIL import Image

    from apps.media import images
    from apps.media.services import IMAGE_VARIANTS

    total, sized = 0, {}
    with Image.open(io.BytesIO(data)) as original:
        still = images.clean_copy(original)
    for spec in IMAGE_VARIANTS.values():
        if spec.longest not in sized:
            sized[spec.longest] = images.resize_longest(still, spec.longest)
        total += len(spec.encoding.save(sized[spec.longest]))
    return total


def _vips_set(data: bytes) -> int:
    """The same sizes and formats with pyvips: Lanczos, WebP Q80 effort 5, AVIF Q60 at libaom's
    matching speed (vips effort = 9 - libavif speed), 4:2:0; the fixed quality of each encoding
    (previews in Vivid choose theirs per picture)."""
    import pyvips

    from apps.media.services import IMAGE_VARIANTS

    image = pyvips.Image.new_from_buffer(data, "")
    total, sized = 0, {}
    for spec in IMAGE_VARIANTS.values():
        scale = min(1.0, spec.longest / max(image.width, image.height))
        if spec.longest not in sized:  # the same sharing as Vivid's pipeline
            small = image.resize(scale, kernel="lanczos3") if scale < 1 else image
            sized[spec.longest] = small.copy_memory()
        small = sized[spec.longest]
        options = dict(spec.encoding.options)
        if spec.encoding.format == "AVIF":
            out = small.heifsave_buffer(
                compression="av1",
                Q=options["quality"],
                effort=9 - options["speed"],
                subsample_mode="on",
                strip=True,
            )
        else:
            out = small.webpsave_buffer(Q=options["quality"], effort=options["method"], strip=True)
        total += len(out)
    return total


def _one(kind: str, path: str, runs: int) -> None:
    """Run in a fresh process: time ``runs`` variant sets and report the peak memory added."""
    _setup()
    data = Path(path).read_bytes()
    fn = _pillow_set if kind == "pillow" else _vips_set
    import pyvips  # noqa: F401  (loaded on both sides so its import is not counted as work)

    base = _rss_kib("VmRSS")
    _reset_peak()
    times, total = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        total = fn(data)
        times.append(time.perf_counter() - start)
    peak = _rss_kib("VmHWM")
    print(json.dumps({"times": times, "peak_mib": (peak - base) / 1024, "bytes": total}))


def _rss_kib(field: str) -> int:
    """Resident memory from /proc (Linux): VmRSS now, VmHWM the peak since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Start the peak afresh, so memory that imports used and gave back is not counted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def bench_variant_set(sides: list[int], runs: int, tmp: Path) -> dict:
    result = {}
    for side in sides:
        path = tmp / f"bench-{side}.png"
        path.write_bytes(_png(_render(PROMPTS[0], side)))
        sides_result = {}
        for kind in ("pillow", "pyvips"):
            out = subprocess.run(
                [sys.executable, __file__, "--one", kind, str(path), str(runs)],
                capture_output=True,
                text=True,
                check=True,
            )
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            sides_result[kind] = {
                "median_s": round(statistics.median(measured["times"]), 3),
                "peak_mib": round(measured["peak_mib"], 1),
                "bytes": measured["bytes"],
            }
        ratio = sides_result["pillow"]["median_s"] / sides_result["pyvips"]["median_s"]
        sides_result["time_vs_pyvips"] = round(ratio, 2)
        sides_result["target_met"] = ratio <= TIME_TARGET
        result[f"{side}x{side}"] = sides_result
    return result


# --- video ----------------------------------------------------------------------------------


def _plain_pyav(
    data: bytes, width: int, height: int, crf: int, preset: str, interpolation: str
) -> bytes:
    import av

    from apps.media.video import ENCODER_THREADS

    src = av.open(io.BytesIO(data))
    out_buf = io.BytesIO()
    out = av.open(out_buf, mode="w", format="mp4")
    in_stream = src.streams.video[0]
    stream = out.add_stream("libx264", rate=in_stream.average_rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = 1 / Fraction(in_stream.average_rate)
    stream.options = {"crf": str(crf), "preset": preset, "threads": str(ENCODER_THREADS)}
    for frame in src.decode(in_stream):
        scaled = frame.reformat(
            width=width, height=height, format="yuv420p", interpolation=interpolation
        )
        for packet in stream.encode(scaled):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    src.close()
    return out_buf.getvalue()


def bench_video(seconds: float) -> dict:
    import numpy as np

    from apps.generation.backends.procedural import render_frames
    from apps.media import video
    from apps.media.services import VIDEO_VARIANTS

    frames = list(
        render_frames(
            PROMPTS[0], seed=7, width=1920, height=1080, frame_count=round(seconds * video.FPS)
        )
    )
    data = video.encode((np.asarray(f) for f in frames), width=1920, height=1080, quality="draft")
    result = {"source": f"1920x1080, {seconds:g} s, {len(data)} bytes"}
    for name in ("video_480p", "video_720p"):
        spec = VIDEO_VARIANTS[name]
        width, height = video.fit(1920, 1080, short_side=spec.short_side)
        start = time.perf_counter()
        ours = video.transcode(data, width=width, height=height, crf=spec.crf, preset=spec.preset)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        plain = _plain_pyav(data, width, height, spec.crf, spec.preset, "LANCZOS")
        t_plain = time.perf_counter() - start
        start = time.perf_counter()
        _plain_pyav(data, width, height, spec.crf, spec.preset, "BILINEAR")
        t_bilinear = time.perf_counter() - start
        result[name] = {
            "size": f"{width}x{height}",
            "vivid_s": round(t_ours, 2),
            "plain_pyav_s": round(t_plain, 2),
            "time_vs_plain": round(t_ours / t_plain, 2),
            # The same transcode with swscale's cheaper default filter, for scale.
            "plain_pyav_bilinear_s": round(t_bilinear, 2),
            "vivid_bytes": len(ours),
            "plain_bytes": len(plain),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer images and runs")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "PATH", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one[0], args.one[1], int(args.one[2]))
        return
    try:
        import pyvips  # noqa: F401
        import skimage  # noqa: F401
    except (ImportError, OSError) as e:
        print(json.dumps({"skipped": f"{e}: install the bench extra (pip install -e '.[bench]')"}))
        return
    _setup()
    import tempfile

    prompts = PROMPTS[:2] if args.quick else PROMPTS
    with tempfile.TemporaryDirectory() as tmp:
        report = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
            "sharpness": bench_sharpness([1024, 2048], prompts),
            "variant_set": bench_variant_set([1024, 2048], 2 if args.quick else 3, Path(tmp)),
            "video": bench_video(2.0 if args.quick else 5.0),
        }
    report["machine"]["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

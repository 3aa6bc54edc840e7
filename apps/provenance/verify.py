"""Verify any copy: what a file found anywhere says about itself and which Vivid item it is.

Three answers for one upload: its content credentials (``apps.provenance.c2pa.read``), the assets
whose original has exactly its bytes (sha256), and those whose frames are perceptually near it
(``apps.provenance.matching``), each with the Hamming distance. Only what the viewer may see
is named (``Asset.objects.visible_to``), and the best match's record goes out as the viewer may
read it (a hidden prompt stays hidden).

The endpoint is open to anyone, so the file is hostile until proven otherwise:
- it goes through ``apps.media.uploads`` (the one entry point for untrusted files: type from
  the bytes, size and pixel caps, trailing data refused), and is never stored;
- every decode (that entry point, the perceptual hashes, the C2PA parser) runs in a child
  process forked for this one file from a preloaded fork server, with CPU-time and address-space
  limits and a wall-clock deadline after which it is killed: a decompression or scan bomb costs
  its own process, never a thread of the web server, and a crash is a 400, not a broken pool;
- at most ``VERIFY_MAX_CONCURRENT`` checks run at once per web process, and each client address
  gets ``VERIFY_RATE_LIMIT`` checks per ``VERIFY_RATE_WINDOW_S`` (a Redis counter, shared by every
  web process): 429 ``rate_limited`` with ``Retry-After`` beyond.
``examine`` is the one call site of the isolated decode.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import redis
from django.conf import settings

from apps.core.exceptions import ApplicationError
from apps.media.models import Asset
from apps.provenance import matching

# --- limits ----------------------------------------------------------------------------------


def _setting(name: str, default):
    return getattr(settings, name, default)


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def _rate_key(client: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "vivid")
    return f"{prefix}:verify:rate:{client}"


def rate_limit_take(*, client: str) -> None:
    """Count one check for ``client`` (an address) in the current window, or raise 429.

    A fixed window in Redis (INCR, and EXPIRE on the first of the window): exact across every
    web process, one round trip."""
    limit = int(_setting("VERIFY_RATE_LIMIT", 20))
    window = int(_setting("VERIFY_RATE_WINDOW_S", 60))
    key = _rate_key(client)
    pipe = _redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    pipe.ttl(key)
    count, _, ttl = pipe.execute()
    if count > limit:
        wait = ttl if ttl and ttl > 0 else window
        raise ApplicationError(
            "rate_limited",
            f"Too many files checked from your address; try again in {wait} s.",
            retry_after=wait,
        )


def client_address(request) -> str:
    """The address a request came from. Behind a proxy, ``VERIFY_TRUSTED_PROXY_HEADER`` (e.g.
    ``HTTP_X_REAL_IP``) names the header the proxy sets; clients cannot forge it otherwise."""
    header = _setting("VERIFY_TRUSTED_PROXY_HEADER", "")
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


# --- the isolated examination -------------------------------------------------------------


@dataclass(frozen=True)
class Examination:
    """What the child process found in a file."""

    mime: str  # what the bytes are (image/png for every cleaned picture, video/mp4 for clips)
    source_mime: str  # what the upload was
    hashes: list[str]  # perceptual hashes: one for a picture; poster and keyframes for a clip
    c2pa: dict[str, Any] = field(default_factory=dict)


_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


def _slot() -> threading.BoundedSemaphore:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(int(_setting("VERIFY_MAX_CONCURRENT", 2)))
        return _slots


@cache
def _context() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["apps.provenance.verify_worker"])
    return ctx


def examine(data: bytes) -> Examination:
    """Check and fingerprint an untrusted file in a child process with CPU, memory and time
    limits; raise ApplicationError (400/413/415, or 429 when every slot stays busy).

    The only call site of the isolated decode: when ``apps.media.uploads`` offers its own
    process-isolated entry point, this is the one function to switch.
    """
    wait_s = float(_setting("VERIFY_QUEUE_WAIT_S", 5.0))
    slot = _slot()
    if not slot.acquire(timeout=wait_s):
        raise ApplicationError(
            "rate_limited",
            "Too many files are being checked right now; try again in a few seconds.",
            retry_after=max(1, round(wait_s)),
        )
    try:
        return _examine_in_child(data)
    finally:
        slot.release()


def _examine_in_child(data: bytes) -> Examination:
    deadline_s = float(_setting("VERIFY_TIME_LIMIT_S", 10.0))
    limits = {
        "cpu_s": int(_setting("VERIFY_CPU_LIMIT_S", 5)),
        "memory_mb": int(_setting("VERIFY_MEMORY_LIMIT_MB", 768)),
        "max_bytes": int(_setting("VERIFY_MAX_BYTES", settings.MEDIA_UPLOAD_MAX_BYTES)),
        "max_pixels": int(_setting("VERIFY_MAX_PIXELS", settings.MEDIA_UPLOAD_MAX_PIXELS)),
        "time_limit_s": deadline_s,
    }
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child_main, args=(send, data, limits), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(deadline_s):
            raise _refused("invalid", "The file took too long to check.")
        try:
            outcome = receive.recv()
        except (EOFError, OSError) as e:  # killed by a limit, or crashed in a decoder
            raise _refused("invalid", "The file cannot be read.") from e
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
    if outcome[0] == "refused":
        _, code, message = outcome
        raise _refused(code, message)
    _, mime, source_mime, hashes, c2pa = outcome
    return Examination(mime, source_mime, hashes, c2pa)


def _refused(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, fields={"file": [message]})


def _child_main(send, data: bytes, limits: dict[str, Any]) -> None:
    """Runs in the child: limit this process, then clean, hash and read the credentials."""
    try:
        _limit_self(limits["cpu_s"], limits["memory_mb"])
        send.send(("ok", *_examine_here(data, limits)))
    except ApplicationError as e:
        send.send(("refused", e.code, e.message))
    except MemoryError:
        send.send(("refused", "payload_too_large", "The file needs too much memory to check."))
    except Exception:  # any decoder failure on a hostile file is that file's fault
        send.send(("refused", "invalid", "The file cannot be read."))
    finally:
        send.close()


def _limit_self(cpu_s: int, memory_mb: int) -> None:
    # CPU seconds: SIGXCPU (which kills) at the soft limit. Address space: what this process
    # maps now (the preloaded libraries) plus the budget, so a bomb gets MemoryError.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    budget = mapped + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    os.environ["OMP_NUM_THREADS"] = "1"


def _examine_here(data: bytes, limits: dict[str, Any]) -> tuple:
    import django
    from django.apps import apps as registry

    if not registry.ready:
        django.setup()
    from apps.media import uploads

    clean = uploads.upload_clean(
        data,
        max_bytes=limits["max_bytes"],
        max_pixels=limits["max_pixels"],
        time_limit_s=limits["time_limit_s"],
    )
    if clean.mime == "video/mp4":
        from PIL import Image

        from apps.media import images, video

        poster_t = min(1.0, (clean.duration_s or 0) / 2)  # as apps.media.services' poster
        with Image.fromarray(video.frame_at(clean.data, poster_t)) as still:
            hashes = [images.perceptual_hash(still)]
        hashes += matching.keyframe_hashes(clean.data, clean.duration_s)
    else:
        hashes = [matching.hash_picture(clean.data)]
    return clean.mime, clean.source_mime, hashes, _credentials(data, clean.source_mime)


def _credentials(data: bytes, mime: str) -> dict[str, Any]:
    """The C2PA answer for the bytes as uploaded (the cleaned copy carries no manifest)."""
    empty = {"present": False, "valid": False, "claims": {}}
    try:
        from apps.provenance import c2pa
    except ImportError:
        return empty
    try:
        found = c2pa.read(data, mime)
    except Exception:  # any decoder failure on a hostile file is that file's fault
        return {**empty, "present": True}
    return {
        "present": bool(found.get("present")),
        "valid": bool(found.get("valid")),
        "claims": found.get("claims") or {},
        "record_id": found.get("record_id"),
        "validation_errors": found.get("validation_errors") or [],
    }


# --- the answer ------------------------------------------------------------------------------

# Matches listed per answer, at most (nearest first).
MAX_MATCHES = 20


def verify_file(*, viewer, data: bytes) -> dict[str, Any]:
    """The verification of an uploaded file for ``viewer`` (anyone, signed in or not):
    ``{c2pa, matches, record?}`` as ``POST /api/v1/provenance/verify`` answers it.

    The caller has counted the request against its address's rate limit."""
    started = time.monotonic()
    examination = examine(data)
    sha = hashlib.sha256(data).hexdigest()
    # asset id -> (method, distance); an exact copy beats any perceptual distance.
    found: dict[int, tuple[str, int]] = {
        asset_id: ("sha256", 0)
        for asset_id in Asset.objects.filter(sha256=sha).values_list("id", flat=True)
    }
    for phash in examination.hashes:
        for near in matching.near(phash):
            best = found.get(near.asset_id)
            if best is None or (best[0] == "perceptual" and near.distance < best[1]):
                found[near.asset_id] = ("perceptual", near.distance)
    matches = _visible_matches(viewer, found)
    answer: dict[str, Any] = {"c2pa": examination.c2pa, "matches": matches}
    record = _best_record(viewer, matches, examination.c2pa)
    if record is not None:
        answer["record"] = record
    answer["file"] = {"mime": examination.source_mime, "sha256": sha, "phash": examination.hashes}
    answer["took_ms"] = round((time.monotonic() - started) * 1000)
    return answer


def _visible_matches(viewer, found: dict[int, tuple[str, int]]) -> list[dict[str, Any]]:
    from apps.posts.models import Post
    from apps.provenance.selectors import record_ids_for_assets

    if not found:
        return []
    visible = dict(Asset.objects.visible_to(viewer).filter(id__in=found).values_list("id", "kind"))
    records = record_ids_for_assets(asset_ids=visible)
    posts: dict[int, int] = {}
    for post_id, asset_id in (
        Post.objects.visible_to(viewer)
        .filter(asset_id__in=visible)
        .order_by("id")
        .values_list("id", "asset_id")
    ):
        posts.setdefault(asset_id, post_id)  # the first post that showed it
    ranked = sorted(
        visible, key=lambda a: (found[a][0] != "sha256", found[a][1], a not in posts, a)
    )
    return [
        {
            "provenance_id": str(records[a]) if a in records else None,
            "method": found[a][0],
            "distance": found[a][1],
            "asset_id": str(a),
            "kind": visible[a],
            "post_id": str(posts[a]) if a in posts else None,
            "post_url": f"/p/{posts[a]}" if a in posts else None,
        }
        for a in ranked[:MAX_MATCHES]
    ]


def _best_record(viewer, matches: list[dict[str, Any]], c2pa: dict[str, Any]) -> dict | None:
    """The provenance record of the best match that has one, as ``viewer`` may read it; else
    the record a valid credential names, when the viewer may see it."""
    from apps.provenance import selectors

    candidates = [m["provenance_id"] for m in matches if m["provenance_id"]]
    if c2pa.get("valid") and c2pa.get("record_id"):
        candidates.append(str(c2pa["record_id"]))
    for record_id in candidates:
        try:
            record = selectors.record_get_visible(record_id=int(record_id), viewer=viewer)
        except (ApplicationError, ValueError):
            continue
        return record_view(record=record, viewer=viewer)
    return None


def record_view(*, record, viewer) -> dict[str, Any]:
    """A record as ``GET /api/v1/provenance/{id}`` shows it to ``viewer`` (hidden prompts null)."""
    from apps.provenance.selectors import prompt_visible
    from apps.provenance.serializers import record_data

    hidden = not prompt_visible(record=record, viewer=viewer)
    return record_data(record, viewer=viewer, prompt_hidden=hidden)


def read_upload(request) -> bytes:
    """The ``file`` part of a multipart request, refusing one over the cap from its declared
    length before the body is read."""
    cap = int(_setting("VERIFY_MAX_BYTES", settings.MEDIA_UPLOAD_MAX_BYTES))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap + 64 * 1024:  # room for the multipart envelope
        raise _refused("payload_too_large", f"The file is larger than {cap // 1024} KiB.")
    upload = request.FILES.get("file")
    if upload is None:
        raise _refused("invalid", "Send the file to check as the multipart field 'file'.")
    if upload.size > cap:
        raise _refused("payload_too_large", f"The file is larger than {cap // 1024} KiB.")
    buffer = io.BytesIO()
    for chunk in upload.chunks():
        buffer.write(chunk)
    upload.close()  # a spooled temporary file goes now: nothing of it is kept
    return buffer.getvalue()

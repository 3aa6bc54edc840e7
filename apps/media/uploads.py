"""The one entry point for untrusted files: avatars, the public /verify upload, and later others.

Public interface (keep it stable; other features build on it)::

    facts = uploads.inspect_untrusted(
        data_or_file,            # bytes, or a file object (an UploadedFile): read up to the cap
        purpose="verify",        # a key of PURPOSES: what may come in and how big it is kept
        max_bytes=None,          # a lower cap than the purpose's, if wanted
        uploader=uploads.Uploader.of(request),  # whose upload: per-person/address limits
    ) -> CleanFacts

It stores nothing. ``CleanFacts`` holds the clean bytes to store (a lossless PNG of the first
frame's pixels, upright, at most the purpose's ``max_side``; or an MP4 re-muxed without metadata),
their mime type, size, perceptual hash (``phash``, 16 hex digits, as ``Asset.phash``), dominant
colour, duration and frame rate for clips, and the sha256 and type of the bytes as they came
(``source_sha256``: compare with ``Asset.sha256`` for an exact match). A refusal raises
``ApplicationError`` in the API's error shape: 413 ``payload_too_large`` (bytes, pixels, or the
memory decoding would take), 415 ``unsupported_media_type`` (not an allowed type whatever its
name or Content-Type says, or a polyglot: bytes after the format's end), 400 ``invalid``
(damaged, truncated, a JPEG scan bomb, past the CPU or time limit, any decoder failure), 429
``rate_limited`` with ``Retry-After`` (too many of this person's or address's uploads at once).

How it is safe:

- What a file is comes from its bytes, never from its name or the client's Content-Type.
- Nothing is decoded in the web process. The bytes go to a child process of
  ``apps.media.sandbox`` (forked from a forkserver, ``MEDIA_UPLOAD_WORKERS`` per web process),
  which runs ``apps.media.cleaning`` under a CPU-time limit (``MEDIA_UPLOAD_CPU_S`` per file,
  2 s) and an address-space limit (``MEDIA_UPLOAD_MEMORY_MB`` above its start); a child that
  hits a limit is killed and replaced, and a wall-clock limit (``MEDIA_UPLOAD_TIME_LIMIT_S``)
  covers the rest.
- At most ``MEDIA_UPLOAD_PER_PERSON`` uploads of one person and ``MEDIA_UPLOAD_PER_ADDRESS`` of
  one address are processed at once, counted in Redis across web processes (slots expire, so a
  crashed process cannot hold one), so one person's bombs cannot take every child.
- Bodies over the cap never reach this far: ``apps.media.bodylimit`` refuses them from their
  Content-Length (or cuts them off while streaming) before Django reads them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cache
from typing import IO

import redis
from django.conf import settings
from django.utils.translation import gettext_lazy

from apps.core.exceptions import ApplicationError
from apps.media import sandbox
from apps.media.cleaning import IMAGE_FORMATS, MP4_BRANDS, Refused, sniff  # noqa: F401

log = logging.getLogger(__name__)

# The most memory a picture's decoding may take (its pixels at full size, or a progressive
# JPEG's coefficients): a 4000x4000 RGB PNG, a 6000x6000 grey one, a 20-megapixel progressive
# JPEG (a baseline JPEG of 40 megapixels is decoded at a reduced scale).
DECODE_BUDGET = 64 * 1024 * 1024
IMAGES = ("image/png", "image/jpeg", "image/webp", "image/gif")
ALLOWED = (*IMAGES, "video/mp4")


@dataclass(frozen=True)
class Purpose:
    """What an upload for one use may be, and how big its clean copy is kept."""

    allowed: tuple[str, ...]
    max_bytes: int  # the file itself (the request body may be a little larger: multipart)
    max_side: int  # pictures are reduced to fit; clips larger than this are refused
    max_duration_s: float = 60.0


PURPOSES: dict[str, Purpose] = {
    # A profile picture is shown at most a few hundred pixels wide.
    "avatar": Purpose(allowed=IMAGES, max_bytes=5 * 1024 * 1024, max_side=1024),
    # Checking a file against Vivid's records: enough pixels for the perceptual hash and a
    # preview of what was recognised.
    "verify": Purpose(allowed=ALLOWED, max_bytes=20 * 1024 * 1024, max_side=2048),
    # Anything else taken from users (imports): full size up to 4096 px.
    "upload": Purpose(allowed=ALLOWED, max_bytes=20 * 1024 * 1024, max_side=4096),
}


@dataclass(frozen=True)
class CleanFacts:
    """An untrusted file made safe: the bytes to store and what they are. Nothing is stored."""

    data: bytes
    mime: str  # image/png for every picture, video/mp4 for clips
    width: int
    height: int
    phash: str = ""
    placeholder: str = ""
    duration_s: float | None = None
    fps: float | None = None
    source_mime: str = ""  # what the upload was, from its bytes
    source_sha256: str = ""  # of the bytes as they came
    source_bytes: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


CleanFile = CleanFacts  # the name it had before other features used it


@dataclass(frozen=True)
class Uploader:
    """Who sends an upload, for the at-once limits: a person (when logged in) and an address."""

    user_id: int | None = None
    address: str | None = None

    @classmethod
    def of(cls, request) -> Uploader:
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        # REMOTE_ADDR is the client's: uvicorn --proxy-headers sets it from the proxy's
        # X-Forwarded-For when the proxy is trusted (FORWARDED_ALLOW_IPS).
        return cls(user_id=user_id, address=request.META.get("REMOTE_ADDR") or None)


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, fields={"file": [message]})


def _read(data: bytes | IO[bytes], max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        size = getattr(data, "size", None)
        if size is not None and size > max_bytes:  # refused before it is read into memory
            raise _too_large(max_bytes)
        raw = data.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return raw


def _too_large(max_bytes: int) -> ApplicationError:
    return _refuse("payload_too_large", f"The file is larger than {max_bytes // 1024} KiB.")


def inspect_untrusted(
    data: bytes | IO[bytes],
    *,
    purpose: str,
    max_bytes: int | None = None,
    uploader: Uploader | None = None,
) -> CleanFacts:
    """Check an untrusted file and return its clean copy and facts, storing nothing.

    See the module's docstring for what is refused and how. Raises ``ApplicationError``."""
    rule = PURPOSES[purpose]
    last_cost[str(threading.get_ident())] = None
    cap = min(max_bytes or rule.max_bytes, rule.max_bytes, settings.MEDIA_UPLOAD_MAX_BYTES)
    raw = _read(data, cap)
    if not raw:
        raise _refuse("invalid", "The file is empty.")
    mime = sniff(raw[:64])
    if mime is None or mime not in rule.allowed:
        names = ", ".join(m.split("/")[1].upper() for m in rule.allowed)
        raise _refuse("unsupported_media_type", f"Upload one of: {names}.")
    with _slot(uploader):
        if mime == "video/mp4":
            result = _run(
                "apps.media.cleaning:clean_video",
                raw,
                max_side=min(rule.max_side, 4096),
                max_duration_s=rule.max_duration_s,
            )
        else:
            result = _run(
                "apps.media.cleaning:clean_image",
                raw,
                mime=mime,
                max_pixels=settings.MEDIA_UPLOAD_MAX_PIXELS,
                max_side=rule.max_side,
                max_decode_bytes=DECODE_BUDGET,
            )
    return CleanFacts(
        **result,
        source_mime=mime,
        source_sha256=hashlib.sha256(raw).hexdigest(),
        source_bytes=len(raw),
    )


def upload_clean(
    data: bytes,
    *,
    allowed: tuple[str, ...] = ALLOWED,
    max_bytes: int | None = None,
    purpose: str = "upload",
    uploader: Uploader | None = None,
) -> CleanFacts:
    """``inspect_untrusted`` narrowed to some types (kept for existing callers)."""
    mime = sniff(bytes(data[:64])) if data else None
    if data and (mime is None or mime not in allowed):
        names = ", ".join(m.split("/")[1].upper() for m in allowed)
        raise _refuse("unsupported_media_type", f"Upload one of: {names}.")
    return inspect_untrusted(data, purpose=purpose, max_bytes=max_bytes, uploader=uploader)


# --- running in the sandbox ----------------------------------------------------------------

_pool: sandbox.Pool | None = None
# What the last file cost, per thread (tests and logs read it).
last_cost: dict[str, sandbox.Cost | None] = {}


_pool_lock = threading.Lock()


def pool() -> sandbox.Pool:
    """The web process's pool of decoder children (made on first use). Other features run
    their own untrusted parsing in it too: ``pool().run("module:function", data, cpu_s=...,
    wall_s=..., wait_s=...)`` (see ``apps.media.sandbox.Pool.run``)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = sandbox.Pool(
                size=settings.MEDIA_UPLOAD_WORKERS, memory_mb=settings.MEDIA_UPLOAD_MEMORY_MB
            )
        return _pool


def _run(target: str, raw: bytes, **kwargs) -> dict:
    key = str(threading.get_ident())
    last_cost[key] = None
    wall = settings.MEDIA_UPLOAD_TIME_LIMIT_S
    try:
        result, cost = pool().run(
            target,
            raw,
            cpu_s=settings.MEDIA_UPLOAD_CPU_S,
            wall_s=wall,
            wait_s=wall,
            **kwargs,
        )
    except sandbox.Busy as e:
        raise ApplicationError(
            "rate_limited",
            gettext_lazy("Too many uploads are being processed. Try again shortly."),
            retry_after=2,
        ) from e  # fmt: skip
    except sandbox.LimitExceeded as e:
        last_cost[key] = e.cost
        log.warning("untrusted file stopped by the %s limit", e.what)
        if e.what == "memory":
            raise _refuse("payload_too_large", "The file needs too much memory to process.") from e
        raise _refuse("invalid", "The file took too long to process.") from e
    except sandbox.TaskError as e:
        last_cost[key] = e.cost
        if e.module == Refused.__module__ and e.name == Refused.__qualname__:
            raise _refuse(*e.error_args) from e
        log.info("untrusted file refused: %s.%s", e.module, e.name)
        raise _refuse("invalid", "The file cannot be read.") from e
    last_cost[key] = cost
    return result


# --- at most a few at once per person and per address ----------------------------------------

_ACQUIRE = """
local now, ttl, token = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ttl)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, token)
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
end
return 0
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


@cache
def _acquire_script():
    return _redis().register_script(_ACQUIRE)


class _slot:
    """A processing slot for the uploader, held while the file is processed."""

    def __init__(self, uploader: Uploader | None) -> None:
        prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', 'vivid')}:uploads"
        self.keys: list[str] = []
        self.limits: list[int] = []
        self.whose: list[str] = []
        if uploader is not None and uploader.user_id is not None:
            self.keys.append(f"{prefix}:user:{uploader.user_id}")
            self.limits.append(settings.MEDIA_UPLOAD_PER_PERSON)
            self.whose.append("your")
        if uploader is not None and uploader.address:
            self.keys.append(f"{prefix}:addr:{uploader.address}")
            self.limits.append(settings.MEDIA_UPLOAD_PER_ADDRESS)
            self.whose.append("this address's")
        self.token = uuid.uuid4().hex

    def __enter__(self) -> None:
        if not self.keys:
            return
        ttl = settings.MEDIA_UPLOAD_TIME_LIMIT_S * 2 + 5
        full = _acquire_script()(keys=self.keys, args=[time.time(), ttl, self.token, *self.limits])
        if full:
            raise ApplicationError(
                "rate_limited",
                f"Too many of {self.whose[full - 1]} uploads are being processed at once."
                " Try again shortly.",
                retry_after=max(1, math.ceil(settings.MEDIA_UPLOAD_CPU_S)),
            )

    def __exit__(self, *exc) -> None:
        if not self.keys:
            return
        try:
            pipe = _redis().pipeline()
            for key in self.keys:
                pipe.zrem(key, self.token)
            pipe.execute()
        except redis.RedisError:  # the slot expires by itself
            log.warning("could not release an upload slot", exc_info=True)

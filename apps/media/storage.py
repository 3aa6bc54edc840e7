"""Reading stored media through Django's ``STORAGES["default"]``, whichever backend it is.

The local filesystem (the embedded default) and any S3-compatible store (django-storages) look the
same to the rest of Vivid. Two things need the backend's own strengths: byte ranges (browsers
scrub videos with ``Range`` requests), read from S3 as ranged GETs rather than by downloading the
whole object, and presigned URLs, when the operator lets permitted requests go straight to S3.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.core.files.storage import default_storage, storages

CHUNK = 64 * 1024


def _s3_object(path: str):
    """The boto3 Object behind ``path`` when the default storage is S3, else None."""
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    storage = storages["default"]
    if not isinstance(storage, S3Storage):
        return None
    return storage.bucket.Object(storage._normalize_name(clean_name(path)))


def is_remote() -> bool:
    """True when media live in an S3-compatible store."""
    return _s3_object("probe") is not None


def size(path: str) -> int:
    return default_storage.size(path)


def iter_bytes(path: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` from ``start``, ``length`` of them (all when None), in chunks."""
    obj = _s3_object(path)
    if obj is not None:
        args = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            args["Range"] = f"bytes={start}-{end}"
        body = obj.get(**args)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
        return
    with default_storage.open(path, "rb") as f:
        if start:
            f.seek(start)
        left = length
        while left is None or left > 0:
            chunk = f.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def presigned_url(
    path: str, *, expire_s: int, content_type: str, disposition: str = ""
) -> str | None:
    """A URL of the object on the store itself, valid ``expire_s`` seconds (S3 only); the store
    answers with ``content_type`` and, when given, the ``disposition`` Vivid itself would send."""
    if not is_remote():
        return None
    parameters = {"ResponseContentType": content_type, "ResponseCacheControl": "private"}
    if disposition:
        parameters["ResponseContentDisposition"] = disposition
    return default_storage.url(path, expire=expire_s, parameters=parameters)

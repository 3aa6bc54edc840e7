"""Writes for media: storing originals by content hash and making variants."""

from __future__ import annotations

import hashlib
import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from apps.accounts.models import User
from apps.media.models import Asset

# name → longest side in pixels; WebP at a quality chosen for sharpness over size.
IMAGE_VARIANTS = {"thumb": 320, "preview": 1080}
VIDEO_VARIANTS = {"thumb": 320, "poster": 1080}
WEBP_QUALITY = 88
_EXT = {"image/png": "png", "video/mp4": "mp4", "image/webp": "webp"}


def content_path(sha256: str, ext: str, folder: str = "originals") -> str:
    return f"{folder}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def _store(path: str, data: bytes) -> None:
    """Write once: identical content has the same path, so an existing file is already right."""
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(data))


def asset_create(
    *,
    owner: User,
    data: bytes,
    mime: str,
    width: int,
    height: int,
    duration_s: float | None = None,
    job=None,
) -> Asset:
    """Store an original exactly as given and record it; variants follow on the media queue."""
    sha = hashlib.sha256(data).hexdigest()
    path = content_path(sha, _EXT[mime])
    _store(path, data)
    kind = Asset.Kind.VIDEO if mime.startswith("video/") else Asset.Kind.IMAGE
    placeholder = _dominant_colour(data) if kind == Asset.Kind.IMAGE else ""
    asset = Asset.objects.create(
        owner=owner,
        job=job,
        kind=kind,
        mime=mime,
        sha256=sha,
        original=path,
        width=width,
        height=height,
        duration_s=duration_s,
        bytes=len(data),
        placeholder=placeholder,
    )
    from apps.media.tasks import make_variants

    transaction.on_commit(lambda: make_variants.delay(asset.id))
    return asset


def _dominant_colour(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as im:
        return _dominant_of(im)


def _dominant_of(im: Image.Image) -> str:
    r, g, b = im.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return f"#{r:02x}{g:02x}{b:02x}"


def _video_still(asset: Asset) -> Image.Image:
    """A representative frame for a clip's poster: one second in, or the middle of a short clip."""
    from apps.media import video

    with default_storage.open(asset.original, "rb") as f:
        data = f.read()
    t = min(1.0, (asset.duration_s or 0) / 2)
    return Image.fromarray(video.frame_at(data, t))


def asset_make_variants(*, asset: Asset) -> dict[str, str]:
    """Make the missing variants as WebP: thumb and preview (images), thumb and poster (videos).

    Safe to run again: existing variants are kept, and files are content-addressed.
    """
    wanted = IMAGE_VARIANTS if asset.kind == Asset.Kind.IMAGE else VIDEO_VARIANTS
    variants = dict(asset.variants)
    missing = {n: s for n, s in wanted.items() if n not in variants}
    if not missing:
        return variants
    placeholder = asset.placeholder
    if asset.kind == Asset.Kind.VIDEO:
        im = _video_still(asset)
        placeholder = placeholder or _dominant_of(im)
    else:
        with default_storage.open(asset.original, "rb") as f, Image.open(f) as original:
            im = original.convert("RGB")
    with im:
        for name, longest in missing.items():
            copy = im.copy()
            copy.thumbnail((longest, longest), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            copy.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
            data = out.getvalue()
            path = content_path(asset.sha256, "webp", folder=f"variants/{name}")
            _store(path, data)
            variants[name] = path
    Asset.objects.filter(id=asset.id).update(variants=variants, placeholder=placeholder)
    asset.variants, asset.placeholder = variants, placeholder
    return variants

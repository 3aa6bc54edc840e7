"""Writes for media: storing originals by content hash and making variants."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image

from apps.accounts.models import User
from apps.core import outbox
from apps.media import images
from apps.media.models import Asset

_EXT = {
    "image/png": "png",
    "video/mp4": "mp4",
    "image/webp": "webp",
    "image/avif": "avif",
}
MIME_OF_EXT = {ext: mime for mime, ext in _EXT.items()}


# Variants of generated assets carry C2PA content credentials (apps.provenance.embedding); part
# of every variant's tag, so `manage.py media_rebuild` remade the variants made before them.
CREDENTIALS = "c2pa-1"


@dataclass(frozen=True)
class StillSpec:
    """A picture variant: the longest side in pixels and how it is encoded."""

    longest: int
    encoding: images.Encoding

    @property
    def ext(self) -> str:
        return self.encoding.ext

    @property
    def tag(self) -> str:
        return images.encoding_tag("still", self.longest, self.encoding, CREDENTIALS)

    def wanted_for(self, asset: Asset) -> bool:
        return True


@dataclass(frozen=True)
class ClipSpec:
    """A video variant: a rendition at a short side, or a short muted loop at a longest side."""

    short_side: int | None = None
    longest: int | None = None
    max_s: float | None = None
    crf: int = 23
    preset: str = "veryfast"
    ext: str = "mp4"

    @property
    def tag(self) -> str:
        return images.encoding_tag(
            "clip", self.short_side, self.longest, self.max_s, self.crf, CREDENTIALS
        )

    def wanted_for(self, asset: Asset) -> bool:
        # A rendition is worth having only when it is smaller than the original.
        return self.short_side is None or min(asset.width, asset.height) > self.short_side


# name → spec. The names thumb, preview and poster are the API's; the rest were added with AVIF,
# renditions and loops. Changing a spec changes its tag, so `manage.py media_rebuild` remakes it.
IMAGE_VARIANTS: dict[str, StillSpec] = {
    "thumb": StillSpec(320, images.WEBP),
    "thumb_avif": StillSpec(320, images.AVIF),
    "preview": StillSpec(1080, images.WEBP_FITTED),
    "preview_avif": StillSpec(1080, images.AVIF_FITTED),
}
VIDEO_VARIANTS: dict[str, StillSpec | ClipSpec] = {
    "thumb": StillSpec(320, images.WEBP),
    "thumb_avif": StillSpec(320, images.AVIF),
    "poster": StillSpec(1080, images.WEBP_FITTED),
    "poster_avif": StillSpec(1080, images.AVIF_FITTED),
    "video_480p": ClipSpec(short_side=480, crf=24),
    "video_720p": ClipSpec(short_side=720, crf=23),
    # Grids play a few muted seconds on a loop instead of the whole clip.
    "loop": ClipSpec(longest=480, max_s=3.0, crf=27),
}


def variant_specs(asset: Asset) -> dict[str, StillSpec | ClipSpec]:
    specs = IMAGE_VARIANTS if asset.kind == Asset.Kind.IMAGE else VIDEO_VARIANTS
    return {name: spec for name, spec in specs.items() if spec.wanted_for(asset)}


def content_path(sha256: str, ext: str, folder: str = "originals") -> str:
    return f"{folder}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def variant_path(asset: Asset, name: str, spec: StillSpec | ClipSpec) -> str:
    """Where a variant lives: by the original's hash and the spec's tag, so a changed spec never
    overwrites files that caches may hold under the old URL."""
    sha = asset.sha256
    return f"variants/{name}/{sha[:2]}/{sha[2:4]}/{sha}-{spec.tag}.{spec.ext}"


def _store(path: str, data: bytes) -> None:
    """Write once: identical content has the same path, so an existing file is already right."""
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(data))


@dataclass(frozen=True)
class Facts:
    """What is recorded about an original besides its bytes."""

    placeholder: str
    phash: str
    fps: float | None
    duration_s: float | None = None


def _image_facts(data: bytes) -> Facts:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return Facts(images.dominant_colour(im), images.perceptual_hash(im), None)


def _video_facts(data: bytes, duration_s: float | None) -> Facts:
    from apps.media import video

    info = video.probe(data)
    t = min(1.0, (duration_s or info.duration_s or 0) / 2)
    with Image.fromarray(video.frame_at(data, t)) as still:
        return Facts(
            images.dominant_colour(still), images.perceptual_hash(still), info.fps, info.duration_s
        )


def asset_create(
    *,
    owner: User,
    data: bytes,
    mime: str,
    width: int,
    height: int,
    duration_s: float | None = None,
    job=None,
    facts: Facts | None = None,
) -> Asset:
    """Store an original as generated and record it; variants follow on the media queue.

    A PNG loses its metadata chunks (text, XMP, EXIF, times) on the way in, byte for byte
    otherwise: pixel data is never re-encoded. Videos are Vivid's own H.264 encodes and stored
    untouched; untrusted files come through ``apps.media.uploads`` first.
    """
    if mime == "image/png":
        data = images.png_strip(data)
    sha = hashlib.sha256(data).hexdigest()
    path = content_path(sha, _EXT[mime])
    _store(path, data)
    kind = Asset.Kind.VIDEO if mime.startswith("video/") else Asset.Kind.IMAGE
    if facts is None:
        facts = _image_facts(data) if kind == Asset.Kind.IMAGE else _video_facts(data, duration_s)
    asset = Asset.objects.create(
        owner=owner,
        job=job,
        kind=kind,
        mime=mime,
        sha256=sha,
        original=path,
        width=width,
        height=height,
        duration_s=duration_s if duration_s is not None else facts.duration_s,
        fps=facts.fps,
        bytes=len(data),
        placeholder=facts.placeholder,
        phash=facts.phash,
    )
    from apps.provenance.matching import asset_index

    asset_index(asset=asset, data=data)  # the near-copy index of /verify
    from apps.media.tasks import make_variants

    outbox.send_on_commit(make_variants, asset.id)
    return asset


def asset_fill_facts(*, asset: Asset) -> bool:
    """Record the perceptual hash, frame rate and placeholder of an asset stored before they were
    recorded. Returns whether anything was missing."""
    if asset.phash and (asset.kind == Asset.Kind.IMAGE or asset.fps):
        return False
    data = _read(asset.original)
    if asset.kind == Asset.Kind.IMAGE:
        facts = _image_facts(data)
    else:
        facts = _video_facts(data, asset.duration_s)
    asset.phash, asset.fps = facts.phash, facts.fps
    asset.placeholder = asset.placeholder or facts.placeholder
    Asset.objects.filter(id=asset.id).update(
        phash=asset.phash, fps=asset.fps, placeholder=asset.placeholder
    )
    from apps.provenance.matching import asset_index

    asset_index(asset=asset, data=data)  # the near-copy index of /verify
    return True


def _read(path: str) -> bytes:
    with default_storage.open(path, "rb") as f:
        return f.read()


def _still_source(asset: Asset, data: bytes) -> Image.Image:
    """The full-resolution picture variants are made from: the image, or a clip's poster frame
    (one second in, or the middle of a short clip)."""
    if asset.kind == Asset.Kind.IMAGE:
        with Image.open(io.BytesIO(data)) as original:
            return images.clean_copy(original)
    from apps.media import video

    t = min(1.0, (asset.duration_s or 0) / 2)
    return Image.fromarray(video.frame_at(data, t))


def _render(asset: Asset, data: bytes, sized: dict[int, Image.Image], still, spec) -> bytes:
    """Encode one variant. Stills of the same size in other formats share one downscale."""
    if isinstance(spec, StillSpec):
        if spec.longest not in sized:
            sized[spec.longest] = images.resize_longest(still, spec.longest)
        return spec.encoding.save(sized[spec.longest])
    from apps.media import video

    width, height = video.fit(
        asset.width, asset.height, short_side=spec.short_side, longest=spec.longest
    )
    return video.transcode(
        data, width=width, height=height, crf=spec.crf, preset=spec.preset, max_s=spec.max_s
    )


def _made_by(asset: Asset, spec: StillSpec | ClipSpec) -> str:
    """The C2PA action a variant's credential names: a picture downscaled, a clip's frame
    taken, a clip re-encoded, or cut short (the grid loop)."""
    if isinstance(spec, StillSpec):
        return "c2pa.resized" if asset.kind == Asset.Kind.IMAGE else "c2pa.edited"
    return "c2pa.transcoded" if spec.max_s is None else "c2pa.edited"


def variants_missing(asset: Asset, *, verify: bool = False) -> dict[str, StillSpec | ClipSpec]:
    """The variants an asset should have and does not, with current settings. ``verify`` also
    counts files the record names but the storage no longer holds."""
    from apps.provenance.embedding import needs_signing

    if needs_signing(asset=asset):  # recorded after it was stored: all remade with credentials
        return dict(variant_specs(asset))
    missing = {}
    for name, spec in variant_specs(asset).items():
        path = variant_path(asset, name, spec)
        recorded = asset.variants.get(name)
        if recorded != path or (verify and not default_storage.exists(path)):
            missing[name] = spec
    return missing


def asset_make_variants(
    *, asset: Asset, verify: bool = False, only: set[str] | None = None
) -> dict[str, str]:
    """Make the variants the asset lacks: WebP and AVIF stills (thumb, preview or poster), and
    for clips 480p and 720p renditions and a grid loop.

    Safe to run again and concurrently: files are content-addressed and written once, and a run
    with nothing missing changes nothing. Variants that settings no longer ask for are forgotten.
    """
    from apps.provenance.embedding import VariantSigner, ensure_original_signed

    ensure_original_signed(asset=asset)  # first: signing changes the original's hash and path
    missing = variants_missing(asset, verify=verify)
    if only is not None:
        missing = {n: s for n, s in missing.items() if n in only}
    specs = variant_specs(asset)
    variants = {n: p for n, p in asset.variants.items() if n in specs}
    if not missing:
        if variants != asset.variants:
            Asset.objects.filter(id=asset.id).update(variants=variants)
            asset.variants = variants
        return variants
    data = _read(asset.original)
    needs_still = any(isinstance(s, StillSpec) for s in missing.values())
    still = _still_source(asset, data) if needs_still else None
    placeholder = asset.placeholder or (images.dominant_colour(still) if still else "")
    sized: dict[int, Image.Image] = {}
    signer = VariantSigner(asset, data)
    try:
        for name, spec in missing.items():
            path = variant_path(asset, name, spec)
            if not default_storage.exists(path):  # else made already for identical content
                rendered = _render(asset, data, sized, still, spec)
                # Signed last, after the variant's own encode.
                mime = spec.encoding.mime if isinstance(spec, StillSpec) else "video/mp4"
                _store(
                    path, signer.sign(rendered, mime, rendition=name, action=_made_by(asset, spec))
                )
            signer.stored(rendition=name, path=path)
            variants[name] = path
    finally:
        for im in [still, *sized.values()]:
            if im is not None:
                im.close()
    Asset.objects.filter(id=asset.id).update(variants=variants, placeholder=placeholder)
    asset.variants, asset.placeholder = variants, placeholder
    return variants


def asset_create_from_upload(
    *,
    owner: User,
    data: bytes,
    allowed: tuple[str, ...] | None = None,
    max_bytes: int | None = None,
    purpose: str = "upload",
    uploader=None,
) -> Asset:
    """Check an untrusted file (``apps.media.uploads``) and store its clean copy as an asset.

    Refusals raise ApplicationError before anything is written."""
    return asset_create_from_clean(
        owner=owner,
        clean=_clean_upload(data, allowed, max_bytes, purpose=purpose, uploader=uploader),
    )


def _clean_upload(data, allowed, max_bytes, *, purpose: str, uploader):
    from apps.media import uploads

    return uploads.upload_clean(
        data,
        allowed=allowed or uploads.ALLOWED,
        max_bytes=max_bytes,
        purpose=purpose,
        uploader=uploader,
    )


def asset_create_from_clean(*, owner: User, clean) -> Asset:
    """Store what ``apps.media.uploads.inspect_untrusted`` made safe. Its facts (hash, colour,
    duration) were worked out in the sandbox, so nothing of it is decoded here."""
    return asset_create(
        owner=owner,
        data=clean.data,
        mime=clean.mime,
        width=clean.width,
        height=clean.height,
        duration_s=clean.duration_s,
        facts=Facts(clean.placeholder, clean.phash, clean.fps, clean.duration_s),
    )


def asset_delete(*, asset: Asset) -> None:
    """Delete an asset nothing shows any more, and its files unless identical content of another
    asset still uses them. The caller has checked that no post shows it."""
    paths = [asset.original, *asset.variants.values()]
    sha = asset.sha256
    asset.delete()

    def remove_files() -> None:
        if Asset.objects.filter(sha256=sha).exists():
            return
        for path in paths:
            default_storage.delete(path)

    transaction.on_commit(remove_files)

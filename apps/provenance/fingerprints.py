"""Perceptual fingerprints of clips and the credentials of untrusted files, without Django.

The functions named ``untrusted_*`` run inside ``apps.media.sandbox``'s child processes (CPU and
memory limits, killed past a deadline), called by ``apps.provenance.verify`` through
``apps.media.uploads.pool()``; they import no Django and touch no database or settings.
``keyframe_hashes`` is also what the near-copy index uses for Vivid's own clips.
"""

from __future__ import annotations

import io
from typing import Any

# Where in a clip keyframes are hashed, as fractions of its length (frames 1, 2, 3 of the
# index; frame 0 is the poster, ``Asset.phash``).
KEYFRAME_AT = (0.25, 0.5, 0.75)


def _frames_at(container, times: list[float]):
    """The first frame at or after each time, seeking to the keyframe before it (so a long clip
    costs a few GOPs of decoding, not the whole clip)."""
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1
    for t in times:
        if stream.time_base is not None and t > 0:
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
            pts = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            if pts + 1e-6 >= t:
                break
        if last is None:
            raise ValueError("the video has no frames")
        yield last.to_ndarray(format="rgb24")


def keyframe_hashes(data: bytes, duration_s: float, *, untrusted: bool = False) -> list[str]:
    """Perceptual hashes of a clip at ``KEYFRAME_AT`` of its length."""
    import av
    from PIL import Image

    from apps.media import images, video

    options = {"format": "mp4", "options": video.SAFE_DEMUXER_OPTIONS} if untrusted else {}
    hashes = []
    with av.open(io.BytesIO(data), mode="r", **options) as container:
        for rgb in _frames_at(container, [duration_s * f for f in KEYFRAME_AT]):
            with Image.fromarray(rgb) as im:
                hashes.append(images.perceptual_hash(im))
    return hashes


def untrusted_keyframes(data: bytes, *, duration_s: float) -> list[str]:
    """``keyframe_hashes`` of an uploaded clip (already cleaned by ``apps.media.uploads``)."""
    return keyframe_hashes(data, duration_s, untrusted=True)


def untrusted_credentials(data: bytes, *, mime: str, trust_anchors: str) -> dict[str, Any]:
    """``apps.provenance.c2pa.read`` of the bytes as uploaded, in a child: the trust anchors
    come from the web process (the child reads no settings and writes no key files)."""
    import os

    import c2pa as c2pa_lib

    from apps.provenance import c2pa

    # The reading half of c2pa's settings (``apps.provenance.c2pa._settings``), with the anchors
    # handed over; a reader needs no signer.
    context = c2pa_lib.Context.from_dict(
        {
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {
                "verify_after_sign": False,
                "verify_trust": True,
                "remote_manifest_fetch": False,
                "ocsp_fetch": False,
            },
            "trust": {"user_anchors": trust_anchors} if trust_anchors else {},
        }
    )
    c2pa._local.tools = (os.getpid(), context, None)
    return c2pa.read(data, mime)

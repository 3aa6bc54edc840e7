"""Runs an edit job: reads its input assets from storage and hands them to the pixel editor.

The checks that need no pixels happened in ``services.edit_request`` before anything was queued;
anything found only while decoding (a damaged file) fails the job with a readable message.
"""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from PIL import Image

from apps.generation import edits
from apps.generation.backends.base import BackendError, GeneratedFile, ProgressCallback
from apps.generation.backends.registry import backend_get
from apps.generation.models import GenerationJob
from apps.media import video
from apps.media.models import Asset


def _read(asset: Asset) -> bytes:
    with default_storage.open(asset.original, "rb") as f:
        return f.read()


def edit_run(job: GenerationJob, progress: ProgressCallback) -> list[GeneratedFile]:
    inputs = [ji.asset for ji in job.job_inputs.select_related("asset").order_by("position")]
    params = job.params
    quality = params.get("quality", "final")
    try:
        if job.op == GenerationJob.Op.TRIM:
            out = edits.trim(
                _read(inputs[0]),
                start_s=params["start_s"],
                end_s=params["end_s"],
                quality=quality,
                on_progress=progress,
            )
        elif job.op == GenerationJob.Op.STITCH:
            out = edits.stitch([_read(a) for a in inputs], quality=quality, on_progress=progress)
        elif job.op == GenerationJob.Op.UPSCALE:
            if inputs[0].kind == Asset.Kind.IMAGE:
                out = edits.upscale_image(_read(inputs[0]))
            else:
                out = edits.upscale_video(_read(inputs[0]), quality=quality, on_progress=progress)
        elif job.op == GenerationJob.Op.EXTEND:
            out = _extend(job, inputs[0], progress)
        else:
            raise BackendError(f"Unknown edit {job.op!r}.")
    except edits.EditError as e:
        raise BackendError(e.message) from e
    return [out]


def _extend(job: GenerationJob, clip: Asset, progress: ProgressCallback) -> GeneratedFile:
    """Continue a generated clip for ``extend_s`` more seconds.

    A backend whose frames depend only on the request and the frame number (``can_extend``)
    renders the source request again, longer: the first part of the new clip is the source clip
    and the rest continues it without a jump. A backend that can start a video from a picture
    (``can_continue``) generates a continuation from the clip's last frame and the prompt, and
    the two are stitched.
    """
    from apps.generation.services import request_for

    source = clip.job
    impl = backend_get(source.backend) if source else None
    if source is None or impl is None or not (impl.can_extend or impl.can_continue):
        raise BackendError("This clip's backend cannot continue it.")
    extend_s = float(job.params["extend_s"])
    if impl.can_extend:
        total = round((clip.duration_s or 0) + extend_s, 3)
        return impl.generate(request_for(source, duration_s=total), progress)[0]

    data = _read(clip)
    start = io.BytesIO()
    Image.fromarray(video.last_frame(data)).save(start, "PNG")
    request = request_for(
        source,
        prompt=job.prompt or source.prompt,
        width=clip.width,
        height=clip.height,
        duration_s=extend_s,
        start_frame=start.getvalue(),
    )
    continuation = impl.generate(request, lambda f: progress(0.85 * f))[0]
    return edits.stitch(
        [data, continuation.data],
        quality=job.params.get("quality", "final"),
        on_progress=lambda f: progress(0.85 + 0.15 * f),
    )

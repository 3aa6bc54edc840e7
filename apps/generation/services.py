"""Writes for generation: requesting, running and canceling jobs."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.generation.backends.base import (
    BackendError,
    GenerationCanceled,
    GenerationRequest,
)
from apps.generation.backends.registry import backend_get
from apps.generation.models import GenerationJob
from apps.realtime import groups
from apps.realtime.events import event_message, publish_on_commit, send_now

logger = logging.getLogger(__name__)

Status = GenerationJob.Status

ASPECT_RATIOS = {"1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:5": (4, 5)}
QUALITIES = ("draft", "final")
# Images are sized by their long side; videos by their short side (720p, 1080p).
IMAGE_LONG_SIDE = {"draft": 512, "final": 1024}
VIDEO_SHORT_SIDE = {"draft": 720, "final": 1080}
SEED_MAX = 2**32 - 1
# Progress goes out at most this often (seconds), so a fast backend does not flood the socket.
PROGRESS_INTERVAL_S = 0.25


def dimensions(kind: str, aspect_ratio: str, quality: str) -> tuple[int, int]:
    """Output size for a kind, ratio and quality; both sides even (multiples of 8 for images).

    Images: 1024 (final) or 512 (draft) on the long side. Videos: 1080p or 720p, the short side.
    """
    w, h = ASPECT_RATIOS[aspect_ratio]
    if kind == "video":
        short = VIDEO_SHORT_SIDE[quality]
        if w >= h:
            return int(short * w / h) // 2 * 2, short
        return short, int(short * h / w) // 2 * 2
    long_side = IMAGE_LONG_SIDE[quality]
    if w >= h:
        return long_side, int(long_side * h / w) // 8 * 8
    return int(long_side * w / h) // 8 * 8, long_side


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("invalid", "Some fields are not valid.", fields={field: [message]})


def job_request(
    *,
    owner: User,
    kind: str,
    prompt: str,
    negative_prompt: str = "",
    backend: str | None = None,
    aspect_ratio: str = "1:1",
    quality: str = "final",
    count: int = 1,
    duration_s: int | None = None,
    seed: int | None = None,
    idempotency_key: str | None = None,
) -> GenerationJob:
    """Check a generation request and queue it; the worker picks it up after commit.

    A repeat with the same ``idempotency_key`` returns the first job and queues nothing.
    """
    if idempotency_key:
        existing = GenerationJob.objects.filter(
            owner=owner, idempotency_key=idempotency_key
        ).first()
        if existing:
            return existing

    prompt = prompt.strip()
    if not prompt:
        raise _invalid("prompt", "A prompt is required.")
    if len(prompt) > settings.GENERATION_PROMPT_MAX_CHARS:
        raise _invalid("prompt", f"At most {settings.GENERATION_PROMPT_MAX_CHARS} characters.")
    if len(negative_prompt) > settings.GENERATION_PROMPT_MAX_CHARS:
        raise _invalid(
            "negative_prompt", f"At most {settings.GENERATION_PROMPT_MAX_CHARS} characters."
        )
    alias = backend or settings.GENERATION_DEFAULT_BACKEND
    impl = backend_get(alias)
    if impl is None:
        raise _invalid("backend", f"Unknown backend {alias!r}.")
    if kind not in impl.kinds:
        raise _invalid("kind", f"The {alias} backend cannot make {kind}s.")
    if aspect_ratio not in ASPECT_RATIOS:
        raise _invalid("aspect_ratio", f"Choose from {', '.join(ASPECT_RATIOS)}.")
    if quality not in QUALITIES:
        raise _invalid("quality", "Choose draft or final.")
    if kind == GenerationJob.Kind.IMAGE and not 1 <= count <= 4:
        raise _invalid("count", "Between 1 and 4 images.")
    if kind == GenerationJob.Kind.VIDEO:
        if duration_s is None:
            raise _invalid("duration_s", "A video needs a duration in seconds.")
        if not 1 <= duration_s <= 20:
            raise _invalid("duration_s", "Between 1 and 20 seconds.")
    width, height = dimensions(kind, aspect_ratio, quality)
    refusal = impl.refusal(kind, width, height, duration_s)
    if refusal:
        field = "duration_s" if "videos of" in refusal else "aspect_ratio"
        raise _invalid(field, refusal)
    if seed is None:
        seed = secrets.randbelow(SEED_MAX + 1)
    elif not 0 <= seed <= SEED_MAX:
        raise _invalid("seed", f"Between 0 and {SEED_MAX}.")

    params: dict[str, Any] = {
        "aspect_ratio": aspect_ratio,
        "quality": quality,
        "count": count if kind == GenerationJob.Kind.IMAGE else 1,
        "width": width,
        "height": height,
        "duration_s": duration_s if kind == GenerationJob.Kind.VIDEO else None,
    }
    try:
        with transaction.atomic():
            job = GenerationJob.objects.create(
                owner=owner,
                kind=kind,
                prompt=prompt,
                negative_prompt=negative_prompt.strip(),
                backend=alias,
                seed=seed,
                params=params,
                idempotency_key=idempotency_key or None,
            )
            _announce(job)
            from apps.generation.tasks import run_generation

            transaction.on_commit(lambda: run_generation.delay(job.id))
    except IntegrityError:  # the same idempotency key raced us: answer with the winner
        existing = GenerationJob.objects.filter(
            owner=owner, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        return existing
    return job


def job_cancel(*, owner: User, job_id: int) -> GenerationJob:
    """Cancel a queued or running job; a running one stops at the backend's next step."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(id=job_id, owner=owner).first()
        if job is None:
            raise ApplicationError("not_found", "Not found.")
        if job.is_finished:
            raise ApplicationError("conflict", f"The job has already {job.status}.")
        job.move_to(Status.CANCELED)
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        _announce(job)
    return job


def job_run(*, job_id: int) -> None:
    """Run a job in the worker: claim it, call the backend, store the results, finish it.

    Safe to run twice: a finished job is left alone, and a job redelivered after its worker died
    runs again from the start; assets are written only in the final transaction, so it ends with
    exactly one set.
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.is_finished:
            return
        job.move_to(Status.RUNNING)
        job.started_at = timezone.now()
        job.attempts += 1
        job.progress = 0.0
        job.save(update_fields=["status", "started_at", "attempts", "progress"])
        _announce(job)

    impl = backend_get(job.backend)
    if impl is None:
        job_fail(job_id=job.id, message=f"The {job.backend} backend is no longer configured.")
        return
    request = GenerationRequest(
        kind=job.kind,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        seed=job.seed,
        width=job.params["width"],
        height=job.params["height"],
        quality=job.params["quality"],
        count=job.params["count"],
        duration_s=job.params.get("duration_s"),
    )
    try:
        files = impl.generate(request, _progress_reporter(job))
    except GenerationCanceled:
        return  # job_cancel already moved it to canceled
    except BackendError as e:
        if e.transient:
            raise
        job_fail(job_id=job.id, message=e.message)
        return

    from apps.media.services import asset_create

    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(id=job.id)
        if job.status != Status.RUNNING:  # canceled while the last frame rendered
            return
        for f in files:
            asset_create(
                owner=job.owner,
                data=f.data,
                mime=f.mime,
                width=f.width,
                height=f.height,
                duration_s=f.duration_s,
                job=job,
            )
        job.move_to(Status.SUCCEEDED)
        job.progress = 1.0
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "progress", "finished_at"])
        _announce(job)


def job_fail(*, job_id: int, message: str) -> None:
    """Mark an unfinished job failed with a message the creator will read."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.is_finished:
            return
        job.move_to(Status.FAILED)
        job.error = message[:1000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        _announce(job)


def jobs_reap_stale() -> int:
    """Fail jobs running longer than the time limit (their worker is gone). Returns how many."""
    limit = timezone.now() - timezone.timedelta(seconds=settings.GENERATION_JOB_TIME_LIMIT_S)
    stale = GenerationJob.objects.filter(status=Status.RUNNING, started_at__lt=limit)
    count = 0
    for job_id in stale.values_list("id", flat=True):
        job_fail(job_id=job_id, message="The job ran past its time limit and was stopped.")
        count += 1
    return count


def _progress_reporter(job: GenerationJob):
    """A progress callback for the backend: records progress, stops a canceled job."""
    last = {"t": 0.0}

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last["t"] < PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        last["t"] = now
        fraction = min(max(float(fraction), 0.0), 1.0)
        updated = GenerationJob.objects.filter(id=job.id, status=Status.RUNNING).update(
            progress=fraction
        )
        if not updated:
            raise GenerationCanceled
        job.progress = fraction
        # Outside any transaction here: progress is sent at once.
        send_now(groups.user_group(job.owner_id), _job_event(job))

    return report


def _job_event(job: GenerationJob) -> dict[str, Any]:
    from apps.generation.serializers import JobOut

    return event_message("generation.updated", "generations", {"job": JobOut(job).data})


def _announce(job: GenerationJob) -> None:
    """Tell the owner's open sockets about the job's new state, after commit."""
    from apps.generation.serializers import JobOut

    publish_on_commit(
        groups.user_group(job.owner_id),
        "generation.updated",
        "generations",
        {"job": JobOut(job).data},
    )

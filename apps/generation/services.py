"""Writes for generation: requesting, running and canceling jobs."""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core import outbox
from apps.core.exceptions import ApplicationError
from apps.core.ids import new_id
from apps.generation.backends.base import (
    BackendError,
    GenerationCanceled,
    GenerationRequest,
)
from apps.generation.backends.registry import backend_get
from apps.generation.models import GenerationJob, JobInput
from apps.generation.quotas import job_cost, quota_reconcile, quota_release, quota_reserve
from apps.media.models import Asset
from apps.realtime import groups
from apps.realtime.events import event_message, publish_on_commit, send_now

logger = logging.getLogger(__name__)

Status = GenerationJob.Status
GENERATE = GenerationJob.Op.GENERATE

ASPECT_RATIOS = {"1:1": (1, 1), "16:9": (16, 9), "9:16": (9, 16), "4:5": (4, 5)}
QUALITIES = ("draft", "final")
# Images are sized by their long side; videos by their short side (720p, 1080p).
IMAGE_LONG_SIDE = {"draft": 512, "final": 1024}
VIDEO_SHORT_SIDE = {"draft": 720, "final": 1080}
SEED_MAX = 2**32 - 1
# Progress goes out at most this often (seconds), so a fast backend does not flood the socket.
PROGRESS_INTERVAL_S = 0.25
# Images per job: up to 4 finals, or a grid of up to 16 drafts (ideation).
MAX_FINAL_COUNT, MAX_DRAFT_COUNT = 4, 16
# Ideation: how far a "vary" moves from the chosen picture by default (0 keeps it exactly), and
# how many variation steps one picture may stack up (each one is rendered every time).
VARIATION_DEFAULT_STRENGTH = 0.5
MAX_VARIATION_DEPTH = 8


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
    return ApplicationError("invalid", _("Some fields are not valid."), fields={field: [message]})


def job_request(
    *,
    owner: User,
    kind: str,
    prompt: str,
    negative_prompt: str = "",
    backend: str | None = None,
    aspect_ratio: str | None = None,
    quality: str = "final",
    count: int = 1,
    duration_s: int | None = None,
    seed: int | None = None,
    idempotency_key: str | None = None,
    remix_of: int | None = None,
    likeness: list[str] | None = None,
    variation_of: int | None = None,
    variation_strength: float | None = None,
    start_from: int | None = None,
) -> GenerationJob:
    """Check a generation request and queue it; the worker picks it up after commit.

    A repeat with the same ``idempotency_key`` returns the first job and queues nothing.
    ``remix_of`` names the post being remixed: it must be visible to the owner and allow
    remixes (403 otherwise); it is kept in the job's params, and posts of its results link to it.

    ``variation_of`` (ideation) names an image asset to start from: the requester's own, or one
    published in a post they may see and remix (404 / 403 otherwise). Its seed and aspect ratio
    are kept; ``variation_strength`` 0 renders the same picture again (one image: a draft's
    final), above 0 (default 0.5) each result is a nearby variation of it, with ``seed`` (random
    when absent) seeding the variations. The results' provenance names the asset as parent.

    ``start_from`` (image-to-video, backends that ``can_continue``) names a picture the clip
    starts from, usable on the same terms as ``variation_of``; provenance names it as parent.
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
    source = None
    if variation_of is not None:
        source = _variation_source(owner=owner, asset_id=variation_of)
    elif variation_strength is not None:
        raise _invalid("variation_strength", "Only together with variation_of.")
    alias = backend or (source.job.backend if source else settings.GENERATION_DEFAULT_BACKEND)
    impl = backend_get(alias)
    if impl is None:
        raise _invalid("backend", f"Unknown backend {alias!r}.")
    if kind not in impl.kinds:
        raise _invalid("kind", f"The {alias} backend cannot make {kind}s.")
    if aspect_ratio is None:
        aspect_ratio = source.job.params.get("aspect_ratio", "1:1") if source else "1:1"
    if aspect_ratio not in ASPECT_RATIOS:
        raise _invalid("aspect_ratio", f"Choose from {', '.join(ASPECT_RATIOS)}.")
    if quality not in QUALITIES:
        raise _invalid("quality", "Choose draft or final.")
    if kind == GenerationJob.Kind.IMAGE and not 1 <= count <= MAX_DRAFT_COUNT:
        raise _invalid(
            "count", f"Between 1 and {MAX_FINAL_COUNT} images ({MAX_DRAFT_COUNT} drafts)."
        )
    if kind == GenerationJob.Kind.IMAGE and quality == "final" and count > MAX_FINAL_COUNT:
        raise _invalid("count", f"Between 1 and {MAX_FINAL_COUNT} final images; drafts go to 16.")
    if kind == GenerationJob.Kind.VIDEO:
        if duration_s is None:
            raise _invalid("duration_s", "A video needs a duration in seconds.")
        if not 1 <= duration_s <= 20:
            raise _invalid("duration_s", "Between 1 and 20 seconds.")
    start_picture = None
    if start_from is not None:
        if kind != GenerationJob.Kind.VIDEO or not impl.can_continue:
            raise _invalid(
                "start_from", f"The {alias} backend cannot start a video from a picture."
            )
        start_picture = _usable_picture(
            owner=owner,
            asset_id=start_from,
            field="start_from",
            missing=_("The picture to start from was not found."),
        )
        if start_picture.kind != Asset.Kind.IMAGE:
            raise _invalid("start_from", "A video starts from a picture, not a clip.")
    width, height = dimensions(kind, aspect_ratio, quality)
    refusal = impl.refusal(kind, width, height, duration_s)
    if refusal:
        field = "duration_s" if "videos of" in refusal else "aspect_ratio"
        raise _invalid(field, refusal)
    _check_available(impl)
    from apps.moderation.services import prompt_enforce

    review_terms = prompt_enforce(prompt=prompt, negative_prompt=negative_prompt)
    from apps.consent.services import likeness_check_request

    # People named in ``likeness`` or @mentioned in the prompt: 422 unless each consents.
    grants = likeness_check_request(requester=owner, likeness=likeness, prompt=prompt)
    if remix_of is not None:
        from apps.posts.selectors import remix_parent_check

        remix_parent_check(post_id=remix_of, viewer=owner)
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise _invalid("seed", f"Between 0 and {SEED_MAX}.")
    variation: dict[str, Any] = {}
    if source is not None:
        variation = _variation_params(
            source=source,
            impl=impl,
            kind=kind,
            count=count,
            strength=variation_strength,
            seed=seed,
        )
        seed = variation.pop("seed")
    if seed is None:
        seed = secrets.randbelow(SEED_MAX + 1)

    params: dict[str, Any] = {
        "aspect_ratio": aspect_ratio,
        "quality": quality,
        "count": count if kind == GenerationJob.Kind.IMAGE else 1,
        "width": width,
        "height": height,
        "duration_s": duration_s if kind == GenerationJob.Kind.VIDEO else None,
    }
    if remix_of is not None:
        params["remix_of"] = str(remix_of)
    if start_picture is not None:
        params["start_from"] = str(start_picture.id)
    params.update(variation)
    cost = impl.cost(kind=kind, quality=quality, count=params["count"], duration_s=duration_s)
    if cost is None:
        cost = job_cost(kind=kind, quality=quality, count=params["count"], duration_s=duration_s)
    return _job_create(
        owner=owner,
        idempotency_key=idempotency_key,
        cost=cost,
        fields={
            "kind": kind,
            "prompt": prompt,
            "negative_prompt": negative_prompt.strip(),
            "backend": alias,
            "seed": seed,
            "params": params,
        },
        review_terms=review_terms,
        likeness_grants=grants,
    )


def _check_available(impl) -> None:
    """503 ``unavailable`` when the backend cannot run anything now (no GPU server answers):
    the creator hears it at once instead of waiting on a job that cannot start."""
    reason = impl.unavailable()
    if reason:
        raise ApplicationError("unavailable", reason, retry_after=30)


class _Source:
    """The picture a variation starts from: its asset, job and recipe (seed, steps)."""

    def __init__(self, asset: Asset, job: GenerationJob) -> None:
        self.asset, self.job = asset, job
        ids = list(job.assets.order_by("id").values_list("id", flat=True))
        self.seed, self.variations = request_for(job).picture(ids.index(asset.id))


def _usable_picture(*, owner: User, asset_id: int, field: str, missing: str) -> Asset:
    """A picture ``owner`` may make something from: their own, or one in a post they see that
    allows remixes (404 for anything else, 403 when the author does not allow remixes)."""
    asset = Asset.objects.filter(id=asset_id, removed_at__isnull=True).select_related("job").first()
    if asset is not None and asset.owner_id != owner.pk:
        from apps.posts.models import Post

        shown = Post.objects.visible_to(owner).filter(asset_id=asset.id)
        if not shown.exists():
            asset = None  # what a viewer may not see answers like what does not exist
        elif not shown.filter(allow_remix=True).exists():
            raise ApplicationError(
                "forbidden", _("The author does not allow remixes of that post.")
            )
    if asset is None:
        raise ApplicationError("not_found", missing, fields={field: ["Not found."]})
    return asset


def _variation_source(*, owner: User, asset_id: int) -> _Source:
    """The asset ``owner`` may vary: their own, or one in a post they see that allows remixes."""
    asset = _usable_picture(
        owner=owner,
        asset_id=asset_id,
        field="variation_of",
        missing=_("The picture to vary was not found."),
    )
    job = asset.job
    if (
        asset.kind != Asset.Kind.IMAGE
        or job is None
        or job.op != GenerationJob.Op.GENERATE
        or job.kind != GenerationJob.Kind.IMAGE
    ):
        raise _invalid("variation_of", "Only pictures generated here (not edits) can be varied.")
    return _Source(asset, job)


def _variation_params(
    *, source: _Source, impl, kind: str, count: int, strength: float | None, seed: int | None
) -> dict[str, Any]:
    """The params of a job starting from ``source`` (and its ``seed``: the composition's)."""
    if kind != GenerationJob.Kind.IMAGE:
        raise _invalid("variation_of", "Only images can be varied.")
    if not impl.can_vary:
        raise _invalid("variation_of", f"The {impl.alias} backend cannot vary a picture.")
    strength = VARIATION_DEFAULT_STRENGTH if strength is None else float(strength)
    if not (0.0 <= strength <= 1.0) or math.isnan(strength):
        raise _invalid("variation_strength", "Between 0 and 1.")
    params: dict[str, Any] = {
        "seed": source.seed,
        "variation_of": str(source.asset.id),
        "variation_strength": strength,
        "variations": [list(v) for v in source.variations],
    }
    if strength == 0:
        if count != 1:
            raise _invalid("count", "The same picture again is one image; vary it for more.")
        if seed is not None:
            raise _invalid("seed", "The same picture keeps its seed; leave seed out.")
        return params
    if len(source.variations) >= MAX_VARIATION_DEPTH:
        raise _invalid(
            "variation_of", f"This picture was varied {MAX_VARIATION_DEPTH} times; start afresh."
        )
    params["variation_seed"] = secrets.randbelow(SEED_MAX + 1) if seed is None else seed
    return params


def _job_create(
    *,
    owner: User,
    idempotency_key: str | None,
    cost: int,
    fields: dict[str, Any],
    inputs: list[Asset] = (),
    review_terms: list[str] = (),
    likeness_grants: list = (),
) -> GenerationJob:
    """Charge the quota, then write the queued job and hand it to the broker after commit.

    The quota is reserved first (atomically in Redis) and released if the row cannot be written,
    so a refused or failed request is never charged. ``review_terms`` (protected names the
    prompt uses) put a policy hold on the job in the same transaction.
    """
    job_id = new_id()
    quota_reserve(user_id=owner.pk, job_id=job_id, cost=cost)
    try:
        with transaction.atomic():
            job = GenerationJob.objects.create(
                id=job_id,
                owner=owner,
                cost=cost,
                idempotency_key=idempotency_key or None,
                enqueued_at=timezone.now(),
                **fields,
            )
            for position, asset in enumerate(inputs):
                JobInput.objects.create(job=job, asset=asset, position=position)
            if review_terms:
                from apps.moderation.services import hold_create

                hold_create(job=job, terms=list(review_terms))
            if likeness_grants:  # each use of a likeness, recorded and told to the person
                from apps.consent.services import likeness_uses_record

                likeness_uses_record(job=job, grants=list(likeness_grants))
            _announce(job)
            outbox.send_on_commit("apps.generation.tasks.run_generation", job.id)
    except IntegrityError:  # the same idempotency key raced us: answer with the winner
        quota_release(user_id=owner.pk, job_id=job_id, refund=cost)
        existing = GenerationJob.objects.filter(
            owner=owner, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        return existing
    except BaseException:
        quota_release(user_id=owner.pk, job_id=job_id, refund=cost)
        raise
    return job


def _enqueue(job_id: int) -> None:
    from apps.generation.tasks import run_generation

    run_generation.delay(job_id)


def edit_request(
    *,
    owner: User,
    op: str,
    assets: list[int],
    start_s: float | None = None,
    end_s: float | None = None,
    duration_s: float | None = None,
    prompt: str = "",
    quality: str = "final",
    idempotency_key: str | None = None,
) -> GenerationJob:
    """Check an edit of Library assets (trim, stitch, extend, upscale) and queue it as a job.

    Everything that can be checked without decoding pixels is checked here, so a bad edit is
    refused before anything is queued or charged.
    """
    if idempotency_key:
        existing = GenerationJob.objects.filter(
            owner=owner, idempotency_key=idempotency_key
        ).first()
        if existing:
            return existing
    if op not in EDIT_OPS:
        raise _invalid("op", f"Choose from {', '.join(EDIT_OPS)}.")
    by_id = {
        a.id: a for a in Asset.objects.filter(owner=owner, id__in=assets, removed_at__isnull=True)
    }
    missing = [a for a in assets if a not in by_id]
    if missing:
        raise ApplicationError(
            "not_found",
            _("Some assets are not in your Library."),
            fields={"assets": [f"Not found: {', '.join(map(str, missing))}."]},
        )
    inputs = [by_id[a] for a in assets]
    if quality not in QUALITIES:
        raise _invalid("quality", "Choose draft or final.")
    plan = _EDIT_CHECKS[op](inputs, start_s=start_s, end_s=end_s, duration_s=duration_s)
    source = inputs[0]
    params: dict[str, Any] = {
        "quality": quality,
        "count": 1,
        "width": plan["width"],
        "height": plan["height"],
        "duration_s": plan.get("duration_s"),
        "start_s": start_s,
        "end_s": end_s,
        "extend_s": duration_s if op == GenerationJob.Op.EXTEND else None,
    }
    source_job = source.job
    fields = {
        "kind": plan["kind"],
        "op": op,
        "prompt": (prompt.strip() or (source_job.prompt if source_job else ""))[
            : settings.GENERATION_PROMPT_MAX_CHARS
        ],
        "negative_prompt": source_job.negative_prompt if source_job else "",
        "backend": plan.get("backend", "editor"),
        "seed": source_job.seed if source_job else 0,
        "params": {**(source_job.params if op == "extend" and source_job else {}), **params},
    }
    review_terms: list[str] = []
    if prompt.strip():  # a prompt given with the edit (extend) is checked like a generation's
        from apps.moderation.services import prompt_enforce

        review_terms = prompt_enforce(prompt=fields["prompt"])
    from apps.consent.services import likeness_check_request

    # An edit depicts whoever its inputs depict (and anyone its new prompt @mentions).
    grants = likeness_check_request(requester=owner, likeness=None, prompt=prompt, inputs=inputs)
    cost = math.ceil(plan.get("duration_s") or 1) if plan["kind"] == "video" else 2
    return _job_create(
        owner=owner,
        idempotency_key=idempotency_key,
        cost=cost,
        fields=fields,
        inputs=inputs,
        review_terms=review_terms,
        likeness_grants=grants,
    )


EDIT_OPS = ("trim", "stitch", "extend", "upscale")
RENDITIONS = (480, 720, 1080)
MAX_IMAGE_SIDE = 4096
MAX_EDIT_DURATION_S = 60


def _one_video(inputs: list[Asset]) -> Asset:
    if len(inputs) != 1:
        raise _invalid("assets", "Choose exactly one clip.")
    if inputs[0].kind != Asset.Kind.VIDEO:
        raise _invalid("assets", "This edit works on videos, not images.")
    return inputs[0]


def _check_trim(inputs, *, start_s, end_s, **_) -> dict[str, Any]:
    clip = _one_video(inputs)
    duration = clip.duration_s or 0.0
    if start_s is None or end_s is None:
        raise _invalid("end_s" if start_s is not None else "start_s", "Give start_s and end_s.")
    if start_s < 0:
        raise _invalid("start_s", "Cannot start before 0 s.")
    if end_s > duration + 1e-3:
        raise _invalid("end_s", f"The clip is only {duration:g} s long.")
    if end_s - start_s < 1 / 24:
        raise _invalid("end_s", "The end must come after the start.")
    return {
        "kind": "video",
        "width": clip.width,
        "height": clip.height,
        "duration_s": round(end_s - start_s, 3),
    }


def _check_stitch(inputs, **_) -> dict[str, Any]:
    if not 2 <= len(inputs) <= 8:
        raise _invalid("assets", "Stitch 2 to 8 clips.")
    if any(a.kind != Asset.Kind.VIDEO for a in inputs):
        raise _invalid("assets", "Only videos can be stitched; one of these is an image.")
    total = sum(a.duration_s or 0 for a in inputs)
    if total > MAX_EDIT_DURATION_S:
        raise _invalid("assets", f"The result would be over {MAX_EDIT_DURATION_S} s.")
    return {
        "kind": "video",
        "width": inputs[0].width,
        "height": inputs[0].height,
        "duration_s": round(total, 3),
    }


def _check_extend(inputs, *, duration_s, **_) -> dict[str, Any]:
    clip = _one_video(inputs)
    if duration_s is None or not 1 <= duration_s <= 20:
        raise _invalid("duration_s", "Extend by 1 to 20 seconds.")
    job = clip.job
    if job is None or job.op != GenerationJob.Op.GENERATE:
        raise _invalid(
            "assets", "Only clips generated here can be extended; extend before trimming."
        )
    impl = backend_get(job.backend)
    if impl is None or not (impl.can_extend or impl.can_continue):
        raise _invalid("assets", f"Clips from the {job.backend} backend cannot be extended.")
    if not impl.can_extend and duration_s > impl.max_duration_s:
        raise _invalid(
            "duration_s",
            f"The {job.backend} backend continues a clip by 1 to {impl.max_duration_s} s.",
        )
    if not impl.can_extend:  # a continuation is generated anew
        _check_available(impl)
    total = (clip.duration_s or 0) + duration_s
    if total > MAX_EDIT_DURATION_S:
        raise _invalid("duration_s", f"The result would be over {MAX_EDIT_DURATION_S} s.")
    return {
        "kind": "video",
        "width": clip.width,
        "height": clip.height,
        "duration_s": round(total, 3),
        "backend": job.backend,
    }


def _check_upscale(inputs, **_) -> dict[str, Any]:
    if len(inputs) != 1:
        raise _invalid("assets", "Choose exactly one image or clip.")
    asset = inputs[0]
    if asset.kind == Asset.Kind.IMAGE:
        if max(asset.width, asset.height) * 2 > MAX_IMAGE_SIDE:
            raise _invalid("assets", f"Images are upscaled up to {MAX_IMAGE_SIDE} px.")
        return {"kind": "image", "width": asset.width * 2, "height": asset.height * 2}
    short = min(asset.width, asset.height)
    target = next((r for r in RENDITIONS if r > short), None)
    if target is None:
        raise _invalid("assets", "The clip is already 1080p.")
    scale = target / short
    return {
        "kind": "video",
        "width": round(asset.width * scale / 2) * 2,
        "height": round(asset.height * scale / 2) * 2,
        "duration_s": asset.duration_s,
    }


_EDIT_CHECKS = {
    "trim": _check_trim,
    "stitch": _check_stitch,
    "extend": _check_extend,
    "upscale": _check_upscale,
}


def job_cancel(*, owner: User, job_id: int) -> GenerationJob:
    """Cancel a queued or running job; a running one stops at the backend's next step.

    A job canceled before it started is not charged; a draft grid canceled midway is charged for
    the drafts it stored (they stay in the Library).
    """
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(id=job_id, owner=owner).first()
        if job is None:
            raise ApplicationError("not_found", _("Not found."))
        if job.is_finished:
            raise ApplicationError("conflict", f"The job has already {job.status}.")
        refund = job.cost if job.status == Status.QUEUED else 0
        if job.status == Status.RUNNING and _streams(job):
            # A grid canceled midway keeps the drafts it stored and pays for those alone.
            refund = job.cost - _delivered_cost(job)
        job.move_to(Status.CANCELED)
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        _announce(job)
        _release_on_commit(job, refund=refund)
    return job


class JobBusy(Exception):
    """Another worker holds the job's lock (it is running, or its worker died moments ago)."""


def job_run(*, job_id: int) -> None:
    """Run a job in the worker: claim it, call the backend or editor, store results, finish it.

    Safe to run twice. A finished job is left alone. One worker at a time holds the job's lock,
    renewed as it works; a second delivery while it runs raises ``JobBusy`` (the task retries
    later). A job redelivered because its worker died runs again from the start once the dead
    worker's lock has expired; assets are written only in the final transaction, so the job ends
    with exactly one set (a draft grid stores each image as it is ready and, run again, goes on
    after the ones it stored).
    """
    lock = _job_lock(job_id)
    if not lock.acquire(blocking=False):
        raise JobBusy(job_id)
    try:
        _job_run_locked(job_id, lock)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _job_lock(job_id: int):
    from apps.generation.quotas import _client

    return _client().lock(
        f"{settings.CACHES['default'].get('KEY_PREFIX', 'vivid')}:job-run:{job_id}",
        timeout=settings.GENERATION_LOCK_TTL_S,
    )


def _job_run_locked(job_id: int, lock) -> None:
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

    from apps.consent.services import likeness_refusal

    refusal = likeness_refusal(job=job)  # consent withdrawn (or the use removed) while queued
    if refusal:
        job_fail(job_id=job.id, message=refusal)
        return
    progress = _progress_reporter(job, lock)
    try:
        if _streams(job):
            files = []  # each stored as it is ready
            if not _generate_streaming(job, progress):
                return  # canceled meanwhile
        elif job.op == GENERATE:
            files = _generate(job, progress)
        else:
            from apps.generation.editing import edit_run

            files = edit_run(job, progress)
    except GenerationCanceled:
        return  # job_cancel already moved it to canceled
    except BackendError as e:
        if e.transient:
            raise
        job_fail(job_id=job.id, message=e.message)
        return

    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(id=job.id)
        if job.status != Status.RUNNING:  # canceled while the last frame rendered
            return
        refusal = likeness_refusal(job=job)  # ... or withdrawn while it rendered
        if refusal:
            job_fail(job_id=job.id, message=refusal)
            return
        for f in files:
            _result_store(job, f)
        job.move_to(Status.SUCCEEDED)
        job.progress = 1.0
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "progress", "finished_at"])
        _announce(job)
        _release_on_commit(job)


def _result_store(job: GenerationJob, f) -> Asset:
    """Store one result of ``job`` with its provenance record and content credentials (inside
    the caller's transaction)."""
    from apps.media.services import asset_create
    from apps.provenance.embedding import original_credential
    from apps.provenance.services import record_write

    asset = asset_create(
        owner=job.owner,
        data=f.data,
        mime=f.mime,
        width=f.width,
        height=f.height,
        duration_s=f.duration_s,
        job=job,
    )
    # Its provenance, in the same transaction, with what the backend reported about the run.
    seed = f.extra.get("seed")  # a grid's picture i has its own seed
    record = record_write(
        asset=asset,
        job=job,
        seed=seed if isinstance(seed, int) else None,
        made_with=f.extra.get("made_with"),
    )
    # Then its content credentials, naming that record: signed into the stored original.
    original_credential(asset=asset, record=record, data=f.data)
    return asset


def _streams(job: GenerationJob) -> bool:
    """Whether the job's images are stored and shown one by one as each is ready (a draft grid
    fills in live) rather than all at the end. Not when the job depicts someone: their consent
    is re-checked once, before anything of it is stored."""
    if job.op != GENERATE or job.kind != GenerationJob.Kind.IMAGE:
        return False
    if job.params.get("count", 1) < 2:
        return False
    from apps.consent.selectors import likeness_uses_for_jobs

    return not likeness_uses_for_jobs(job_ids=[job.id]).exists()


def _generate_streaming(job: GenerationJob, progress) -> bool:
    """Render the job's images and store each as it is ready (its own transaction, announced on
    the socket with the results so far). A redelivered job goes on after the results it already
    stored (result i is always the same picture). False when the job was canceled meanwhile."""
    impl = backend_get(job.backend)
    if impl is None:
        raise BackendError(f"The {job.backend} backend is no longer configured.")
    request = request_for(job)
    results = impl.generate_each(request, progress, start=job.assets.count())
    try:
        for f in results:
            with transaction.atomic():
                locked = GenerationJob.objects.select_for_update().get(id=job.id)
                if locked.status != Status.RUNNING:
                    return False
                _result_store(locked, f)
                locked.progress = max(locked.progress, locked.assets.count() / request.count)
                locked.progress = min(locked.progress, 0.99)
                locked.save(update_fields=["progress"])
                _announce(locked)
    finally:
        results.close()  # a canceled grid stops rendering
    return True


def _generate(job: GenerationJob, progress) -> list:
    impl = backend_get(job.backend)
    if impl is None:
        raise BackendError(f"The {job.backend} backend is no longer configured.")
    changes = {}
    if job.params.get("start_from"):  # image-to-video: the clip starts from this picture
        changes["start_frame"] = _start_picture(int(job.params["start_from"]))
    return impl.generate(request_for(job, **changes), progress)


def _start_picture(asset_id: int) -> bytes:
    from django.core.files.storage import default_storage

    asset = Asset.objects.filter(id=asset_id, removed_at__isnull=True).first()
    if asset is None:
        raise BackendError("The picture this video starts from was removed.")
    with default_storage.open(asset.original, "rb") as f:
        return f.read()


def request_for(job: GenerationJob, **changes: Any) -> GenerationRequest:
    """The backend request a job stands for (``changes`` override fields, e.g. a longer clip)."""
    fields = {
        "kind": job.kind,
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "seed": job.seed,
        "width": job.params["width"],
        "height": job.params["height"],
        "quality": job.params["quality"],
        "count": job.params.get("count", 1),
        "duration_s": job.params.get("duration_s"),
        "variations": tuple((int(v), float(s)) for v, s in job.params.get("variations") or ()),
    }
    if "variation_seed" in job.params:  # each result one step away from the varied picture
        fields["variation_seed"] = int(job.params["variation_seed"])
        fields["variation_strength"] = float(job.params["variation_strength"])
    return GenerationRequest(**{**fields, **changes})


def job_fail(*, job_id: int, message: str) -> None:
    """Mark an unfinished job failed with a message the creator will read, and refund it."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.is_finished:
            return
        job.move_to(Status.FAILED)
        job.error = message[:1000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        _announce(job)
        _release_on_commit(job, refund=job.cost - _delivered_cost(job))


def _delivered_cost(job: GenerationJob) -> int:
    """What the images a grid stored before it failed cost (they stay in the Library)."""
    if job.op != GENERATE or job.kind != GenerationJob.Kind.IMAGE:
        return 0
    count = max(1, job.params.get("count", 1))
    delivered = min(job.assets.count(), count)
    return job.cost * delivered // count


def _release_on_commit(job: GenerationJob, refund: int = 0) -> None:
    day = job.created_at or timezone.now()
    transaction.on_commit(
        lambda: quota_release(user_id=job.owner_id, job_id=job.id, refund=refund, day=day)
    )


def jobs_reap_stale() -> dict[str, int]:
    """The periodic safety net (Celery beat, every minute).

    - fails jobs running past the time limit (their worker is gone for good);
    - hands queued jobs the broker seems to have lost to it again (running a job twice is safe);
    - frees quota slots still held by finished jobs (a crash between commit and release).
    """
    now = timezone.now()
    limit = now - timezone.timedelta(seconds=settings.GENERATION_JOB_TIME_LIMIT_S)
    failed = 0
    for job_id in GenerationJob.objects.filter(
        status=Status.RUNNING, started_at__lt=limit
    ).values_list("id", flat=True):
        job_fail(job_id=job_id, message="The job ran past its time limit and was stopped.")
        failed += 1
    requeue_before = now - timezone.timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_S)
    lost = list(
        GenerationJob.objects.filter(
            status=Status.QUEUED, enqueued_at__lt=requeue_before
        ).values_list("id", flat=True)[:500]
    )
    for job_id in lost:
        GenerationJob.objects.filter(id=job_id, status=Status.QUEUED).update(enqueued_at=now)
        _enqueue(job_id)
    return {"failed": failed, "requeued": len(lost), "slots_freed": quota_reconcile()}


def _progress_reporter(job: GenerationJob, lock=None):
    """A progress callback: records progress, renews the job's lock, stops a canceled job."""
    last = {"t": 0.0, "lock": time.monotonic()}

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last["t"] < PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        last["t"] = now
        if lock is not None and now - last["lock"] > settings.GENERATION_LOCK_TTL_S / 3:
            last["lock"] = now
            with contextlib.suppress(redis.exceptions.LockError):
                lock.reacquire()
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

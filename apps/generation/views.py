"""The Create page and the Library. Generation and edits go through the API from the pages'
scripts; these views render what the selectors read, and the Library's htmx partials."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams, paginate
from apps.generation.backends.registry import backend_list
from apps.generation.models import GenerationJob
from apps.generation.selectors import job_get, job_list
from apps.generation.services import (
    ASPECT_RATIOS,
    MAX_DRAFT_COUNT,
    MAX_IMAGE_SIDE,
    QUALITIES,
    RENDITIONS,
    SEED_MAX,
    dimensions,
)
from apps.media.models import Asset
from apps.media.serializers import asset_url
from apps.media.video import FPS

# --- Create ---------------------------------------------------------------------------------


def _prefill(query: QueryDict) -> dict:
    """The form's starting values from the query string (the Remix buttons link here).

    Anything unknown or out of range is dropped rather than refused: a link should never break
    the page.
    """

    def choice(name: str, allowed, default: str) -> str:
        value = query.get(name, "")
        return value if value in allowed else default

    def number(name: str, low: int, high: int) -> int | None:
        raw = query.get(name, "")
        if raw.isdigit() and len(raw) <= 19 and low <= int(raw) <= high:
            return int(raw)
        return None

    limit = settings.GENERATION_PROMPT_MAX_CHARS
    return {
        "prompt": query.get("prompt", "")[:limit],
        "negative_prompt": query.get("negative_prompt", "")[:limit],
        "kind": choice("kind", GenerationJob.Kind.values, "image"),
        "aspect_ratio": choice("aspect_ratio", ASPECT_RATIOS, "1:1"),
        "quality": choice("quality", QUALITIES, "final"),
        "count": number("count", 1, MAX_DRAFT_COUNT) or 1,
        "duration_s": number("duration_s", 1, 20) or 4,
        "seed": number("seed", 0, SEED_MAX),
        "remix_of": number("remix_of", 1, 2**63 - 1),
    }


def _remix_parent(viewer, post_id: int | None):
    """The post being remixed, if the viewer may see it (a hidden one is simply not shown)."""
    if post_id is None:
        return None
    from apps.posts.selectors import post_get_visible

    try:
        return post_get_visible(post_id=post_id, viewer=viewer)
    except ApplicationError:
        return None


@login_required
def create(request):
    prefill = _prefill(request.GET)
    remix = _remix_parent(request.user, prefill["remix_of"])
    # What each kind, ratio and quality renders at; the page compares these with the sizes each
    # backend lists (GET /api/v1/generation/backends) to hide what the backend cannot do.
    sizes = {
        kind: {
            ratio: {q: "{}x{}".format(*dimensions(kind, ratio, q)) for q in QUALITIES}
            for ratio in ASPECT_RATIOS
        }
        for kind in GenerationJob.Kind.values
    }
    return render(
        request,
        "generation/create.html",
        {
            "backends": backend_list(),
            "default_backend": settings.GENERATION_DEFAULT_BACKEND,
            "prompt_max": settings.GENERATION_PROMPT_MAX_CHARS,
            "prefill": prefill,
            "remix": remix,
            "aspect_ratios": list(ASPECT_RATIOS),
            "sizes": sizes,
            # Up to 4 finals; drafts also in grids of 8 and 16 (ideation).
            "counts": [1, 2, 3, 4, 8, 16],
        },
    )


# --- Library --------------------------------------------------------------------------------

KIND_FILTERS = [("", _("All")), ("image", _("Images")), ("video", _("Videos"))]
STATUS_FILTERS = [
    ("", _("Any status")),
    ("running", _("Running")),
    ("queued", _("Queued")),
    ("succeeded", _("Done")),
    ("failed", _("Failed")),
    ("canceled", _("Canceled")),
]


def _filters(query: QueryDict) -> dict[str, str]:
    """The Library's kind and status filters; an unknown value means no filter."""
    kind = query.get("kind", "")
    status = query.get("status", "")
    return {
        "kind": kind if kind in GenerationJob.Kind.values else "",
        "status": status if status in GenerationJob.Status.values else "",
    }


def _jobs(user, filters: dict[str, str]) -> QuerySet[GenerationJob]:
    jobs = (
        job_list(owner=user, status=filters["status"] or None)
        .prefetch_related("job_inputs")
        .select_related("policy_hold")  # "held for review" on items a moderator must clear
    )
    if filters["kind"]:
        jobs = jobs.filter(kind=filters["kind"])
    return jobs


def _page(request, filters: dict[str, str]):
    try:
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        raise Http404 from e
    page = paginate(_jobs(request.user, filters), params)
    for job in page.items:
        _decorate(job)
    return page


def _can_upscale(asset: Asset) -> bool:
    """Whether to offer Upscale (the service decides): images 2x, clips one rendition up."""
    if asset.kind == Asset.Kind.IMAGE:
        return max(asset.width, asset.height) * 2 <= MAX_IMAGE_SIDE
    return min(asset.width, asset.height) < RENDITIONS[-1]


def _remix_url(job: GenerationJob) -> str:
    """Create, prefilled with what made this job (an edit carries its source's prompt)."""
    params = job.params or {}
    query = {"prompt": job.prompt, "kind": job.kind, "seed": job.seed}
    if job.negative_prompt:
        query["negative_prompt"] = job.negative_prompt
    for name in ("aspect_ratio", "quality"):
        if params.get(name):
            query[name] = params[name]
    if job.kind == GenerationJob.Kind.VIDEO and params.get("duration_s"):
        query["duration_s"] = min(20, max(1, round(params["duration_s"])))
    elif params.get("count"):
        query["count"] = params["count"]
    return f"{reverse('generation:create')}?{urlencode(query)}"


def _urls(asset: Asset) -> Asset:
    """The files an item shows: the best variant made so far, else the original."""
    original = asset_url(asset)
    variants = asset.variants or {}
    asset.display_url = asset_url(asset, "preview") if "preview" in variants else original
    asset.thumb_url = asset_url(asset, "thumb") if "thumb" in variants else asset.display_url
    asset.poster_url = asset_url(asset, "poster") if "poster" in variants else ""
    return asset


def _decorate(job: GenerationJob) -> GenerationJob:
    """What the item template shows: the results in order, and which actions they allow."""
    job.results = (
        [_urls(a) for a in sorted(job.assets.all(), key=lambda a: a.id)]
        if job.status == GenerationJob.Status.SUCCEEDED
        else []
    )
    job.main = job.results[0] if job.results else None
    job.can_upscale = job.main is not None and _can_upscale(job.main)
    job.can_extend = job.main is not None and job.main.kind == "video" and job.op == "generate"
    job.remix_url = _remix_url(job) if job.prompt else ""
    job.input_count = len(job.job_inputs.all())
    job.percent = round(job.progress * 100)
    return job


def _filter_links(filters: dict[str, str]) -> dict[str, list[dict]]:
    """The filter chips: each link keeps the other filter."""

    def link(name: str, value: str) -> str:
        query = urlencode({k: v for k, v in {**filters, name: value}.items() if v})
        base = reverse("generation:library")
        return f"{base}?{query}" if query else base

    return {
        name: [
            {"value": value, "label": label, "url": link(name, value), "on": filters[name] == value}
            for value, label in choices
        ]
        for name, choices in (("kind", KIND_FILTERS), ("status", STATUS_FILTERS))
    }


@login_required
def library(request):
    filters = _filters(request.GET)
    return render(
        request,
        "generation/library.html",
        {
            "page": _page(request, filters),
            "filters": filters,
            "filter_links": _filter_links(filters),
            "filter_query": urlencode({k: v for k, v in filters.items() if v}),
            "fps": FPS,
        },
    )


@login_required
def library_items(request):
    """A run of Library items: "load more" (``cursor``) and the catch-up after a reconnect
    (``since``)."""
    filters = _filters(request.GET)
    return render(
        request,
        "generation/partials/library_items.html",
        {
            "page": _page(request, filters),
            "filter_query": urlencode({k: v for k, v in filters.items() if v}),
            "fps": FPS,
        },
    )


@login_required
def library_item(request, job_id: int):
    """One item, fetched by the page when a job it shows changes state or a new one appears."""
    try:
        job = job_get(owner=request.user, job_id=job_id)
    except ApplicationError as e:
        raise Http404 from e
    return render(
        request, "generation/partials/library_item.html", {"job": _decorate(job), "fps": FPS}
    )

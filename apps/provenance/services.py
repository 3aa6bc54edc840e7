"""Writes of provenance records. There are only appends: no record is ever changed or deleted."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.core import ledger
from apps.media.models import Asset
from apps.provenance.models import (
    ProvenanceLink,
    ProvenanceRecord,
    new_salt,
    prompt_commitment,
)

logger = logging.getLogger(__name__)

# What the clip editor (trim, stitch, upscale) records as its backend and model.
EDITOR_BACKEND = "editor"
EDITOR_MODEL = "vivid-editor"
EDITOR_VERSION = "1"
# Records named as parents of one record, at most (stitch takes 8 clips; room to spare).
MAX_PARENTS = 16


def chain_for(creator_id: int) -> str:
    """One chain per creator: a creator's writes queue behind each other, nobody else's do."""
    return f"user:{creator_id}"


def _describe_backend(alias: str, kind: str) -> tuple[str, str]:
    """(model, version) of a configured backend; the alias alone when it is gone."""
    if alias == EDITOR_BACKEND:
        return EDITOR_MODEL, EDITOR_VERSION
    from apps.generation.backends.registry import backend_get

    impl = backend_get(alias)
    if impl is None:
        return "", ""
    model = impl.model
    if kind == Asset.Kind.VIDEO and getattr(impl, "video_model", None):
        model = impl.video_model
    return model or "", impl.version or ""


def _params_of(job) -> dict[str, Any]:
    """Every parameter the job ran with, the seed included (never the prompt: it is committed,
    not hashed in the clear)."""
    params = {k: v for k, v in (job.params or {}).items() if v is not None}
    params["seed"] = job.seed
    if "width" in params and "height" in params:
        params.setdefault("size", f"{params['width']}x{params['height']}")
    return params


def _likeness_consents(job) -> list[str]:
    # Likeness consent is apps.consent's; until its selector exists a job relied on none.
    try:
        from apps.consent.selectors import likeness_consent_event_ids
    except (ImportError, AttributeError):
        return []
    return [str(i) for i in likeness_consent_event_ids(job=job)]


def _parent_assets(job) -> list[Asset]:
    """What the job's result was made from: an edit's inputs in order, the picture a final or
    variation started from, or a remix's parent."""
    from apps.generation.models import GenerationJob

    if job.op != GenerationJob.Op.GENERATE:
        return [ji.asset for ji in job.job_inputs.select_related("asset").order_by("position")]
    # Ideation: a final or a variation of a picture descends from that picture; a clip made
    # from a picture (image-to-video), from that picture.
    variation_of = (job.params or {}).get("variation_of") or (job.params or {}).get("start_from")
    if variation_of:
        asset = Asset.objects.filter(id=int(variation_of)).first()
        if asset is not None:
            return [asset]
    remix_of = (job.params or {}).get("remix_of")
    if not remix_of:
        return []
    from apps.posts.models import Post

    post = Post.objects.filter(id=int(remix_of)).select_related("asset").first()
    return [post.asset] if post is not None else []


def _parents_for(assets: list[Asset]) -> list[ProvenanceRecord]:
    """The records of ``assets``; an asset stored before records existed gets its backfilled
    record first, so a parent link is never missing."""
    records = []
    for asset in assets[:MAX_PARENTS]:
        record = ProvenanceRecord.objects.filter(asset=asset).first()
        if record is None:
            record = record_backfill(asset=asset)
        records.append(record)
    return records


def _append(*, asset: Asset, parents: list[ProvenanceRecord], **fields: Any) -> ProvenanceRecord:
    salt = new_salt()
    prompt = fields.pop("prompt", "")
    negative = fields.pop("negative_prompt", "")
    record = ledger.append(
        ProvenanceRecord,
        chain=chain_for(asset.owner_id),
        asset=asset,
        creator_id=asset.owner_id,
        kind=asset.kind,
        prompt=prompt,
        negative_prompt=negative,
        prompt_salt=salt,
        prompt_commitment=prompt_commitment(salt, "prompt", prompt),
        negative_prompt_commitment=prompt_commitment(salt, "negative_prompt", negative),
        parents=[str(p.id) for p in parents],
        asset_sha256=asset.sha256,
        asset_phash=asset.phash or "",
        **fields,
    )
    ProvenanceLink.objects.bulk_create(
        [ProvenanceLink(child=record, parent=p, position=i) for i, p in enumerate(parents)]
    )
    return record


def record_write(
    *, asset: Asset, job, seed: int | None = None, made_with: dict[str, Any] | None = None
) -> ProvenanceRecord:
    """Record how ``asset`` was made by ``job`` (a generation or an edit).

    ``seed`` is the seed this one result was made with when it is not the job's (picture i of
    a grid); ``made_with`` is what the backend reported about the run (a ComfyUI workflow, its
    model files and their hashes), recorded under ``params["made_with"]``.

    Called inside the transaction that stores the asset, so the asset never exists without its
    record and a rolled-back job leaves neither. Locks only the creator's chain head.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_write runs in the transaction that stores the asset")
    parents = _parents_for(_parent_assets(job))
    model, version = _describe_backend(job.backend, asset.kind)
    params = _params_of(job)
    if seed is not None:
        params["seed"] = seed
    if made_with:
        params["made_with"] = made_with
    return _append(
        asset=asset,
        parents=parents,
        op=job.op,
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        backend=job.backend,
        model_name=model[:100],
        model_version=version[:50],
        params=params,
        seed=job.seed if seed is None else seed,
        likeness_consents=_likeness_consents(job),
        backfilled=False,
    )


def record_backfill(*, asset: Asset) -> ProvenanceRecord:
    """A record for an asset stored before records existed, marked ``backfilled``: what its job
    says if it still has one, otherwise only its hashes (op ``backfill``).

    Its time is the moment of writing (the chain's order), not the asset's; the asset's own
    creation time is in ``params.asset_created_at``.
    """
    job = asset.job
    with transaction.atomic():
        if job is None:
            return _append(
                asset=asset,
                parents=[],
                op=ProvenanceRecord.Op.BACKFILL,
                backend="",
                model_name="",
                model_version="",
                params={"asset_created_at": asset.created_at.isoformat()},
                seed=None,
                likeness_consents=[],
                backfilled=True,
            )
        model, version = _describe_backend(job.backend, asset.kind)
        return _append(
            asset=asset,
            parents=_parents_for(_parent_assets(job)),
            op=job.op,
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            backend=job.backend,
            model_name=model,
            model_version=version,
            params={**_params_of(job), "asset_created_at": asset.created_at.isoformat()},
            seed=job.seed,
            likeness_consents=_likeness_consents(job),
            backfilled=True,
        )


def assets_to_backfill():
    """Assets that should have a record and have none: everything made by a job, and anything
    published in a post. Avatars alone are not (they are replaced and deleted freely)."""
    from django.db.models import Exists, OuterRef, Q

    from apps.posts.models import Post

    shown = Exists(Post.objects.filter(asset=OuterRef("pk")))
    return (
        Asset.objects.filter(provenance__isnull=True)
        .filter(Q(job__isnull=False) | shown)
        .select_related("job")
        .order_by("id")
    )


def records_backfill(*, progress: bool = False) -> int:
    """Write the missing records, oldest asset first (so parents come before their children).
    Safe to run again and alongside the workers: an asset that got its record meanwhile is
    skipped. Returns how many were written."""
    import sys

    from django.db import IntegrityError
    from tqdm import tqdm

    todo = assets_to_backfill()
    written = 0
    with tqdm(
        total=todo.count(), desc="provenance backfill", file=sys.stderr, disable=not progress
    ) as bar:
        for asset in todo.iterator(chunk_size=500):
            bar.update(1)
            try:
                with transaction.atomic():
                    if ProvenanceRecord.objects.filter(asset=asset).exists():
                        continue
                    record_backfill(asset=asset)
                    written += 1
            except IntegrityError:  # written by someone else between the check and the insert
                logger.info("asset %s got its record meanwhile", asset.id)
    return written

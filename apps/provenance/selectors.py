"""Reads of provenance records: by asset, by id for a viewer, and whether prompts show.

Who may read a record: whoever may see its asset (``Asset.objects.visible_to``). Its prompt texts
are shown to others only when the creator has not hidden them (see ``prompt_hidden_ids``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.media.models import Asset
from apps.provenance.models import ProvenanceRecord


def record_for_asset(*, asset: Asset) -> ProvenanceRecord | None:
    """The asset's record, or None (an upload, or stored before records existed and not yet
    backfilled). No visibility check: callers hold an asset they may already use."""
    return ProvenanceRecord.objects.filter(asset_id=asset.pk).first()


def record_ids_for_assets(*, asset_ids: Iterable[int]) -> dict[int, int]:
    """{asset id: record id} for those of ``asset_ids`` that have a record, in one query."""
    ids = {int(i) for i in asset_ids}
    if not ids:
        return {}
    return dict(ProvenanceRecord.objects.filter(asset_id__in=ids).values_list("asset_id", "id"))


def _viewer_id(viewer) -> int | None:
    return viewer.pk if viewer is not None and viewer.is_authenticated else None


def record_get_visible(*, record_id: int, viewer) -> ProvenanceRecord:
    """The record if ``viewer`` may see its asset; ``not_found`` otherwise (as for a record that
    does not exist, so ids reveal nothing)."""
    record = (
        ProvenanceRecord.objects.filter(id=record_id, asset__in=Asset.objects.visible_to(viewer))
        .select_related("creator")
        .first()
    )
    if record is None:
        raise ApplicationError("not_found", _("Not found."))
    return record


def prompt_hidden_ids(*, records: Iterable[ProvenanceRecord], viewer) -> set[int]:
    """The ids of ``records`` whose prompt texts ``viewer`` must not see. Two queries at most.

    A creator always sees their own. For anyone else a record's prompts are hidden when a post
    showing its asset hides its prompt, or when its creator hid the same prompt text on any of
    their posts: edits (trim, stitch, extend, upscale) carry their source's prompt, so hiding it
    on one post hides it on every record of that creator that repeats it.
    """
    viewer_id = _viewer_id(viewer)
    others = [r for r in records if r.creator_id != viewer_id]
    if not others:
        return set()
    from apps.posts.models import Post

    hidden_assets = set(
        Post.objects.filter(asset_id__in={r.asset_id for r in others}, hide_prompt=True)
        .values_list("asset_id", flat=True)
        .distinct()
    )
    texts = Q()
    for creator_id in {r.creator_id for r in others}:
        prompts = {r.prompt for r in others if r.creator_id == creator_id and r.prompt}
        if prompts:
            texts |= Q(creator_id=creator_id, prompt__in=prompts)
    hidden_texts: set[tuple[int, str]] = set()
    if texts:
        hidden_texts = set(
            ProvenanceRecord.objects.filter(texts)
            .filter(asset__posts__hide_prompt=True)
            .values_list("creator_id", "prompt")
            .distinct()
        )
    return {
        r.id
        for r in others
        if r.asset_id in hidden_assets or (r.creator_id, r.prompt) in hidden_texts
    }


def prompt_visible(*, record: ProvenanceRecord, viewer) -> bool:
    return record.id not in prompt_hidden_ids(records=[record], viewer=viewer)

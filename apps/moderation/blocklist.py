"""Media the moderators removed, refused when someone publishes it again.

A removal puts the post's media on the blocklist (``MediaBlock``: its sha256 and perceptual
hash). At publish, the asset is compared with it: the same bytes, or a picture within
``MODERATION_BLOCKLIST_DISTANCE`` bits of a blocked one through the provenance near-copy index
(a re-encode, resize, light crop or re-generation of the same scene). A match is refused with
422 ``policy_violation`` and flags the publisher for the moderators.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.moderation.models import CaseFlag, MediaBlock, Reason, Target


def blocklist_match(*, asset) -> tuple[MediaBlock, int] | None:
    """The active block ``asset`` copies and the Hamming distance, or None."""
    blocks = MediaBlock.objects.filter(lifted_at__isnull=True)
    exact = blocks.filter(sha256=asset.sha256).first()
    if exact is not None:
        return exact, 0
    if not asset.phash:
        return None
    from apps.provenance import matching

    limit = int(getattr(settings, "MODERATION_BLOCKLIST_DISTANCE", 10))
    near = {n.asset_id: n.distance for n in matching.near(asset.phash, max_distance=limit)}
    near.pop(asset.id, None)
    if not near:
        return None
    # A block without a perceptual hash (a flat picture, whose hash means nothing) matches
    # exact copies only.
    block = blocks.filter(asset_id__in=list(near)).exclude(phash="").first()
    if block is None:
        return None
    return block, near[block.asset_id]


def blocklist_check(*, asset) -> None:
    """Refuse to publish a copy of removed media (422), flagging the publisher's case."""
    found = blocklist_match(asset=asset)
    if found is None:
        return
    block, distance = found
    from apps.moderation.cases import case_open_or_join

    reason = block.action.reason_code if block.action_id else Reason.OTHER
    with transaction.atomic():
        case_open_or_join(
            target_type=Target.USER,
            target_id=asset.owner_id,
            subject=asset.owner,
            reason=reason,
            flag_source=CaseFlag.Source.MEDIA_BLOCKLIST,
            flag_source_id=asset.id,
            detail={"asset_id": str(asset.id), "block_id": str(block.id), "distance": distance},
        )
    raise ApplicationError(
        "policy_violation",
        "This matches media the moderators removed, so it cannot be published.",
        fields={"asset_id": ["Matches removed media."]},
    )

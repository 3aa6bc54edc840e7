"""The near-copy index's table (imported by ``apps.provenance.models``; the logic is in
``apps.provenance.matching``)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class PerceptualKey(models.Model):
    """One 16-bit band of one frame's 64-bit perceptual hash.

    Four rows per frame (an image has one frame; a clip has its poster and keyframes at 25, 50
    and 75 %). A lookup probes ``(band, value)`` for the query's bands and their near values and
    reads the whole ``hash`` from the same index entry, so the distance is checked without
    visiting the table. See ``apps.provenance.matching`` for why four bands of sixteen bits.
    """

    asset = models.ForeignKey(
        "media.Asset", on_delete=models.CASCADE, related_name="perceptual_keys", db_index=False
    )
    # 0: the image, or a clip's poster frame; 1..3: a clip's frames at 25, 50 and 75 %.
    frame = models.PositiveSmallIntegerField()
    band = models.PositiveSmallIntegerField()
    value = models.IntegerField()  # the band's 16 bits, 0..65535
    # The frame's whole 64-bit hash as a signed (two's complement) integer.
    hash = models.BigIntegerField()

    class Meta:
        constraints = [
            # Also the index behind re-indexing and deleting an asset's keys.
            models.UniqueConstraint(
                fields=["asset", "frame", "band"], name="perceptual_key_asset_frame_band"
            ),
            models.CheckConstraint(
                condition=Q(band__gte=0, band__lte=3, value__gte=0, value__lte=65535),
                name="perceptual_key_band_value",
            ),
        ]
        indexes = [
            models.Index(
                fields=["band", "value"],
                include=["hash", "asset", "frame"],
                name="perceptual_key_probe",
            )
        ]

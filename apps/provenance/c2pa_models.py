"""The table of files that carry Vivid's content credentials (imported by
``apps.provenance.models``; the signing is in ``apps.provenance.c2pa`` and ``embedding``)."""

from __future__ import annotations

from django.db import models


class CredentialedFile(models.Model):
    """One stored file with a C2PA manifest Vivid signed: an asset's original or a variant.

    Signing changes a file's bytes, so the hash in the provenance record (of what the backend
    or editor produced) is never the hash of a file anyone downloads. This row is how any
    served copy, byte for byte, leads back to its asset and record: look it up by ``sha256``.
    """

    sha256 = models.CharField(max_length=64, db_index=True)  # of the stored, signed file
    asset = models.ForeignKey(
        "media.Asset", on_delete=models.CASCADE, related_name="credentialed_files"
    )
    record = models.ForeignKey(
        "provenance.ProvenanceRecord", on_delete=models.PROTECT, related_name="files"
    )
    # "original" or a variant name (thumb, preview, poster, video_720p, ...).
    rendition = models.CharField(max_length=30)
    path = models.CharField(max_length=200)  # storage path
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["path", "sha256"], name="credentialed_file_unique")
        ]
        indexes = [models.Index(fields=["asset", "rendition"], name="credentialed_file_asset")]

"""Provenance records: how each asset was made, in an append-only, hash-chained, signed log.

One record per asset, written in the transaction that stores the asset, on the creator's own
chain (``user:<id>``) of the ``provenance`` log (``apps.core.ledger``), so writers of different
creators never wait for each other.

Hidden prompts: a creator may hide a post's prompt, yet the record's hash and signature are public.
Were the prompt hashed as is, anyone could confirm a guessed prompt by recomputing the hash. So
the hash covers a salted commitment to each prompt text (``sha256(salt || label || text)``, a
random 32-byte salt per record kept in the row and served to nobody but the creator), and
``verify_extra`` recomputes the commitments from the stored texts, so an edited prompt is still
caught by the verifier. The canonical form is documented in docs/provenance.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ledger import ChainedRecord


def prompt_commitment(salt_hex: str, label: str, text: str) -> str:
    """``sha256(salt || label || 0x0A || utf8(text))`` as hex: hides ``text`` without the salt."""
    return hashlib.sha256(
        bytes.fromhex(salt_hex) + label.encode() + b"\n" + text.encode()
    ).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(32)


class ProvenanceRecord(ChainedRecord):
    """How one asset was made: prompt, backend, model, parameters and seed, the records of the
    assets it was made from (remix parent, edit inputs), the likeness consents it relied on, and
    the asset's content and perceptual hashes. Never changed or deleted once written."""

    LOG = "provenance"
    # The content entering the record's hash (with the ledger's own columns): prompts only
    # through their salted commitments, see the module docstring.
    HASHED_FIELDS = (
        "asset",
        "creator",
        "kind",
        "op",
        "prompt_commitment",
        "negative_prompt_commitment",
        "backend",
        "model_name",
        "model_version",
        "params",
        "seed",
        "parents",
        "likeness_consents",
        "asset_sha256",
        "asset_phash",
        "backfilled",
    )

    class Op(models.TextChoices):
        GENERATE = "generate"
        TRIM = "trim"
        STITCH = "stitch"
        EXTEND = "extend"
        UPSCALE = "upscale"
        UPLOAD = "upload"
        BACKFILL = "backfill"  # made before records existed, by a path no longer known

    asset = models.OneToOneField("media.Asset", on_delete=models.PROTECT, related_name="provenance")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provenance_records"
    )
    kind = models.CharField(max_length=5)  # "image" or "video", as the asset
    op = models.CharField(max_length=8, choices=Op.choices)
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    # 32 random bytes (hex) behind both commitments; served to the creator only.
    prompt_salt = models.CharField(max_length=64)
    prompt_commitment = models.CharField(max_length=64)
    negative_prompt_commitment = models.CharField(max_length=64)
    backend = models.CharField(max_length=50, blank=True)  # alias in GENERATION_BACKENDS
    # The backend's model (named so: ``ledger.append`` takes ``model`` as the log's class).
    model_name = models.CharField(max_length=100, blank=True)
    model_version = models.CharField(max_length=50, blank=True)
    # Every parameter the backend or editor was given (size, quality, duration_s, seed, ...).
    params = models.JSONField(default=dict)
    seed = models.BigIntegerField(null=True, blank=True)
    # Record ids (as strings) of what this asset was made from: the remix parent's record, the
    # edit's inputs in order. Mirrored in ``ProvenanceLink`` for lookups in the other direction.
    parents = models.JSONField(default=list)
    # Consent event ids (as strings) this generation relied on (apps.consent).
    likeness_consents = models.JSONField(default=list)
    asset_sha256 = models.CharField(max_length=64, db_index=True)
    asset_phash = models.CharField(max_length=16, blank=True)
    # Written after the fact for an asset stored before records existed.
    backfilled = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="provenance_chain_seq"),
            models.CheckConstraint(
                condition=Q(
                    op__in=["generate", "trim", "stitch", "extend", "upscale", "upload", "backfill"]
                ),
                name="provenance_op_valid",
            ),
        ]
        indexes = [models.Index(fields=["creator", "-id"], name="provenance_creator_recent")]

    def verify_extra(self) -> str | None:
        """The stored prompt texts must still match the commitments the hash covers."""
        for label, text, commitment in (
            ("prompt", self.prompt, self.prompt_commitment),
            ("negative_prompt", self.negative_prompt, self.negative_prompt_commitment),
        ):
            try:
                expected = prompt_commitment(self.prompt_salt, label, text)
            except ValueError:
                return "the prompt salt is damaged"
            if not hmac.compare_digest(expected, commitment):
                return f"the stored {label} no longer matches its commitment (edited)"
        return None


class ProvenanceLink(models.Model):
    """One parent of a record, as a row: finds a record's descendants (the ``parents`` JSON is
    the signed truth; this mirrors it, written in the same transaction, append-only too)."""

    child = models.ForeignKey(
        ProvenanceRecord, on_delete=models.PROTECT, related_name="parent_links"
    )
    parent = models.ForeignKey(
        ProvenanceRecord, on_delete=models.PROTECT, related_name="child_links"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "position"], name="provenance_link_unique")
        ]
        indexes = [models.Index(fields=["parent", "child"], name="provenance_link_parent")]


# Tables kept in their own modules: files carrying Vivid's content credentials
# (apps.provenance.embedding) and the near-copy index (apps.provenance.matching).
from apps.provenance.c2pa_models import CredentialedFile  # noqa: E402, F401
from apps.provenance.matching_models import PerceptualKey  # noqa: E402, F401

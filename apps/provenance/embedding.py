"""Content credentials in every file Vivid makes: the original of each generation or edit, and
every served variant (thumb, preview, poster, renditions, loops).

Sign last. A credential covers the exact bytes, so it is added after the final encode: the
original as the backend or editor produced it (a PNG after its metadata chunks are dropped, an
MP4 as encoded), each variant after its own encode. Variants and edits name their source file
(the signed original) as their ``parentOf`` ingredient, so a reader can follow a thumbnail back
to the original's manifest and from there to the provenance record.

How hashes relate (what ``/provenance/verify`` relies on):
- ``ProvenanceRecord.asset_sha256`` is the hash of what the backend or editor produced, before
  any credential: the record is written first, and the credential names the record.
- ``Asset.sha256`` and the stored original are the signed file: the original a person
  downloads is exactly the file whose hash the asset states (its content address).
- every signed file, original and variants, has a ``CredentialedFile`` row with its sha256;
  ``record_for_file`` answers "which record does this exact file belong to".

Only what Vivid made gets credentials (a record of a generation or an edit): an upload, an
avatar, or an asset whose origin a backfill could not tell was not made (or not known to be made)
by Vivid, and a signature saying so would be false.

When the original is signed: in the job's own transaction, right after its record is written
(``apps.generation.services``), so a finished job never shows an unsigned original. An asset
whose record came later (backfilled) is signed by its next variant run (``make_variants`` or
``manage.py media_rebuild``).
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from importlib import metadata

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists

from apps.media.models import Asset
from apps.provenance import c2pa
from apps.provenance.c2pa_models import CredentialedFile
from apps.provenance.models import ProvenanceRecord

logger = logging.getLogger(__name__)

ORIGINAL = "original"
GENERATOR = "Vivid"
# Edits take at most 8 inputs (stitch); each is an ingredient of the result.
MAX_INGREDIENTS = 8
# Records of what Vivid itself made. An upload, or an asset whose origin the backfill could not
# tell (op "backfill"), gets no credential: saying "made by Vivid's AI" would be a guess.
MADE_BY_VIVID = ("generate", "trim", "stitch", "extend", "upscale")


@cache
def generator_version() -> str:
    try:
        return metadata.version("vivid")
    except metadata.PackageNotFoundError:
        return "dev"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: str) -> bytes:
    with default_storage.open(path, "rb") as f:
        return f.read()


def record_for_file(*, sha256: str) -> ProvenanceRecord | None:
    """The record behind a file Vivid signed and served, by the file's exact sha256."""
    row = CredentialedFile.objects.filter(sha256=sha256).select_related("record").first()
    return row.record if row is not None else None


def asset_ids_for_file(*, sha256: str) -> set[int]:
    """Every asset one of whose stored files has exactly this hash: its original (signed or
    not, ``Asset.sha256``) or any signed variant. What an exact-copy lookup should use."""
    ids = set(Asset.objects.filter(sha256=sha256).values_list("id", flat=True))
    ids |= set(CredentialedFile.objects.filter(sha256=sha256).values_list("asset_id", flat=True))
    return ids


def is_signed(*, asset: Asset) -> bool:
    return CredentialedFile.objects.filter(
        asset_id=asset.pk, rendition=ORIGINAL, path=asset.original
    ).exists()


def needs_signing(*, asset: Asset) -> bool:
    """The asset has a record but its stored original carries no credential of ours yet (the
    record was written after it was stored: a backfill). One query."""
    signed = CredentialedFile.objects.filter(
        asset_id=asset.pk, rendition=ORIGINAL, path=asset.original
    )
    return (
        ProvenanceRecord.objects.filter(asset_id=asset.pk, op__in=MADE_BY_VIVID)
        .filter(~Exists(signed))
        .exists()
    )


def _sources(asset: Asset) -> list[Asset]:
    """The assets an edit was made from, in order (none for a generation)."""
    job = asset.job
    if job is None or job.op == "generate":
        return []
    return [ji.asset for ji in job.job_inputs.select_related("asset").order_by("position")][
        :MAX_INGREDIENTS
    ]


def asset_sign_original(
    *,
    asset: Asset,
    record: ProvenanceRecord | None = None,
    data: bytes | None = None,
    fresh: bool = False,
) -> bool:
    """Replace the asset's stored original by the same file with content credentials, and
    record the signed file's hash. Returns whether it signed (False: no record, or signed
    already). Runs in the transaction that wrote the record.

    ``data``: the original's bytes when the caller holds them (saves reading them back; used
    only if they are the stored original's bytes). ``fresh``: the asset was stored in this very
    transaction, so it cannot be signed yet (saves a query). The unsigned file is deleted after
    commit unless another asset still uses it.
    """
    record = record or ProvenanceRecord.objects.filter(asset_id=asset.pk).first()
    if record is None or record.op not in MADE_BY_VIVID:
        return False
    if not fresh and is_signed(asset=asset):
        return False
    if data is not None and asset.mime == "image/png":
        from apps.media.images import png_strip

        data = png_strip(data)
    if data is None or _sha(data) != asset.sha256:
        data = _read(asset.original)
    sources = _sources(asset)
    ingredients = [
        c2pa.Ingredient(_read(s.original), s.mime, ORIGINAL if i == 0 else f"input {i + 1}")
        for i, s in enumerate(sources)
    ]
    signed = c2pa.sign(
        data,
        asset.mime,
        record_id=record.id,
        record_hash=record.record_hash,
        generator_name=GENERATOR,
        generator_version=generator_version(),
        action="c2pa.edited" if ingredients else "c2pa.created",
        ingredients=ingredients,
        rendition=ORIGINAL,
    )
    from apps.media.services import _EXT, _store, content_path

    sha = _sha(signed)
    path = content_path(sha, _EXT[asset.mime])
    _store(path, signed)
    unsigned = asset.original
    Asset.objects.filter(id=asset.id).update(sha256=sha, original=path, bytes=len(signed))
    asset.sha256, asset.original, asset.bytes = sha, path, len(signed)
    CredentialedFile.objects.create(
        sha256=sha, asset=asset, record=record, rendition=ORIGINAL, path=path
    )

    def drop_unsigned() -> None:
        if not Asset.objects.filter(original=unsigned).exists():
            default_storage.delete(unsigned)

    transaction.on_commit(drop_unsigned)
    return True


def original_credential(
    *, asset: Asset, record: ProvenanceRecord, data: bytes | None = None
) -> bool:
    """``asset_sign_original`` for a job's result, right after its record is written. A failure
    to sign is logged, not raised: the job's result stands unsigned, and its next variant run
    tries again (``ensure_original_signed``). Nothing is written before the signature is made,
    so a refusal leaves nothing to roll back."""
    try:
        return asset_sign_original(asset=asset, record=record, data=data, fresh=True)
    except c2pa.CredentialError:
        logger.exception("could not sign the original of asset %s", asset.id)
        return False


def ensure_original_signed(*, asset: Asset) -> None:
    """Sign an original that should carry credentials and does not yet (its record was written
    after it was stored: a backfill). Locks the asset so two variant runs sign it once."""
    if not needs_signing(asset=asset):
        return
    with transaction.atomic():
        locked = Asset.objects.select_for_update().filter(id=asset.id).first()
        if locked is None:  # deleted meanwhile
            return
        try:
            asset_sign_original(asset=locked)
        except c2pa.CredentialError:
            logger.exception("could not sign the original of asset %s", asset.id)
            return
    asset.sha256, asset.original, asset.bytes = locked.sha256, locked.original, locked.bytes


class VariantSigner:
    """Signs the variants of one asset, naming its signed original as their source. Made once
    per variant run (one record lookup); a no-op for assets without a record."""

    def __init__(self, asset: Asset, original: bytes):
        self.asset = asset
        self.original = original
        self.record = ProvenanceRecord.objects.filter(
            asset_id=asset.pk, op__in=MADE_BY_VIVID
        ).first()

    @property
    def active(self) -> bool:
        return self.record is not None

    def sign(self, data: bytes, mime: str, *, rendition: str, action: c2pa.Action) -> bytes:
        if self.record is None:
            return data
        return c2pa.sign(
            data,
            mime,
            record_id=self.record.id,
            record_hash=self.record.record_hash,
            generator_name=GENERATOR,
            generator_version=generator_version(),
            action=action,
            ingredients=[c2pa.Ingredient(self.original, self.asset.mime, ORIGINAL)],
            rendition=rendition,
        )

    def stored(self, *, rendition: str, path: str) -> None:
        """Record the file now at ``path`` (hashed as stored: a concurrent run may have written
        its own signed copy first, and that copy is the one served)."""
        if self.record is None:
            return
        sha = _sha(_read(path))
        try:
            with transaction.atomic():
                CredentialedFile.objects.get_or_create(
                    path=path,
                    sha256=sha,
                    defaults={"asset": self.asset, "record": self.record, "rendition": rendition},
                )
        except IntegrityError:
            if Asset.objects.filter(id=self.asset.pk).exists():
                raise
            # The asset was deleted while its variants were being made: nothing to record.

"""The provenance record as the API shows it (``GET /api/v1/provenance/{id}``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.serializers import UserOut
from apps.core import ledger
from apps.provenance.models import ProvenanceRecord


def _c2pa_embedded(record: ProvenanceRecord) -> bool:
    # Content credentials are written by apps.provenance.embedding; without it, none are.
    try:
        from apps.provenance.embedding import is_signed
    except ImportError:
        return False
    return is_signed(asset=record.asset)


def record_data(record: ProvenanceRecord, *, viewer, prompt_hidden: bool) -> dict[str, Any]:
    """The record for ``viewer``. Prompt texts are null when hidden from them; the salt behind
    the prompt commitments goes to the creator only (it lets them prove their prompt)."""
    is_creator = viewer is not None and viewer.is_authenticated and viewer.pk == record.creator_id
    data = {
        "id": str(record.id),
        "asset_id": str(record.asset_id),
        "asset_sha256": record.asset_sha256,
        "asset_phash": record.asset_phash,
        "kind": record.kind,
        "op": record.op,
        "prompt": None if prompt_hidden else record.prompt,
        "negative_prompt": None if prompt_hidden else record.negative_prompt,
        "prompt_hidden": prompt_hidden,
        "backend": record.backend,
        "model": record.model_name,
        "model_version": record.model_version,
        "params": record.params,
        "seed": record.seed,
        "parents": list(record.parents),
        "likeness_consents": list(record.likeness_consents),
        "creator": UserOut(record.creator).data,
        "created_at": record.created_at.isoformat().replace("+00:00", "Z"),
        "backfilled": record.backfilled,
        "record_hash": record.record_hash,
        "prev_hash": record.prev_hash,
        "signature": record.signature,
        "key_id": record.key_id,
        "verified": ledger.record_valid(record),
        "c2pa": {"embedded": _c2pa_embedded(record)},
    }
    if is_creator:
        data["prompt_salt"] = record.prompt_salt
    return data


class ProvenanceOut(serializers.Serializer):
    """Schema only (the view builds the JSON with ``record_data``)."""

    id = serializers.CharField()
    asset_id = serializers.CharField()
    asset_sha256 = serializers.CharField()
    asset_phash = serializers.CharField()
    kind = serializers.CharField()
    op = serializers.CharField()
    prompt = serializers.CharField(allow_null=True)
    negative_prompt = serializers.CharField(allow_null=True)
    prompt_hidden = serializers.BooleanField()
    backend = serializers.CharField()
    model = serializers.CharField()
    model_version = serializers.CharField()
    params = serializers.DictField()
    seed = serializers.IntegerField(allow_null=True)
    parents = serializers.ListField(child=serializers.CharField())
    likeness_consents = serializers.ListField(child=serializers.CharField())
    creator = UserOut()
    created_at = serializers.DateTimeField()
    backfilled = serializers.BooleanField()
    record_hash = serializers.CharField()
    prev_hash = serializers.CharField()
    signature = serializers.CharField()
    key_id = serializers.CharField()
    verified = serializers.BooleanField()
    c2pa = serializers.DictField()
    prompt_salt = serializers.CharField(required=False)

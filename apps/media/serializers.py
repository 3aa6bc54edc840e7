import re

from django.urls import get_script_prefix, reverse
from rest_framework import serializers

from apps.media import signing
from apps.media.models import Asset

_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_FILE_URL_PREFIX: dict[str, str] = {}  # script prefix -> ".../assets/", reversed once


def _file_url(asset_id: int, variant: str) -> str:
    """``reverse("media:asset-file")``, reversed once per script prefix (a page of cards asks
    for several files of each post: the URL resolver's work each time was a tenth of it)."""
    script = get_script_prefix()
    prefix = _FILE_URL_PREFIX.get(script)
    if prefix is None:
        sample = reverse("media:asset-file", kwargs={"asset_id": 1, "variant": "v"})
        prefix = sample[: -len("1/v")] if sample.endswith("/1/v") else ""
        _FILE_URL_PREFIX[script] = prefix
    if not prefix or not isinstance(asset_id, int) or not _SLUG.fullmatch(variant):
        return reverse("media:asset-file", kwargs={"asset_id": asset_id, "variant": variant})
    return f"{prefix}{asset_id}/{variant}"


def asset_url(asset: Asset, variant: str = "original") -> str:
    """The permission-checked URL of a file. Variant URLs carry the variant's version, so a
    remade variant gets a new URL and cached copies of the old one are never shown for it."""
    url = _file_url(asset.id, variant)
    path = asset.variants.get(variant) if variant != "original" else None
    if path:
        stem = path.rsplit("/", 1)[-1].split(".")[0]  # <sha256>-<settings tag>
        url += "?v=" + stem.rsplit("-", 1)[-1][:12]
    return url


def asset_is_public(asset: Asset) -> bool:
    """Shown to anyone at all (in a public post, or as an avatar); remembered on the instance."""
    if not hasattr(asset, "_is_public"):
        asset._is_public = Asset.objects.visible_to(None).filter(id=asset.id).exists()
    return asset._is_public


def asset_url_for(asset: Asset, variant: str, viewer) -> str:
    """What an API client gets: the plain URL for public media, otherwise a short-lived signed
    link for this viewer (it works without credentials, e.g. in an ``<img>``). Without a known
    viewer (no request in the serializer's context), the plain URL, which works with the
    caller's own credentials."""
    if viewer is None or asset_is_public(asset):
        return asset_url(asset, variant)
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    return signing.signed_url(asset_id=asset.id, variant=variant, viewer_id=viewer_id)


MISSING = object()


def provenance_id_of(asset: Asset, known=MISSING) -> str | None:
    """The asset's provenance record id as a string, or None: ``known`` when the caller's query
    already joined it (feeds, lists), else one lookup."""
    if known is MISSING:
        from apps.provenance.selectors import record_ids_for_assets

        known = record_ids_for_assets(asset_ids=[asset.pk]).get(asset.pk)
    return str(known) if known is not None else None


class _AssetListOut(serializers.ListSerializer):
    """Many assets: their provenance record ids in one query, not one per asset."""

    def to_representation(self, data):
        from apps.provenance.selectors import record_ids_for_assets

        assets = list(data.all() if hasattr(data, "all") else data)
        ids = record_ids_for_assets(asset_ids=[a.pk for a in assets])
        for asset in assets:
            asset._provenance_id = ids.get(asset.pk)
        return super().to_representation(assets)


class AssetOut(serializers.ModelSerializer):
    id = serializers.CharField(read_only=True)
    original_url = serializers.SerializerMethodField()
    variants = serializers.SerializerMethodField()
    provenance_id = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "kind",
            "mime",
            "width",
            "height",
            "duration_s",
            "fps",
            "sha256",
            "phash",
            "bytes",
            "placeholder",
            "original_url",
            "variants",
            "provenance_id",
        ]
        list_serializer_class = _AssetListOut

    def _viewer(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_original_url(self, asset: Asset) -> str:
        return asset_url_for(asset, "original", self._viewer())

    def get_variants(self, asset: Asset) -> dict[str, str]:
        """URLs of the variants made so far: ``thumb``, ``preview`` (images) or ``poster``
        (videos) as WebP, the same with ``_avif``, and for videos ``video_480p``,
        ``video_720p`` (when smaller than the original) and ``loop`` (a few muted seconds)."""
        viewer = self._viewer()
        return {name: asset_url_for(asset, name, viewer) for name in sorted(asset.variants)}

    def get_provenance_id(self, asset: Asset) -> str | None:
        """The id of the asset's signed provenance record (null until it has one)."""
        return provenance_id_of(asset, getattr(asset, "_provenance_id", MISSING))

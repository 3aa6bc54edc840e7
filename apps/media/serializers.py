from django.urls import reverse
from rest_framework import serializers

from apps.media.models import Asset


def asset_url(asset: Asset, variant: str = "original") -> str:
    return reverse("media:asset-file", kwargs={"asset_id": asset.id, "variant": variant})


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
            "sha256",
            "bytes",
            "placeholder",
            "original_url",
            "variants",
            "provenance_id",
        ]

    def get_original_url(self, asset: Asset) -> str:
        return asset_url(asset)

    def get_variants(self, asset: Asset) -> dict[str, str]:
        return {name: asset_url(asset, name) for name in asset.variants}

    def get_provenance_id(self, asset: Asset) -> str | None:
        return None  # signed provenance records arrive with the provenance app

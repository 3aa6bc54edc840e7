"""Template tags that show media the way browsers do best: ``<picture>`` with AVIF and WebP
sources in two sizes, and the dominant colour behind it until the bytes arrive."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join

from apps.media.models import Asset
from apps.media.serializers import asset_url
from apps.media.services import IMAGE_VARIANTS

register = template.Library()

# (variant, longest side) per format, smallest first.
_SOURCES = {
    "image/avif": ("thumb_avif", "preview_avif"),
    "image/webp": ("thumb", "preview"),
}


def _width(asset: Asset, name: str) -> int:
    """The pixel width of a still variant (never wider than the original)."""
    longest = IMAGE_VARIANTS[name].longest
    scale = min(1.0, longest / max(asset.width, asset.height))
    return max(1, round(asset.width * scale))


def _srcset(asset: Asset, names) -> str:
    made = [n for n in names if n in asset.variants]
    return ", ".join(f"{asset_url(asset, n)} {_width(asset, n)}w" for n in made)


@register.simple_tag
def media_url(asset: Asset, variant: str = "original") -> str:
    """The URL of one of an asset's files (the original until the variant exists)."""
    if variant != "original" and variant not in asset.variants:
        return asset_url(asset)
    return asset_url(asset, variant)


@register.simple_tag
def asset_picture(
    asset: Asset,
    alt: str = "",
    sizes: str = "(max-width: 640px) 100vw, 640px",
    loading: str = "lazy",
    main: bool = False,
):
    """``<picture>``: AVIF, then WebP, each as thumb and preview in a ``srcset`` so the browser
    takes the smallest file that is sharp at its size. Before the variants exist, the original.
    ``main`` marks the ``<img>`` as the one the Library's variation picker swaps."""
    sources = []
    srcsets = {mime: _srcset(asset, names) for mime, names in _SOURCES.items()}
    for mime, srcset in srcsets.items():
        if srcset:
            sources.append((mime, srcset, sizes))
    fallback = "preview" if "preview" in asset.variants else "original"
    img_srcset = srcsets["image/webp"]
    return format_html(
        '<picture>{}<img src="{}"{} sizes="{}" alt="{}" width="{}" height="{}" loading="{}"'
        ' decoding="async"{}></picture>',
        format_html_join("", '<source type="{}" srcset="{}" sizes="{}">', sources),
        asset_url(asset, fallback),
        format_html(' srcset="{}"', img_srcset) if img_srcset else "",
        sizes,
        alt,
        asset.width,
        asset.height,
        loading,
        " data-main" if main else "",
    )


@register.simple_tag
def grid_video_src(asset: Asset) -> str:
    """What a grid plays: the short muted loop once made, else the clip itself."""
    return media_url(asset, "loop")

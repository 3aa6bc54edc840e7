"""Reads for media."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.media.models import Asset


def asset_get_visible(*, asset_id: int, viewer) -> Asset:
    asset = Asset.objects.visible_to(viewer).filter(id=asset_id).first()
    if asset is None:
        raise ApplicationError("not_found", _("Not found."))
    return asset

"""Media work on the ``media`` queue (CPU machines)."""

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT
from apps.media import services
from apps.media.models import Asset


@shared_task(acks_late=True, **RETRY_TRANSIENT)
def make_variants(asset_id: int, verify: bool = False) -> None:
    """Make an asset's missing variants. Safe to run twice or at once: files are content-addressed
    and written once, so no row lock is held through the encoding (on SQLite that would block
    every other write for its length)."""
    asset = Asset.objects.filter(id=asset_id).first()
    if asset is None:  # deleted before its variants were made
        return
    services.asset_make_variants(asset=asset, verify=verify)

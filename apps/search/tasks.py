"""Periodic work of search."""

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT
from apps.search import services


@shared_task(ignore_result=True, **RETRY_TRANSIENT)
def tag_counts_refresh() -> int:
    """Recount the posts of every tag (Celery beat, every ``SEARCH_TAG_COUNTS_EVERY_S``)."""
    return services.tag_counts_refresh()

"""Feed fan-out, on the ``feed`` queue."""

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT
from apps.posts import fanout


# A database or Redis failure retries with backoff instead of dropping the event; running twice
# sends the hint twice, which pages de-duplicate by post id.
@shared_task(acks_late=True, **RETRY_TRANSIENT)
def fanout_post_created(post_id: int) -> int:
    return fanout.post_created(post_id=post_id)


@shared_task(acks_late=True, **RETRY_TRANSIENT)
def fanout_post_deleted(post_id: int, author_id: int, visibility: str) -> int:
    return fanout.post_deleted(post_id=post_id, author_id=author_id, visibility=visibility)

"""Feed fan-out, on the ``feed`` queue."""

from celery import shared_task

from apps.posts import fanout


@shared_task(acks_late=True, max_retries=3, default_retry_delay=2)
def fanout_post_created(post_id: int) -> int:
    return fanout.post_created(post_id=post_id)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=2)
def fanout_post_deleted(post_id: int, author_id: int, visibility: str) -> int:
    return fanout.post_deleted(post_id=post_id, author_id=author_id, visibility=visibility)

"""Feed fan-out, on the ``feed`` queue."""

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT
from apps.posts import fanout
from apps.realtime import presence

# A database or Redis failure retries with backoff instead of dropping the event; running twice
# sends the hint twice, which pages de-duplicate by post id.
# A live hint is worth little late: retries at most 2 s apart (for about a minute), so a post
# whose fan-out met a Redis restart reaches open pages soon after Redis is back.
FANOUT_RETRY = {**RETRY_TRANSIENT, "retry_backoff_max": 2, "max_retries": 30}


@shared_task(bind=True, acks_late=True, **FANOUT_RETRY)
def fanout_post_created(self, post_id: int, resend: bool = False) -> int:
    try:
        return fanout.post_created(post_id=post_id, resend=resend)
    except presence.PresenceRebuilding as e:
        # Sent to the pages already back; once more, to everyone online, when the others have
        # had time to return.
        raise self.retry(
            exc=e, countdown=e.retry_in_s, kwargs={"post_id": post_id, "resend": True}
        ) from e


@shared_task(acks_late=True, **FANOUT_RETRY)
def fanout_post_deleted(post_id: int, author_id: int, visibility: str) -> int:
    return fanout.post_deleted(post_id=post_id, author_id=author_id, visibility=visibility)

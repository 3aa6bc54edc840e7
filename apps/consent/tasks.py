"""Consent tasks: thin wrappers that take ids and call one service."""

from celery import shared_task

from apps.consent import services


@shared_task(acks_late=True, max_retries=5, default_retry_delay=2)
def likeness_takedown(person_id: int, event_id: int | None) -> None:
    """Take down what a revocation no longer covers, beyond what its transaction took down.

    Safe to run twice: it reads the consent as it is now.
    """
    services.likeness_takedown_run(person_id=person_id, event_id=event_id)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=2)
def announce_taken_down(posts: list[list[str]]) -> int:
    """``post.deleted`` for each taken-down post ([id, author id, visibility]), wherever it
    could have been shown. A hint: sending it twice is harmless."""
    from apps.posts import fanout

    return sum(
        fanout.post_deleted(post_id=int(pid), author_id=int(aid), visibility=visibility)
        for pid, aid, visibility in posts
    )

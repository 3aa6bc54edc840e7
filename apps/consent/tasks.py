"""Consent tasks: thin wrappers that take ids and call one service."""

from celery import shared_task

from apps.consent import services


@shared_task(acks_late=True, max_retries=5, default_retry_delay=2)
def likeness_takedown(person_id: int, event_id: int) -> None:
    """Take down what a revocation no longer covers, beyond what its transaction took down.

    Safe to run twice: it reads the consent as it is now.
    """
    services.likeness_takedown_run(person_id=person_id, event_id=event_id)

"""Moderation's periodic work."""

from celery import shared_task

from apps.moderation import cases


@shared_task(name="apps.moderation.tasks.flags_ingest", ignore_result=True)
def flags_ingest() -> int:
    """Bring new consent take-downs and held prompts into cases (idempotent)."""
    return cases.flags_ingest()


@shared_task(name="apps.moderation.tasks.suspensions_expire", ignore_result=True)
def suspensions_expire() -> int:
    """Lift suspensions whose time is up."""
    from apps.moderation import actions

    return actions.suspensions_expire()

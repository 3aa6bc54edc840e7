"""Moderation's periodic work."""

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT
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


@shared_task(
    name="apps.moderation.tasks.suspension_email",
    ignore_result=True,
    acks_late=True,
    **{**RETRY_TRANSIENT, "autoretry_for": (*RETRY_TRANSIENT["autoretry_for"], OSError)},
)
def suspension_email(action_id: int) -> bool:
    """Email a suspended person the notice with a link to appeal it (they cannot sign in to
    read it on the site). Safe to run twice: at worst the email goes twice."""
    from apps.moderation import notices

    return notices.suspension_email_send(action_id=action_id)

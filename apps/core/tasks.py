"""Periodic work of the shared parts."""

from celery import shared_task

from apps.core import ledger


@shared_task(
    name="apps.core.tasks.ledger_checkpoint",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def ledger_checkpoint() -> None:
    """Sign the chain heads that moved since the last checkpoint (see apps.core.ledger)."""
    ledger.checkpoint_sign()

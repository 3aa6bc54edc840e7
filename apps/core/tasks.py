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


@shared_task(ignore_result=True)
def outbox_relay() -> int:
    """Hand the broker what the outbox's fast path could not (Celery beat, every few seconds)."""
    from apps.core import outbox

    return outbox.relay()


@shared_task(ignore_result=True)
def core_purge() -> dict[str, int]:
    """Delete sent outbox messages and expired idempotency records (Celery beat, every 10 min)."""
    from apps.core import idempotency, outbox

    return {"outbox": outbox.purge(), "idempotency": idempotency.purge()}

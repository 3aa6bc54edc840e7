"""Account tasks: thin wrappers that take ids and call one service."""

import logging

from celery import shared_task

from apps.core.transient import RETRY_TRANSIENT, TRANSIENT_ERRORS

logger = logging.getLogger(__name__)


# --- data export (apps.accounts.export) ------------------------------------------------------


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8)
def export_build(self, export_id: int) -> None:
    """Build one data export on the ``media`` queue. Safe to run twice: a finished export is
    left alone and an unfinished one starts again (see ``export.export_build``). Transient
    failures (the database or storage restarting) retry with backoff; anything else fails the
    export, and the person may ask again at once (failed exports do not count)."""
    from apps.accounts import export

    try:
        export.export_build(export_id=export_id)
    except TRANSIENT_ERRORS as e:
        if self.request.retries >= self.max_retries:
            export.export_fail(export_id=export_id, message="The export could not be built.")
            return
        raise self.retry(exc=e, countdown=min(60, 2**self.request.retries)) from e
    except Exception:
        logger.exception("data export %s failed", export_id)
        export.export_fail(export_id=export_id, message="The export could not be built.")


@shared_task(ignore_result=True)
def exports_expire() -> int:
    """Delete the zips of exports past their week and mark them expired (Celery beat, hourly)."""
    from apps.accounts import export

    return export.exports_expire()


# --- account deletion (apps.accounts.deletion) -----------------------------------------------


@shared_task(ignore_result=True)
def deletions_purge_due() -> int:
    """Queue the purge of every account whose grace period is over (Celery beat, every 10 min).
    An account still being purged may be queued again: the purge is safe to run twice."""
    from apps.accounts import deletion

    due = deletion.deletions_due()
    for user_id in due:
        account_purge.delay(user_id)
    return len(due)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, **RETRY_TRANSIENT)
def account_purge(user_id: int) -> dict:
    """Purge one deleted account's rows and files, batch by batch (``deletion.account_purge``).
    A worker lost mid-way hands the task back to the broker, and the rerun continues."""
    from apps.accounts import deletion

    return deletion.account_purge(user_id=user_id)


@shared_task(acks_late=True, ignore_result=True, **RETRY_TRANSIENT)
def deletion_sessions_end(user_id: int) -> int:
    """Right after a deletion request: end the account's sessions the session list did not
    know (a scan of the session table, kept out of the request). Safe to run twice."""
    from apps.accounts import deletion

    return deletion.deletion_sessions_end(user_id=user_id)

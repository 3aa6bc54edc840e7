"""Generation tasks: thin wrappers that take ids and call one service."""

import logging

from celery import shared_task

from apps.core.transient import TRANSIENT_ERRORS
from apps.generation import services
from apps.generation.backends.base import BackendError

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def run_generation(self, job_id: int) -> None:
    """Run one job. Transient backend errors retry with backoff; anything else fails the job.

    Acknowledged only when done and requeued if the worker process dies, so a job is never lost.
    """
    try:
        services.job_run(job_id=job_id)
    except services.JobBusy as e:
        # Another worker holds the job, or a dead worker's lock has not expired yet.
        raise self.retry(countdown=services.settings.GENERATION_LOCK_TTL_S, max_retries=20) from e
    except BackendError as e:  # only transient ones reach here
        if self.request.retries >= self.max_retries:
            services.job_fail(job_id=job_id, message=e.message)
            return
        raise self.retry(exc=e, countdown=5 * 2**self.request.retries) from e
    except TRANSIENT_ERRORS as e:  # the database or Redis is restarting: the job waits
        raise self.retry(exc=e, countdown=min(60, 2**self.request.retries)) from e
    except Exception:
        logger.exception("generation job %s failed", job_id)
        services.job_fail(job_id=job_id, message="The generation failed unexpectedly.")


@shared_task
def reap_stale_jobs() -> dict:
    return services.jobs_reap_stale()

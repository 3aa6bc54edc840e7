"""Generation tasks: thin wrappers that take ids and call one service."""

import logging

from celery import shared_task

from apps.generation import services
from apps.generation.backends.base import BackendError

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def run_generation(self, job_id: int) -> None:
    """Run one job. Transient backend errors retry with backoff; anything else fails the job."""
    try:
        services.job_run(job_id=job_id)
    except BackendError as e:  # only transient ones reach here
        if self.request.retries >= self.max_retries:
            services.job_fail(job_id=job_id, message=e.message)
            return
        raise self.retry(exc=e, countdown=5 * 2**self.request.retries) from e
    except Exception:
        logger.exception("generation job %s failed", job_id)
        services.job_fail(job_id=job_id, message="The generation failed unexpectedly.")


@shared_task
def reap_stale_jobs() -> int:
    return services.jobs_reap_stale()

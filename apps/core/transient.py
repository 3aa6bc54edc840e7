"""What counts as a transient failure of the servers Vivid depends on (not of Vivid itself).

One list, read in two places: the API answers these with 503 ``unavailable`` and
``Retry-After`` (``apps.core.middleware``), and tasks retry them with backoff
(``autoretry_for=TRANSIENT_ERRORS``). PostgreSQL restarting, Redis or the broker unreachable:
trying again shortly is the right answer to each.
"""

from __future__ import annotations

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError, OperationalError

DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    kombu.exceptions.OperationalError,  # the broker (Redis or RabbitMQ) unreachable
)
TRANSIENT_ERRORS = DATABASE_ERRORS + REDIS_ERRORS

# Keyword arguments for ``@shared_task``: retry transient failures with exponential backoff
# (1 s, 2 s, 4 s … at most a minute, jittered) instead of dropping the work.
RETRY_TRANSIENT = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


def which(exc: BaseException) -> str | None:
    """``"database"`` or ``"redis"`` for a transient failure, else None."""
    if isinstance(exc, DATABASE_ERRORS):
        return "database"
    if isinstance(exc, REDIS_ERRORS):
        return "redis"
    return None

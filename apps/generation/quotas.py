"""Generation quotas, exact under concurrent requests: one Lua script in Redis decides.

Two limits per creator: how many jobs may be unfinished at once (a Redis set of job ids) and a
daily budget of cost units (a counter that expires at the end of the UTC day). The script checks
both and reserves in one atomic step, so two simultaneous requests can never both take the last
slot. Finished jobs leave the set; failed ones get their units back.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache

import redis
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError

_RESERVE = """
local active, used_key = KEYS[1], KEYS[2]
local job_id, max_active, budget, cost, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('SCARD', active) >= max_active then return 1 end
local used = tonumber(redis.call('GET', used_key) or '0')
if used + cost > budget then return 2 end
redis.call('SADD', active, job_id)
redis.call('INCRBY', used_key, cost)
redis.call('EXPIRE', used_key, ttl)
return 0
"""


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@cache
def _script():
    return _client().register_script(_RESERVE)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'vivid')}:quota"


def _keys(user_id: int, now: datetime) -> tuple[str, str]:
    return f"{_prefix()}:active:{user_id}", f"{_prefix()}:used:{user_id}:{now:%Y%m%d}"


def _seconds_to_midnight(now: datetime) -> int:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def job_cost(*, kind: str, quality: str, count: int = 1, duration_s: float | None = None) -> int:
    """Cost units: a draft image 1, a final image 4; a video second 2 (draft) or 6 (final)."""
    if kind == "video":
        return math.ceil(duration_s or 1) * (6 if quality == "final" else 2)
    return count * (4 if quality == "final" else 1)


def quota_reserve(*, user_id: int, job_id: int, cost: int) -> None:
    """Take a slot and ``cost`` units for a job, or raise 429 ``quota_exceeded``."""
    now = datetime.now(UTC)
    active, used = _keys(user_id, now)
    ttl = _seconds_to_midnight(now) + 3600
    result = _script()(
        keys=[active, used],
        args=[
            job_id,
            settings.GENERATION_MAX_ACTIVE_JOBS,
            settings.GENERATION_DAILY_BUDGET,
            cost,
            ttl,
        ],
    )
    if result == 1:
        raise ApplicationError(
            "quota_exceeded",
            f"You have {settings.GENERATION_MAX_ACTIVE_JOBS} generations running; wait for one "
            "to finish.",
            retry_after=5,
        )
    if result == 2:
        raise ApplicationError(
            "quota_exceeded",
            _("You have used today's generation budget; it renews at midnight UTC."),
            retry_after=_seconds_to_midnight(now),
        )


def quota_release(
    *, user_id: int, job_id: int, refund: int = 0, day: datetime | None = None
) -> None:
    """Free the job's slot (safe to call twice); ``refund`` gives units back to the day's budget."""
    active, used = _keys(user_id, day or datetime.now(UTC))
    pipe = _client().pipeline()
    pipe.srem(active, job_id)
    if refund:
        pipe.decrby(used, refund)
    pipe.execute()


def quota_usage(*, user_id: int) -> dict[str, int]:
    active, used = _keys(user_id, datetime.now(UTC))
    client = _client()
    return {
        "active_jobs": client.scard(active),
        "max_active_jobs": settings.GENERATION_MAX_ACTIVE_JOBS,
        "used_today": int(client.get(used) or 0),
        "daily_budget": settings.GENERATION_DAILY_BUDGET,
    }


def quota_reconcile(*, finished: set[int] | None = None) -> int:
    """Drop ids of jobs that are no longer unfinished from every active set (after a crash).

    Returns how many slots were freed.
    """
    from apps.generation.models import GenerationJob

    client = _client()
    freed = 0
    for key in client.scan_iter(match=f"{_prefix()}:active:*", count=500):
        members = [int(m) for m in client.smembers(key)]
        if not members:
            continue
        alive = set(
            GenerationJob.objects.filter(id__in=members)
            .exclude(status__in=GenerationJob.FINISHED)
            .values_list("id", flat=True)
        )
        stale = [m for m in members if m not in alive]
        if stale:
            freed += client.srem(key, *stale)
    return freed

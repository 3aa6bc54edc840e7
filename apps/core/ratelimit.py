"""Fixed-window rate limits in Redis, exact across every web process in one round trip."""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings

from apps.core.exceptions import ApplicationError


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def rate_limit_take(*, scope: str, key: str, limit: int, window_s: int, message: str) -> None:
    """Count one ``scope`` action by ``key`` in the current window, or raise 429 ``rate_limited``
    with ``Retry-After`` (INCR, and EXPIRE on the first of the window)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "vivid")
    name = f"{prefix}:rate:{scope}:{key}"
    pipe = _redis().pipeline()
    pipe.incr(name)
    pipe.expire(name, window_s, nx=True)
    pipe.ttl(name)
    count, _, ttl = pipe.execute()
    if count > limit:
        wait = ttl if ttl and ttl > 0 else window_s
        raise ApplicationError(
            "rate_limited", f"{message} Try again in {wait} s.", retry_after=wait
        )

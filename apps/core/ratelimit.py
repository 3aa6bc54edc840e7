"""Fixed-window rate limits in Redis, exact across every web process in one round trip.

Each count is one ``INCR`` (with ``EXPIRE`` on the first of the window) in a MULTI/EXEC
pipeline, so concurrent requests in every process see one counter and exactly ``limit`` of them
get through a window; the next answer 429 ``rate_limited`` with ``Retry-After`` (the seconds left
in the window). A fixed window lets through at most twice the limit across a window boundary;
that is the price of one round trip and one key per counter.

The limits of ``settings.RATE_LIMITS`` (``"<count>/<window>"``, e.g. ``"10/15m"``) are named:

- ``login_account`` / ``login_address``: failed log-ins per username (known or not: the same
  counter, answer and timing either way) and per client address. An attempt takes a slot before
  the password is checked, and a successful one gives it back, so concurrent guesses cannot slip
  past the limit while a person who logs in often is never held up by it.
- ``signup_address``: sign-ups per address.
- ``password_reset_address``: password-reset emails asked for per address (the same answer
  for known and unknown emails, so the count is per address, not per account).
- ``writes_user``: writes per person (every POST/PUT/PATCH/DELETE of the API and the site:
  posts, comments, reactions, follows, reports, generations ...). Reports also keep their own
  hourly limit (apps.moderation.cases) and generations their quotas (apps.generation.quotas).
- ``socket_address``: socket connections opened per address (apps.realtime.consumers closes the
  socket past it with ``CLOSE_CONNECT_RATE``).

``RATE_LIMITS_ENABLED=0`` turns every limit counted here off (load tests and benchmarks).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import weakref
from contextlib import contextmanager
from functools import cache

import redis
import redis.asyncio as aredis
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def _error() -> type:
    """``ApplicationError``, imported when first needed: DRF imports this module (a setting)
    while importing its views, which apps.core.exceptions imports in turn."""
    from apps.core.exceptions import ApplicationError

    return ApplicationError


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")

MESSAGES = {
    "login_account": _("Too many failed log-ins for this account."),
    "login_address": _("Too many failed log-ins from your address."),
    "signup_address": _("Too many sign-ups from your address."),
    "password_reset_address": _("Too many password resets asked from your address."),
    "writes_user": _("You are making changes faster than a person would."),
    "socket_address": _("Too many connections from your address."),
}


def enabled() -> bool:
    return bool(getattr(settings, "RATE_LIMITS_ENABLED", True))


def parse_rate(text: str) -> tuple[int, int]:
    """``"10/15m"`` → ``(10, 900)``: a count and a window in seconds (units s, m, h, d)."""
    match = _RATE.match(str(text))
    if match is None:
        raise ValueError(f"a rate limit reads like '10/15m', not {text!r}")
    count, times, unit = match.groups()
    return int(count), int(times or 1) * _UNITS[unit]


def configured(name: str) -> tuple[int, int]:
    """The ``(limit, window_s)`` of the named limit in ``settings.RATE_LIMITS``."""
    return parse_rate(settings.RATE_LIMITS[name])


def counter_key(scope: str, key: str) -> str:
    """The Redis key of one counter."""
    # Tests give each test its own namespace (RATE_LIMITS_KEY_PREFIX); otherwise the cache's.
    prefix = getattr(settings, "RATE_LIMITS_KEY_PREFIX", "") or settings.CACHES["default"].get(
        "KEY_PREFIX", "vivid"
    )
    return f"{prefix}:rate:{scope}:{key}"


@cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def _refuse(count: int, ttl: int, *, limit: int, window_s: int, message: str) -> None:
    if count > limit:
        wait = ttl if ttl and ttl > 0 else window_s
        # Translated in the request's language; the code stays "rate_limited".
        text = gettext("%(message)s Try again in %(wait)s s.") % {"message": message, "wait": wait}
        raise _error()("rate_limited", text, retry_after=wait)


def rate_limit_take(*, scope: str, key: str, limit: int, window_s: int, message: str) -> None:
    """Count one ``scope`` action by ``key`` in the current window, or raise 429 ``rate_limited``
    with ``Retry-After`` (INCR, and EXPIRE on the first of the window)."""
    if not enabled():
        return
    pipe = client().pipeline()
    name = counter_key(scope, key)
    pipe.incr(name)
    pipe.expire(name, window_s, nx=True)
    pipe.ttl(name)
    count, _, ttl = pipe.execute()
    _refuse(count, ttl, limit=limit, window_s=window_s, message=message)


# Give a slot back, only while its window lasts (a DECR on an expired key would make a counter
# that never expires).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


def rate_limit_give_back(*, scope: str, key: str) -> None:
    """Undo one ``rate_limit_take`` of the current window (an attempt that turned out fine)."""
    if enabled():
        client().eval(_GIVE_BACK, 1, counter_key(scope, key))


def limit_take(name: str, *, key: str) -> None:
    """Count one action against the named limit of ``settings.RATE_LIMITS``, or raise 429."""
    limit, window_s = configured(name)
    rate_limit_take(scope=name, key=key, limit=limit, window_s=window_s, message=MESSAGES[name])


_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _asyncclient() -> aredis.Redis:
    """One client per event loop (tests run each in its own loop; a server has one)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        _async_clients[loop] = client
    return client


async def limit_take_async(name: str, *, key: str) -> None:
    """``limit_take`` for consumers, without blocking the event loop."""
    if not enabled():
        return
    limit, window_s = configured(name)
    name_key = counter_key(name, key)
    async with _asyncclient().pipeline() as pipe:
        pipe.incr(name_key)
        pipe.expire(name_key, window_s, nx=True)
        pipe.ttl(name_key)
        count, _, ttl = await pipe.execute()
    _refuse(count, ttl, limit=limit, window_s=window_s, message=MESSAGES[name])


def address_key(address: str) -> str:
    """The counter key of a client address: an IPv6 client counts by its /64, the block one
    subscriber gets, so a new address per request gains nothing."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(request) -> str:
    """The address a request came from (``REMOTE_ADDR``: behind a proxy, uvicorn's
    ``--proxy-headers`` sets it from a trusted proxy's X-Forwarded-For), as a counter key."""
    return address_key(request.META.get("REMOTE_ADDR", "") or "unknown")


def username_key(username: str) -> str:
    """A username as a counter key: case-folded (log-in ignores case) and hashed (any text a
    client sends stays out of Redis key names)."""
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


@contextmanager
def login_attempt(*, username: str, address: str):
    """Around one password check: raise 429 when this username or this address has failed too
    often in the window; a check that ends without an exception (the password was right) gives
    its slots back. The same for known and unknown usernames: nothing is looked up first."""
    taken: list[tuple[str, str]] = []
    try:
        for name, key in (("login_address", address), ("login_account", username_key(username))):
            limit_take(name, key=key)
            taken.append((name, key))
    except _error():
        for name, key in taken:  # a refused attempt checks no password: it is not a failure
            rate_limit_give_back(scope=name, key=key)
        raise
    yield
    for name, key in taken:
        rate_limit_give_back(scope=name, key=key)


class WritesThrottle:
    """DRF throttle: every write (POST, PUT, PATCH, DELETE) of a signed-in person counts against
    ``writes_user``. Raises the API's 429 itself, so ``Retry-After`` is the window's."""

    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and user and user.is_authenticated:
            limit_take("writes_user", key=str(user.pk))
        return True

    def wait(self) -> None:  # pragma: no cover - allow_request never says no
        return None


class SiteWritesMiddleware:
    """The site's forms (posting, commenting, reacting, following ...) count against
    ``writes_user`` as the API's writes do; past it, a short 429 page with ``Retry-After``.
    The API counts its own writes (``WritesThrottle``: a token is known only inside DRF)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            request.method in ("POST", "PUT", "PATCH", "DELETE")
            and not request.path.startswith("/api/")
            and user is not None
            and user.is_authenticated
        ):
            try:
                limit_take("writes_user", key=str(user.pk))
            except _error() as e:
                from django.http import HttpResponse

                response = HttpResponse(e.message, status=429, content_type="text/plain")
                response["Retry-After"] = str(e.retry_after)
                return response
        return self.get_response(request)

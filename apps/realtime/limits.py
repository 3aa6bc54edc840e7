"""Limits on sockets, each with the close code a client sees when it goes past one.

Per connection: how fast it may send frames (a token bucket) and how large one frame may be.
Per user: how many sockets they may hold open at once, across every web process (counted in
Redis by ``presence``). Frames between ``SOFT_FRAME_BYTES`` and ``MAX_FRAME_BYTES`` get an
``invalid`` error and keep the socket; past the hard limit the socket closes.
"""

from __future__ import annotations

import time

from django.conf import settings

# Close codes. 1009 and 1012 are the protocol's own; 4xxx are Vivid's.
CLOSE_AUTH = 4001  # credentials refused, revoked, logged out or password changed
CLOSE_SUSPENDED = 4003  # the account was suspended
CLOSE_RATE = 4008  # too many frames too fast
CLOSE_TOO_MANY_SOCKETS = 4029  # the user already holds the most sockets allowed
# Too many connections opened from this address (RATE_LIMIT_SOCKETS_ADDRESS): wait a minute.
CLOSE_CONNECT_RATE = 4030
CLOSE_TOO_BIG = 1009  # a frame larger than MAX_FRAME_BYTES
CLOSE_RESTART = 1012  # the server is restarting: reconnect (to another process)

SOFT_FRAME_BYTES = 16_384


def max_frame_bytes() -> int:
    return getattr(settings, "REALTIME_MAX_FRAME_BYTES", 65_536)


def max_sockets_per_user() -> int:
    return getattr(settings, "REALTIME_MAX_SOCKETS_PER_USER", 20)


def frames_per_second() -> float:
    return getattr(settings, "REALTIME_FRAMES_PER_S", 10.0)


def frame_burst() -> int:
    return getattr(settings, "REALTIME_FRAME_BURST", 30)


class TokenBucket:
    """``rate`` frames a second on average, ``burst`` at once. ``take()`` is False when empty."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

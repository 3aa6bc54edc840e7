"""Redis outages as a web or worker process sees them: one warning when one starts, one line
when it ends, per process and per part (``multicast``, ``sockets``, ``events``), instead of a
traceback per socket, event or request (about 1,400 of them in one run before this).
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("vivid.redis")

_lock = threading.Lock()
_since: dict[str, float] = {}


def lost(part: str, exc: BaseException) -> None:
    """Say once that ``part`` lost Redis; later failures of the same outage stay quiet."""
    with _lock:
        if part in _since:
            return
        _since[part] = time.monotonic()
    logger.warning("Redis unreachable (%s): %s", part, exc or type(exc).__name__)


def back(part: str, what: str = "") -> None:
    """Say once that ``part`` reaches Redis again (nothing if it never lost it)."""
    with _lock:
        since = _since.pop(part, None)
    if since is not None:
        logger.warning(
            "Redis reachable again (%s) after %.1f s%s",
            part,
            time.monotonic() - since,
            f"; {what}" if what else "",
        )


def is_down(part: str) -> bool:
    return part in _since

"""Django's PostgreSQL backend whose connection pool checks a connection only when it can tell
something (``ENGINE = "apps.core.postgresql"``, set by the settings when the pool is on).

psycopg_pool's own check (``ConnectionPool.check_connection``, what Django gives the pool with
``CONN_HEALTH_CHECKS``) is a round trip to the server on every checkout, that is every request:
on a feed page, one round trip in three. ``check_connection`` makes that round trip only when
the connection has not been handed out for ``RECENT_S`` seconds, or when something waits on
its socket. A connection the server ended (a restart, a crash, ``pg_terminate_backend``, an
idle timeout) has its socket closed or a FATAL message waiting, so its socket reads as ready,
the round trip finds it broken and the pool hands out another one; a connection used moments
ago with nothing waiting is one the round trip would find working.
"""

from __future__ import annotations

import select
import time
import weakref

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base

RECENT_S = 5.0

_handed_out: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _socket_ready(conn) -> bool:
    """Whether anything (data, end of file, an error) waits on the connection's socket."""
    try:
        ready, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except Exception:  # closed: there is no socket to wait on
        return True
    return bool(ready)


def check_connection(conn) -> None:
    """The pool's ``check``: raises when ``conn`` does not work (see the module's text)."""
    from psycopg_pool import ConnectionPool

    now = time.monotonic()
    last = _handed_out.get(conn)
    if last is None or now - last >= RECENT_S or conn.closed or _socket_ready(conn):
        ConnectionPool.check_connection(conn)
    _handed_out[conn] = now


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        options = self.settings_dict["OPTIONS"].get("pool")
        if (
            self.alias in self._connection_pools
            or self.alias == NO_DB_ALIAS
            or not options
            or not self.settings_dict["CONN_HEALTH_CHECKS"]
        ):
            return super().pool
        # Django's own construction of the pool (django.db.backends.postgresql.base), with
        # ``check_connection`` as its check.
        from psycopg_pool import ConnectionPool

        if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
            return super().pool  # Django refuses it with its own message
        connect_kwargs = self.get_connection_params()
        connect_kwargs["autocommit"] = True
        pool = ConnectionPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,
            check=check_connection,
            **({} if options is True else options),
        )
        self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]

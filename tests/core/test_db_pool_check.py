"""The pool's check of a PostgreSQL connection before a request gets it (apps.core.postgresql):
a round trip only when it can tell something, and a connection the server ended is never
handed out."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from apps.core.postgresql import base as pg
from tests.processes import database_url

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pool"),
]


@pytest.fixture
def pool():
    with ConnectionPool(
        database_url(),
        min_size=1,
        max_size=1,
        check=pg.check_connection,
        kwargs={"autocommit": True},
    ) as p:
        yield p


@pytest.fixture
def round_trips(monkeypatch):
    made = []
    check = ConnectionPool.check_connection

    def counted(conn):
        made.append(conn)
        return check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    return made


def _backend_pid(pool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_the_backends_pool_is_made_with_the_check():
    settings_dict = {
        **connection.settings_dict,
        "OPTIONS": {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1}},
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
    }
    wrapper = pg.DatabaseWrapper(settings_dict, alias="pool-check-test")
    try:
        assert wrapper.pool._check is pg.check_connection
        wrapper.pool.open()
        with wrapper.pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        wrapper.close_pool()


def test_a_connection_handed_out_moments_ago_is_not_asked_again(pool, round_trips):
    pid = _backend_pid(pool)  # first hand-out: checked by a round trip
    assert len(round_trips) == 1
    for _ in range(5):
        assert _backend_pid(pool) == pid
    assert len(round_trips) == 1


def test_a_connection_idle_for_long_is_asked_again(pool, round_trips, monkeypatch):
    _backend_pid(pool)
    later = time.monotonic() + pg.RECENT_S + 1
    monkeypatch.setattr(pg.time, "monotonic", lambda: later)
    _backend_pid(pool)
    assert len(round_trips) == 2


@pytest.mark.parametrize("how", ["terminated", "closed"])
def test_a_connection_the_server_ended_is_never_handed_out(pool, how):
    pid = _backend_pid(pool)
    if how == "terminated":  # a restart, a crash, an administrator, an idle timeout
        with psycopg.connect(database_url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        time.sleep(0.2)  # the server's goodbye reaches the socket
    else:  # the client side went away
        with pool.connection() as conn:
            conn.pgconn.finish()
    with pool.connection() as conn:  # moments after its last use: the check still sees it
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != pid

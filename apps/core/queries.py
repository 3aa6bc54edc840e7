"""Hot queries built by the ORM once and run many times.

On a hot path (a feed page, the token lookup of every API request), Django spends longer building
and compiling a queryset than PostgreSQL spends running it. ``QueryTemplate`` builds the queryset
once per *shape* (whatever changes the SQL text: which filters apply, the limit) with placeholder
values, keeps the SQL, its parameters and the columns' converters, and later runs that SQL with
the request's values in place of the placeholders. The queryset stays the single source of the
query's meaning (e.g. the visibility rule in ``Post.objects.visible_to``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    names: tuple[str, ...]
    converters: tuple  # (position, converter functions, expression)


class QueryTemplate:
    """``build(*shape)`` returns a ``.values()`` queryset written with placeholder values; rows
    come back as dicts keyed by the ``values()`` names (annotations included).

    Placeholders must be values nothing else in the query could equal (e.g. negative ids below
    any real one, or strings no real value has); every parameter equal to one is replaced.
    """

    def __init__(self, build: Callable[..., QuerySet], *, prepare: bool = False) -> None:
        """``prepare``: on PostgreSQL, run it as a server-side prepared statement, which skips
        parsing every time and planning too once PostgreSQL finds a generic plan (made from
        average statistics) no costlier than the custom ones it made first. Only for queries
        whose plan does not hinge on the values' own statistics: a lookup by a unique key, or
        filters on ids whose estimates are averages anyway (a viewer's follows)."""
        self.build = build
        self.prepare = prepare
        self._compiled: dict[tuple, _Compiled] = {}

    def _get(self, shape: tuple) -> _Compiled:
        key = (connection.vendor, *shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            qs = self.build(*shape)
            compiler = qs.query.get_compiler(using=qs.db)
            sql, params = compiler.as_sql()
            names = (*qs.query.values_select, *qs.query.annotation_select)
            selected = [col for col, _, _ in compiler.select[: len(names)]]
            converters = compiler.get_converters(selected)
            compiled = _Compiled(
                sql=sql,
                params=tuple(params),
                names=names,
                converters=tuple(
                    (pos, tuple(fns), expr) for pos, (fns, expr) in converters.items()
                ),
            )
            self._compiled[key] = compiled
        return compiled

    def sql(self, shape: tuple, values: dict[Hashable, Any]) -> tuple[str, list]:
        """The SQL and parameters for ``shape`` with ``values`` put in for the placeholders."""
        compiled = self._get(shape)
        params = [
            values.get(p, p) if isinstance(p, (int, float, str)) else p for p in compiled.params
        ]
        return compiled.sql, params

    def rows(self, shape: tuple, values: dict[Hashable, Any]) -> list[dict[str, Any]]:
        compiled = self._get(shape)
        sql, params = self.sql(shape, values)
        if connection.vendor == "postgresql":
            rows = _fetch(sql, params, prepare=self.prepare)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
        names = compiled.names
        if not compiled.converters:
            return [dict(zip(names, row, strict=True)) for row in rows]
        out = []
        for row in rows:
            row = list(row)
            for pos, fns, expr in compiled.converters:
                value = row[pos]
                for fn in fns:
                    value = fn(value, expr, connection)
                row[pos] = value
            out.append(dict(zip(names, row, strict=True)))
        return out


def _fetch(sql: str, params: list, *, prepare: bool) -> list[tuple]:
    """Run on the request's connection with server-side binding and, with ``prepare``, as a
    prepared statement (Django's cursors bind on the client, which cannot prepare). Checked,
    error-wrapped and logged like a query through Django's cursor, so query counts stay true.

    Timestamps are read by psycopg's own (compiled) loader rather than the pure-Python one
    Django registers to set the time zone: the connection's zone is UTC already (Django sets
    it), so the values are the same instants in UTC, and a page of 20 posts reads 40 of them."""
    import psycopg

    # What Django's ``connection.cursor()`` checks first, without making a cursor of its own.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.adapters.register_loader("timestamptz", _timestamptz_loader())
        cursor.execute(sql, params, prepare=prepare)
        rows = cursor.fetchall()
    if connection.queries_logged:
        note = "prepared" if prepare else "bound on the server"
        connection.queries_log.append(
            {
                "sql": f"{sql} -- {note}, params {params!r}",
                "time": f"{time.monotonic() - started:.3f}",
            }
        )
    return rows


def _timestamptz_loader():
    from psycopg.types.datetime import TimestamptzLoader

    return TimestamptzLoader

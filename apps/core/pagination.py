"""Keyset pagination on time-sortable ids, newest first.

``cursor`` pages backwards (older than the cursor); ``since`` returns only items newer than it, so
a client that reconnects asks for ``since=<newest cursor it holds>`` and pages with ``cursor`` until
``next_cursor`` is null. A cursor is the item's id rendered as a string: opaque to clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    cursor: int | None = None
    since: int | None = None

    @classmethod
    def from_query(cls, query: Any) -> PageParams:
        fields: dict[str, list[str]] = {}
        limit = DEFAULT_LIMIT
        raw_limit = query.get("limit")
        if raw_limit not in (None, ""):
            try:
                limit = int(raw_limit)
            except ValueError:
                fields["limit"] = ["A whole number is required."]
            else:
                if not 1 <= limit <= MAX_LIMIT:
                    fields["limit"] = [f"Must be between 1 and {MAX_LIMIT}."]
        values: dict[str, int | None] = {}
        for name in ("cursor", "since"):
            raw = query.get(name)
            values[name] = None
            if raw not in (None, ""):
                if not raw.isdigit() or len(raw) > 19:
                    fields[name] = ["Not a valid cursor."]
                else:
                    values[name] = int(raw)
        if fields:
            raise ApplicationError(
                "invalid", _("Some query parameters are not valid."), fields=fields
            )
        return cls(limit=limit, cursor=values["cursor"], since=values["since"])


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_cursor: str | None


def paginate(queryset: QuerySet, params: PageParams, *, field: str = "id") -> Page:
    """One page of ``queryset`` ordered by ``field`` descending. One query (limit + 1 rows)."""
    if params.cursor is not None:
        queryset = queryset.filter(**{f"{field}__lt": params.cursor})
    if params.since is not None:
        queryset = queryset.filter(**{f"{field}__gt": params.since})
    rows = list(queryset.order_by(f"-{field}")[: params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = str(getattr(rows[-1], field)) if has_more and rows else None
    return Page(items=rows, next_cursor=next_cursor)

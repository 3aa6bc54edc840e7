"""Site pages of the audit log (moderators) and the metrics (admins).

Anyone else gets the page that does not exist (404), moderators without the admin role
included for the metrics.
"""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_safe

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.moderation import auditlog, metrics
from apps.moderation.roles import is_admin, two_factor_missing
from apps.moderation.views import _why, moderator_required
from apps.moderation.views_cases import REASON_LABELS

# The action families the filter offers (``action`` also takes an exact action).
ACTION_FAMILIES = [
    ("action", "Decisions (all actions)"),
    ("case", "Case views, claims, escalations"),
    ("appeal", "Appeal decisions"),
    ("role", "Role changes"),
    ("protected_term", "Protected terms"),
    ("policy_hold", "Held prompts cleared"),
]

TARGET_TYPES = ["post", "comment", "user", "term", "job"]


def admin_required(view):
    """Admins only (``moderation.administer``); anyone else gets 404."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_admin(request.user):
            raise Http404
        if two_factor_missing(request.user):  # the role, but a required second factor is off
            return render(request, "mfa/required.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


@moderator_required
@require_safe
def audit_page(request):
    error = None
    try:
        filters = auditlog.AuditFilters.from_query(request.GET)
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        error = _why(e)
        filters, params = auditlog.AuditFilters(), PageParams()
    page = auditlog.audit_page(filters=filters, params=params)
    rows = [
        {
            **e,
            "when": parse_datetime(e["created_at"]),
            "changes": _changes(e["before"], e["after"]),
        }
        for e in page.items
    ]
    query = filters.as_query()
    next_query = urlencode({**query, "cursor": page.next_cursor}) if page.next_cursor else ""
    return render(
        request,
        "moderation/audit.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "families": ACTION_FAMILIES,
            "target_types": TARGET_TYPES,
            "error": error,
            "next_query": next_query,
            "filtered": bool(query),
            "broken": sum(1 for e in page.items if not e["valid"]),
        },
    )


@admin_required
@require_safe
def metrics_page(request):
    try:
        days = metrics.days_from_query(request.GET)
    except ApplicationError:
        days = metrics.DEFAULT_DAYS
    summary = metrics.metrics_summary(days=days)
    per_day = summary["reports_per_day"]
    open_by_reason = summary["open_cases"]["by_reason"]
    median = summary["first_action"]["median_seconds"]
    return render(
        request,
        "moderation/metrics.html",
        {
            "m": summary,
            "days": days,
            "median": _duration(median),
            "reversal_pct": (
                None
                if summary["appeals"]["reversal_rate"] is None
                else round(summary["appeals"]["reversal_rate"] * 100, 1)
            ),
            "reason_rows": _reason_rows(summary),
            "reports_chart": metrics.bar_chart(
                [(f"{d['date']}: {d['count']}", d["count"]) for d in per_day]
            ),
            "reports_total": sum(d["count"] for d in per_day),
            "open_chart": metrics.bar_chart(
                [(f"{r['reason']}: {r['count']}", r["count"]) for r in open_by_reason],
                width=600,
                height=120,
                gap=12,
            ),
            "first_day": per_day[0]["date"] if per_day else "",
            "last_day": per_day[-1]["date"] if per_day else "",
        },
    )


def _reason_rows(summary: dict) -> list[dict]:
    """Open cases and actions side by side, one row per reason (most harmful first)."""
    acted = {a["reason"]: a for a in summary["actions_by_reason"]}
    return [
        {
            "reason": r["reason"],
            "label": REASON_LABELS.get(r["reason"], r["reason"]),
            "open": r["count"],
            "actions": acted.get(r["reason"], {}).get("count", 0),
            "by_kind": acted.get(r["reason"], {}).get("by_kind", {}),
        }
        for r in summary["open_cases"]["by_reason"]
    ]


def _changes(before: dict, after: dict) -> list[dict[str, str]]:
    """What an entry changed, key by key, as text (``before`` → ``after``); keys that kept
    their value are left out."""

    def text(value) -> str:
        return "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)

    keys = list(dict.fromkeys([*before, *after]))
    return [
        {"key": k, "before": text(before.get(k)), "after": text(after.get(k))}
        for k in keys
        if before.get(k) != after.get(k)
    ]


def _duration(seconds: float | None) -> str | None:
    """``seconds`` as people say it: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    if seconds is None:
        return None
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"

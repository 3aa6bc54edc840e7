"""How moderation is going, for admins: open cases by reason, time to first action, actions per
reason, how often appeals reverse a decision, and reports per day.

Every figure is one aggregate query (the median two: a count and one ordered row pair), so the
page costs the same with ten cases or a million; time windows start at the first id of the
window (``id_for_time``), which the primary key index finds, as well as at ``created_at``.
The chart is drawn here as plain numbers for an inline SVG (no script, no chart library).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.ids import id_for_time
from apps.moderation.models import SEVERITY, Appeal, Case, ModerationAction, Reason, Report

DEFAULT_DAYS = 30
MAX_DAYS = 365


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _since(days: int, now: dt.datetime) -> tuple[dt.datetime, int]:
    start = now - dt.timedelta(days=days)
    return start, id_for_time(int(start.timestamp() * 1000))


def _reasons() -> list[str]:
    """Reasons in queue order: the most harmful first."""
    return sorted((r.value for r in Reason), key=lambda r: -SEVERITY[Reason(r)])


def open_cases_by_reason() -> dict[str, Any]:
    counts = dict(
        Case.objects.filter(status=Case.Status.OPEN)
        .values_list("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
    )
    by_reason = [{"reason": r, "count": counts.get(r, 0)} for r in _reasons()]
    return {"total": sum(counts.values()), "by_reason": by_reason}


def median_first_action(*, start: dt.datetime) -> dict[str, Any]:
    """Median time from a case opening to its first action, over cases first acted on since
    ``start``: how long a flagged thing waits lately."""
    acted = Case.objects.filter(first_action_at__isnull=False, first_action_at__gte=start)
    count = acted.count()
    if not count:
        return {"cases": 0, "median_seconds": None}
    waits = acted.annotate(
        wait=ExpressionWrapper(F("first_action_at") - F("created_at"), output_field=DurationField())
    ).order_by("wait")
    middle = (count - 1) // 2
    pair = list(waits.values_list("wait", flat=True)[middle : middle + 2 - count % 2])
    median = sum(pair, dt.timedelta()) / len(pair)
    return {"cases": count, "median_seconds": round(median.total_seconds(), 1)}


def actions_by_reason(*, start: dt.datetime, first_id: int) -> list[dict[str, Any]]:
    rows = (
        ModerationAction.objects.filter(id__gte=first_id, created_at__gte=start)
        .values_list("reason_code", "kind")
        .annotate(n=Count("id"))
        .values_list("reason_code", "kind", "n")
    )
    out = {r: {"reason": r, "count": 0, "by_kind": {}} for r in _reasons()}
    for reason, kind, n in rows:
        entry = out.setdefault(reason, {"reason": reason, "count": 0, "by_kind": {}})
        entry["count"] += n
        entry["by_kind"][kind] = n
    return list(out.values())


def appeals_outcomes(*, start: dt.datetime) -> dict[str, Any]:
    """Appeals decided since ``start`` and the share that reversed the decision."""
    totals = Appeal.objects.aggregate(
        upheld=Count("id", filter=Q(status=Appeal.Status.UPHELD, decided_at__gte=start)),
        reversed=Count("id", filter=Q(status=Appeal.Status.REVERSED, decided_at__gte=start)),
        pending=Count("id", filter=Q(status=Appeal.Status.PENDING)),
    )
    decided = totals["upheld"] + totals["reversed"]
    return {
        "decided": decided,
        "upheld": totals["upheld"],
        "reversed": totals["reversed"],
        "pending": totals["pending"],
        "reversal_rate": round(totals["reversed"] / decided, 4) if decided else None,
    }


def reports_per_day(*, days: int, start: dt.datetime, first_id: int, now: dt.datetime):
    """Reports made on each of the last ``days`` days (UTC), today last, empty days as 0."""
    counts = dict(
        Report.objects.filter(id__gte=first_id, created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    today = now.date()
    return [
        {"date": (day := today - dt.timedelta(days=back)).isoformat(), "count": counts.get(day, 0)}
        for back in range(days - 1, -1, -1)
    ]


def metrics_summary(*, days: int = DEFAULT_DAYS) -> dict[str, Any]:
    """Every figure of the metrics page and endpoint (seven queries)."""
    now = timezone.now()
    start, first_id = _since(days, now)
    return {
        "window_days": days,
        "since": _iso(start),
        "open_cases": open_cases_by_reason(),
        "first_action": median_first_action(start=start),
        "actions_by_reason": actions_by_reason(start=start, first_id=first_id),
        "appeals": appeals_outcomes(start=start),
        "reports_per_day": reports_per_day(days=days, start=start, first_id=first_id, now=now),
    }


def days_from_query(query: Any) -> int:
    from apps.core.exceptions import ApplicationError

    raw = (query.get("days") or "").strip()
    if not raw:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise ApplicationError(
            "invalid",
            "Some query parameters are not valid.",
            fields={"days": [f"A number of days from 1 to {MAX_DAYS}."]},
        )
    return int(raw)


# --- The chart ------------------------------------------------------------------------------


def bar_chart(
    values: list[tuple[str, int]], *, width: int = 600, height: int = 160, gap: int = 2
) -> dict[str, Any]:
    """Bars for an inline SVG: ``[(label, value)]`` → rectangles in a ``width`` by ``height`` box
    (a few pixels kept for a bar of 0 to show as a line). Labels become each bar's tooltip."""
    top = max((v for _, v in values), default=0) or 1
    slot = width / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(values):
        h = max(round(value / top * (height - 2)), 1)
        bars.append(
            {
                "x": round(i * slot + gap / 2, 2),
                "y": height - h,
                "w": round(max(slot - gap, 1), 2),
                "h": h,
                "label": label,
                "value": value,
            }
        )
    return {"width": width, "height": height, "max": top, "bars": bars}

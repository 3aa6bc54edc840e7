"""Reads for moderators: the queue of open cases, one case with everything about it, and a
reporter's own reports.

The queue is ordered by severity (the most harmful reason first), then age (ids sort by time),
and pages by keyset on ``(severity, id)`` so the hundredth page costs what the first does: the
partial index ``case_queue`` (open cases on ``-severity, id``) answers it. A page is at most
four queries whatever its size: the cases with their subject and assignee, then the posts and
the comments they are about, each in one query.

The case view gathers the target (moderators always see its prompt, hidden or not), its reports
with each reporter's upheld rate, the automatic flags, the provenance record and whether it
verifies, the lineage, the consent state and the author's history. Nothing here writes, except
``case_view``, which records that a moderator looked (the audit log keeps every view).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams, paginate
from apps.core.queries import QueryTemplate
from apps.moderation.cases import REASONS, TARGETS, case_payload
from apps.moderation.models import (
    AuditEntry,
    Case,
    CaseFlag,
    ModerationAction,
    Report,
    Strike,
    Suspension,
    Target,
)

_CURSOR = re.compile(r"^(\d{1,3})-(\d{1,19})$")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- The queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """What the queue may be narrowed to: a reason, a kind of target, the cases I claimed, the
    escalated ones. Parsed from a query string; unknown values are refused (400)."""

    reason: str | None = None
    kind: str | None = None
    assigned_me: bool = False
    escalated: bool = False
    limit: int = DEFAULT_LIMIT
    cursor: tuple[int, int] | None = None

    @classmethod
    def from_query(cls, query: Any) -> QueueFilters:
        fields: dict[str, list[str]] = {}
        reason = query.get("reason") or None
        if reason is not None and reason not in REASONS:
            fields["reason"] = [f"Choose one of {', '.join(REASONS)}."]
        kind = query.get("kind") or None
        if kind is not None and kind not in TARGETS:
            fields["kind"] = [f"Choose one of {', '.join(TARGETS)}."]
        assigned = query.get("assigned") or ""
        if assigned not in ("", "me"):
            fields["assigned"] = ["Only “me” is understood."]
        escalated = query.get("escalated") or ""
        if escalated not in ("", "0", "1", "true", "false"):
            fields["escalated"] = ["Use 1 or 0."]
        cursor = None
        raw = query.get("cursor") or ""
        if raw:
            match = _CURSOR.match(raw)
            if match is None:
                fields["cursor"] = ["Not a valid cursor."]
            else:
                cursor = (int(match[1]), int(match[2]))
        limit = DEFAULT_LIMIT
        raw_limit = query.get("limit")
        if raw_limit not in (None, ""):
            if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
                fields["limit"] = [f"Must be between 1 and {MAX_LIMIT}."]
            else:
                limit = int(raw_limit)
        if fields:
            raise ApplicationError(
                "invalid", _("Some query parameters are not valid."), fields=fields
            )
        return cls(
            reason=reason,
            kind=kind,
            assigned_me=assigned == "me",
            escalated=escalated in ("1", "true"),
            limit=limit,
            cursor=cursor,
        )


def queue_cases(*, moderator, filters: QueueFilters) -> QuerySet[Case]:
    """Open cases matching ``filters``, most urgent first (not yet cut to a page)."""
    # Cases about the moderator are decided by others: they are not in their queue.
    cases = Case.objects.filter(status=Case.Status.OPEN).exclude(subject_id=moderator.pk)
    if filters.reason:
        cases = cases.filter(reason=filters.reason)
    if filters.kind:
        cases = cases.filter(target_type=filters.kind)
    if filters.assigned_me:
        cases = cases.filter(assigned_to_id=moderator.pk)
    if filters.escalated:
        cases = cases.filter(escalated=True)
    return cases.order_by("-severity", "id")


# Counting stops here: past it the queue says "1000+" (reading 100,000 entries of the index on
# every page of every moderator would cost more than the page itself).
OPEN_COUNT_CAP = 1000


def _open_count_sql() -> str:
    table = Case._meta.db_table
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE status = 'open'"
        f" LIMIT {OPEN_COUNT_CAP}) AS open_cases"
    )


def queue_count(*, moderator=None) -> int:
    """How many cases are open, up to ``OPEN_COUNT_CAP`` (the count in moderators'
    navigation and on the queue)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_open_count_sql())
        return cursor.fetchone()[0]


# Placeholders of the compiled queue query: values no real row or request has (the severity one
# within its column's range, or Django would know no row can match and write no SQL at all).
_MOD, _SEV, _AFTER, _REASON, _KIND = -9_000_001, 32_001, -9_000_003, "\x00r", "\x00k"
_QUEUE_COLUMNS = (
    "id",
    "created_at",
    "target_type",
    "target_id",
    "subject_id",
    "subject__username",
    "subject__display_name",
    "subject__is_active",
    "status",
    "reason",
    "severity",
    "assigned_to_id",
    "assigned_to__username",
    "escalated",
    "reports_count",
    "flags_count",
    "decision",
    "closed_at",
)


def _queue_queryset(reason: bool, kind: bool, mine: bool, escalated: bool, after: str, n: int):
    """The page's query for a shape of filters, written with placeholders: the cases with
    their people and what each post or comment says (a subquery per row of the page, by
    primary key), and the count of open cases up to the cap (computed once, uncorrelated)."""
    from django.db.models import IntegerField, OuterRef, Subquery
    from django.db.models.expressions import RawSQL
    from django.db.models.functions import JSONObject, Left

    from apps.posts.models import Comment, Post

    moderator = SimpleNamespace(pk=_MOD)
    cases = queue_cases(
        moderator=moderator,
        filters=QueueFilters(
            reason=_REASON if reason else None,
            kind=_KIND if kind else None,
            assigned_me=mine,
            escalated=escalated,
        ),
    )
    # After a cursor, two ranges of the index, each read in order: the rest of the cursor's
    # severity, then the less severe (one OR would read the index from its start).
    if after == "same":
        cases = cases.filter(severity=_SEV, id__gt=_AFTER)
    elif after == "below":
        cases = cases.filter(severity__lt=_SEV)
    post = (
        Post.objects.filter(id=OuterRef("target_id"))
        .annotate(
            j=JSONObject(
                caption=Left("caption", 200),
                sensitive="sensitive",
                removed_at="removed_at",
                asset_id="asset_id",
                media_kind="asset__kind",
            )
        )
        .values("j")[:1]
    )
    comment = (
        Comment.objects.filter(id=OuterRef("target_id"))
        .annotate(j=JSONObject(body=Left("body", 200), post_id="post_id", removed_at="removed_at"))
        .values("j")[:1]
    )
    return cases.annotate(
        post_preview=Subquery(post),
        comment_preview=Subquery(comment),
        open_count=RawSQL(_open_count_sql(), [], output_field=IntegerField()),
    ).values(*_QUEUE_COLUMNS, "post_preview", "comment_preview", "open_count")[:n]


# Built by the ORM once per shape, run with each request's values: on a page of twenty, Django
# would otherwise spend longer writing the SQL than PostgreSQL spends answering it.
_queue_query = QueryTemplate(_queue_queryset)


@dataclass(frozen=True)
class QueuePage:
    items: list[dict[str, Any]]
    next_cursor: str | None
    open_count: int


def queue_page(*, moderator, filters: QueueFilters) -> QueuePage:
    """One page of the queue, each item a ``case_payload`` with a ``preview`` of its target,
    and how many cases are open in all.

    Keyset on ``(severity, id)``: after the cursor's case come those less severe, or as severe
    and younger. One query whatever the page's size or depth (two at the end of a severity),
    the count of open cases (up to ``OPEN_COUNT_CAP``) included."""

    def rows_for(after: str) -> list[dict[str, Any]]:
        shape = (
            filters.reason is not None,
            filters.kind is not None,
            filters.assigned_me,
            filters.escalated,
            after,
            filters.limit + 1,
        )
        values: dict[Any, Any] = {_MOD: moderator.pk, _REASON: filters.reason, _KIND: filters.kind}
        if filters.cursor is not None:
            values.update({_SEV: filters.cursor[0], _AFTER: filters.cursor[1]})
        return _queue_query.rows(shape, values)

    if filters.cursor is None:
        rows = rows_for("")
    else:
        rows = rows_for("same")
        if len(rows) <= filters.limit and filters.cursor[0] > 0:
            rows += rows_for("below")
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    next_cursor = f"{rows[-1]['severity']}-{rows[-1]['id']}" if has_more and rows else None
    thumb = _case_media_url(SimpleNamespace(id=0), "thumb").replace("/0/", "/{}/")
    items = []
    for row in rows:
        items.append(
            {
                "id": str(row["id"]),
                "target": {"type": row["target_type"], "id": str(row["target_id"])},
                "subject": row["subject__username"],
                "status": row["status"],
                "reason": row["reason"],
                "severity": row["severity"],
                "assigned_to": row["assigned_to__username"],
                "escalated": row["escalated"],
                "reports_count": row["reports_count"],
                "flags_count": row["flags_count"],
                "decision": row["decision"] or None,
                "created_at": row["created_at"].isoformat() if row["created_at"] else None,
                "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
                "preview": _preview(row, thumb),
            }
        )
    open_count = rows[0]["open_count"] if rows else queue_count()
    return QueuePage(items=items, next_cursor=next_cursor, open_count=open_count)


def _preview(row: dict[str, Any], thumb: str) -> dict[str, Any] | None:
    """What the queue shows of a case's target, from the page's row."""
    kind = row["target_type"]
    if kind == Target.POST and row["post_preview"]:
        p = row["post_preview"]
        return {
            "caption": p["caption"],
            "media_kind": p["media_kind"],
            "thumb_url": thumb.format(p["asset_id"]),
            "removed": p["removed_at"] is not None,
            "sensitive": p["sensitive"],
        }
    if kind == Target.COMMENT and row["comment_preview"]:
        c = row["comment_preview"]
        return {
            "body": c["body"],
            "post_id": str(c["post_id"]),
            "removed": c["removed_at"] is not None,
        }
    if kind == Target.USER and row["subject_id"]:
        return {
            "username": row["subject__username"],
            "display_name": row["subject__display_name"],
            "active": row["subject__is_active"],
        }
    return None


def _case_media_url(asset, variant: str) -> str:
    """Where moderators see a case's media: a moderators-only door that serves it even when
    it is taken down or private (``views_cases.case_media``)."""
    from django.urls import reverse

    return reverse("moderation:case-media", kwargs={"asset_id": asset.id, "variant": variant})


# --- One case -------------------------------------------------------------------------------


def case_get(*, case_id, moderator) -> Case:
    """The case, or 404; a case about the moderator (or their content) is refused (403), as
    every other way of deciding it is."""
    case = (
        Case.objects.select_related("subject", "assigned_to").filter(id=int(case_id)).first()
        if str(case_id).isdigit()
        else None
    )
    if case is None:
        raise ApplicationError("not_found", _("Not found."))
    if case.subject_id is not None and case.subject_id == moderator.pk:
        raise ApplicationError(
            "forbidden", _("This case is about you or your content; another moderator decides it.")
        )
    return case


def case_view(*, moderator, case_id) -> dict[str, Any]:
    """Everything about a case, as a moderator opens it; the view is audited ("case.view")."""
    from apps.moderation.audit import audit_record

    with transaction.atomic():
        case = case_get(case_id=case_id, moderator=moderator)
        audit_record(
            actor=moderator,
            action="case.view",
            target_type=case.target_type,
            target_id=case.target_id,
            case=case,
        )
    return case_detail(case=case)


def case_detail(*, case: Case) -> dict[str, Any]:
    from apps.posts.models import Comment, Post

    out = case_payload(case)
    post = comment = None
    if case.target_type == Target.POST:
        post = (
            Post.objects.select_related("author", "asset", "asset__job")
            .filter(id=case.target_id)
            .first()
        )
    elif case.target_type == Target.COMMENT:
        comment = (
            Comment.objects.select_related("author", "post", "post__author")
            .filter(id=case.target_id)
            .first()
        )
    out["target"] = _target_detail(case, post=post, comment=comment)
    out["reports"] = _reports(case)
    out["flags"] = _flags(case)
    record = None
    if post is not None:
        from apps.provenance.selectors import record_for_asset

        record = record_for_asset(asset=post.asset)
    out["provenance"] = _provenance(record)
    out["lineage"] = _lineage(record, post)
    out["consent"] = _consent(post)
    out["author_history"] = author_history(user=case.subject, exclude_case=case)
    out["actions"] = [
        {
            "id": str(a.id),
            "action": a.kind,
            "reason_code": a.reason_code,
            "note": a.note,
            "moderator": a.moderator.username,
            "until": _iso(a.until),
            "reversed_at": _iso(a.reversed_at),
            "created_at": _iso(a.created_at),
        }
        for a in ModerationAction.objects.filter(case=case)
        .select_related("moderator")
        .order_by("id")
    ]
    out["audit"] = case_audit(case=case)
    from apps.moderation.appeals import appeals_for_case

    out["appeals"] = appeals_for_case(case_id=case.id)
    return out


def _media(asset) -> dict[str, Any]:
    variants = {name: _case_media_url(asset, name) for name in sorted(asset.variants)}
    return {
        "id": str(asset.id),
        "kind": asset.kind,
        "mime": asset.mime,
        "width": asset.width,
        "height": asset.height,
        "original_url": _case_media_url(asset, "original"),
        "variants": variants,
        "removed": asset.removed_at is not None,
    }


def _user(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.id), "username": user.username, "display_name": user.display_name}


def _target_detail(case: Case, *, post, comment) -> dict[str, Any]:
    target: dict[str, Any] = {"type": case.target_type, "id": str(case.target_id)}
    if case.target_type == Target.POST:
        if post is None:
            return {**target, "missing": True}
        job = post.asset.job
        target.update(
            author=_user(post.author),
            caption=post.caption,
            visibility=post.visibility,
            sensitive=post.sensitive,
            # Moderators always read the prompt: hiding it is for the public, not for review.
            hide_prompt=post.hide_prompt,
            prompt=job.prompt if job else None,
            negative_prompt=job.negative_prompt if job else None,
            removed_at=_iso(post.removed_at),
            removed_reason=post.removed_reason,
            created_at=_iso(post.created_at),
            media=_media(post.asset),
        )
    elif case.target_type == Target.COMMENT:
        if comment is None:
            return {**target, "missing": True}
        target.update(
            author=_user(comment.author),
            body=comment.body,
            post_id=str(comment.post_id),
            post_caption=comment.post.caption,
            removed_at=_iso(comment.removed_at),
            removed_reason=comment.removed_reason,
            created_at=_iso(comment.created_at),
        )
    else:
        user = case.subject
        if user is None:
            return {**target, "missing": True}
        target.update(
            username=user.username,
            display_name=user.display_name,
            bio=user.bio,
            active=user.is_active,
            date_joined=_iso(user.date_joined),
            avatar=_media(user.avatar) if user.avatar_id else None,
        )
    return target


def reporter_rates(reporter_ids) -> dict[int, dict[str, Any]]:
    """How often each reporter's decided reports were upheld: upheld / (upheld + dismissed),
    None before any was decided. One query."""
    rows = (
        Report.objects.filter(reporter_id__in=set(reporter_ids))
        .values("reporter_id")
        .annotate(
            upheld=Count("id", filter=Q(status=Report.Status.UPHELD)),
            dismissed=Count("id", filter=Q(status=Report.Status.DISMISSED)),
            total=Count("id"),
        )
    )
    out = {}
    for row in rows:
        decided = row["upheld"] + row["dismissed"]
        out[row["reporter_id"]] = {
            "reports": row["total"],
            "upheld": row["upheld"],
            "dismissed": row["dismissed"],
            "upheld_rate": round(row["upheld"] / decided, 3) if decided else None,
        }
    return out


def _reports(case: Case) -> list[dict[str, Any]]:
    reports = list(case.reports.select_related("reporter").order_by("id"))
    rates = reporter_rates(r.reporter_id for r in reports)
    return [
        {
            "id": str(r.id),
            "reporter": {**_user(r.reporter), **rates.get(r.reporter_id, {})},
            "reason": r.reason,
            "details": r.details,
            "status": r.status,
            "created_at": _iso(r.created_at),
            "decided_at": _iso(r.decided_at),
        }
        for r in reports
    ]


def _flags(case: Case) -> list[dict[str, Any]]:
    flags = list(CaseFlag.objects.filter(case=case).order_by("id"))
    # A held prompt's flag names its job: moderators read the prompt that was held.
    job_ids = {
        int(f.detail["job_id"])
        for f in flags
        if f.source == CaseFlag.Source.PROTECTED_TERM and str(f.detail.get("job_id", "")).isdigit()
    }
    prompts = {}
    if job_ids:
        from apps.generation.models import GenerationJob

        prompts = dict(GenerationJob.objects.filter(id__in=job_ids).values_list("id", "prompt"))
    out = []
    for f in flags:
        item = {
            "id": str(f.id),
            "source": f.source,
            "source_id": str(f.source_id) if f.source_id is not None else None,
            "detail": f.detail,
            "created_at": _iso(f.created_at),
        }
        job_id = str(f.detail.get("job_id", ""))
        if job_id.isdigit() and int(job_id) in prompts:
            item["prompt"] = prompts[int(job_id)]
        out.append(item)
    return out


def _provenance(record) -> dict[str, Any] | None:
    """The provenance record and whether it verifies (its hash and signature, from the ledger)."""
    if record is None:
        return None
    from apps.core import ledger

    return {
        "id": str(record.id),
        "op": record.op,
        "kind": record.kind,
        "backend": record.backend,
        "model": record.model_name,
        "model_version": record.model_version,
        "seed": record.seed,
        "params": record.params,
        "likeness_consents": [str(i) for i in record.likeness_consents],
        "chain": record.chain,
        "seq": record.seq,
        "record_hash": record.record_hash,
        "prev_hash": record.prev_hash,
        "key_id": record.key_id,
        "backfilled": record.backfilled,
        "created_at": _iso(record.created_at),
        "verified": ledger.record_valid(record),
    }


def _lineage(record, post) -> dict[str, Any] | None:
    """The remix family as its author sees it (the author's own hidden prompts included)."""
    if record is None:
        return None
    from apps.provenance.lineage import lineage

    return lineage(record=record, viewer=post.author)


def _consent(post) -> dict[str, Any] | None:
    """The likeness and training consent state of a post's media."""
    if post is None:
        return None
    from apps.consent import selectors as consent
    from apps.consent.models import ConsentFlag

    job_id = post.asset.job_id
    uses = (
        list(consent.likeness_uses_for_jobs(job_ids=[job_id]).select_related("person"))
        if job_id
        else []
    )
    return {
        "likeness": consent.likeness_state_for_post(post=post),
        "likeness_uses": [
            {
                "person": u.person.username,
                "status": u.status,
                "removed_at": _iso(u.removed_at),
                "consent_event_id": str(u.consent_event_id) if u.consent_event_id else None,
            }
            for u in uses
        ],
        "flags": [
            {
                "reason": f.reason,
                "person": f.person.username if f.person_id else None,
                "resolved_at": _iso(f.resolved_at),
                "created_at": _iso(f.created_at),
            }
            for f in ConsentFlag.objects.filter(post=post).select_related("person").order_by("id")
        ],
        "training": {
            "training_use": post.training_use,
            "author_default_allowed": consent.training_default_allowed(user=post.author),
            "holds": consent.training_consent_holds(post=post),
        },
    }


def author_history(*, user, exclude_case: Case | None = None, limit: int = 20) -> dict | None:
    """A person's record with the moderators: strikes (active, expired, lifted), earlier cases
    and their decisions, suspensions."""
    if user is None:
        return None
    now = timezone.now()
    strikes = []
    for s in Strike.objects.filter(user=user).order_by("-id")[:limit]:
        if s.lifted_at is not None:
            state = "lifted"
        elif s.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        strikes.append(
            {
                "id": str(s.id),
                "reason_code": s.reason_code,
                "state": state,
                "created_at": _iso(s.created_at),
                "expires_at": _iso(s.expires_at),
            }
        )
    earlier = Case.objects.filter(subject=user)
    if exclude_case is not None:
        earlier = earlier.exclude(id=exclude_case.id)
    cases = [
        {
            "id": str(c.id),
            "target": {"type": c.target_type, "id": str(c.target_id)},
            "reason": c.reason,
            "status": c.status,
            "decision": c.decision or None,
            "created_at": _iso(c.created_at),
            "closed_at": _iso(c.closed_at),
        }
        for c in earlier.order_by("-id")[:limit]
    ]
    suspensions = [
        {
            "id": str(s.id),
            "created_at": _iso(s.created_at),
            "until": _iso(s.until),
            "lifted_at": _iso(s.lifted_at),
            "active": s.lifted_at is None and (s.until is None or s.until > now),
        }
        for s in Suspension.objects.filter(user=user).order_by("-id")[:limit]
    ]
    return {
        "user": {**_user(user), "active": user.is_active, "date_joined": _iso(user.date_joined)},
        "strikes_active": sum(1 for s in strikes if s["state"] == "active"),
        "strikes_expired": sum(1 for s in strikes if s["state"] == "expired"),
        "strikes": strikes,
        "cases": cases,
        "suspensions": suspensions,
    }


def case_audit(*, case: Case) -> list[dict[str, Any]]:
    """The case's lines of the audit log, oldest first."""
    return [
        {
            "id": str(e.id),
            "actor": e.actor.username,
            "action": e.action,
            "reason_code": e.reason_code,
            "note": e.note,
            "before": e.before,
            "after": e.after,
            "created_at": _iso(e.created_at),
        }
        for e in AuditEntry.objects.filter(case=case).select_related("actor").order_by("id")
    ]


# --- A reporter's own reports ---------------------------------------------------------------


def report_payload(report: Report) -> dict[str, Any]:
    """A report as its reporter sees it: what, why, and the outcome (nothing about the
    author beyond whether the moderators acted)."""
    outcome = {
        Report.Status.UPHELD: "action_taken",
        Report.Status.DISMISSED: "no_breach",
    }.get(report.status)
    return {
        "id": str(report.id),
        "target": {"type": report.target_type, "id": str(report.target_id)},
        "reason": report.reason,
        "details": report.details,
        "status": report.status,
        "outcome": outcome,
        "created_at": _iso(report.created_at),
        "decided_at": _iso(report.decided_at),
    }


def reports_mine(*, user, params: PageParams) -> Page:
    """My reports, newest first, with their outcome."""
    page = paginate(Report.objects.filter(reporter=user), params)
    return Page(items=[report_payload(r) for r in page.items], next_cursor=page.next_cursor)

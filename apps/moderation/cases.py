"""Reports and automatic flags open or join the one open case of their target.

Everything about one post, comment or person gathers in one open ``Case``, so a moderator sees a
spam wave of forty reports as one case with forty reports, not forty cases. The case takes the
most severe reason among them (``SEVERITY``), which orders the queue. Automatic flags come from
other apps' records (a ``PolicyHold``, a ``consent.ConsentFlag``, a copy of removed media, a wave
of reports) and are ingested idempotently: one ``CaseFlag`` per source row.

Each new or changed case is announced to moderators' sockets (stream ``moderation``) after
commit; the queue page updates from those hints.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.core.exceptions import ApplicationError
from apps.core.ratelimit import rate_limit_take
from apps.moderation.models import SEVERITY, Case, CaseFlag, Reason, Report, Target
from apps.realtime import groups
from apps.realtime.events import publish_on_commit

REASONS = [r.value for r in Reason]
TARGETS = [t.value for t in Target]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- Targets --------------------------------------------------------------------------------


def target_resolve(*, target_type: str, target_id, viewer=None):
    """The target's row and the person it is about, or 404 when it does not exist or ``viewer``
    (when given) may not see it. ``viewer=None`` is the system: it sees everything."""
    from apps.accounts.models import User
    from apps.posts.models import Comment, Post

    not_found = ApplicationError(
        "not_found", gettext_lazy("Not found."), fields={"target": ["Not found."]}
    )
    if target_type not in TARGETS:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Choose what to report: a post, a comment or a user."),
            fields={"target": [f"type must be one of {', '.join(TARGETS)}."]},
        )
    raw = str(target_id or "").strip()
    if target_type == Target.USER:
        found = User.objects.filter(is_active=True)
        found = found.filter(id=int(raw)) if raw.isdigit() else found.filter(username__iexact=raw)
        user = found.first()
        if user is None:
            raise not_found
        return user, user
    if not raw.isdigit():
        raise not_found
    if target_type == Target.POST:
        posts = Post.objects.visible_to(viewer) if viewer is not None else Post.objects.all()
        post = posts.select_related("author").filter(id=int(raw)).first()
        if post is None:
            raise not_found
        return post, post.author
    comment = Comment.objects.select_related("author", "post").filter(id=int(raw)).first()
    if comment is None:
        raise not_found
    if viewer is not None:
        if comment.removed_at is not None:
            raise not_found
        if not Post.objects.visible_to(viewer).filter(id=comment.post_id).exists():
            raise not_found
    return comment, comment.author


# --- Cases ----------------------------------------------------------------------------------


def case_payload(case: Case) -> dict[str, Any]:
    """What the queue shows of a case (and what ``moderation.case`` events carry)."""
    return {
        "id": str(case.id),
        "target": {"type": case.target_type, "id": str(case.target_id)},
        "subject": case.subject.username if case.subject_id and case.subject else None,
        "status": case.status,
        "reason": case.reason,
        "severity": case.severity,
        "assigned_to": case.assigned_to.username if case.assigned_to_id else None,
        "escalated": case.escalated,
        "reports_count": case.reports_count,
        "flags_count": case.flags_count,
        "decision": case.decision or None,
        "created_at": case.created_at.isoformat() if case.created_at else None,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def case_announce(case: Case, change: str) -> None:
    """Tell moderators' sockets, after commit, that ``case`` changed (opened, updated,
    claimed, escalated, decided)."""
    publish_on_commit(
        groups.MODERATION,
        "moderation.case",
        "moderation",
        {"change": change, "case": case_payload(case)},
    )


def _open_case_locked(
    *, target_type: str, target_id: int, subject, reason: str
) -> tuple[Case, bool]:
    """The target's open case, locked, made if there is none (two requests racing to open it
    end with one case: the unique constraint decides)."""
    for _ in range(3):
        case = (
            Case.objects.select_for_update()
            .filter(target_type=target_type, target_id=target_id, status=Case.Status.OPEN)
            .first()
        )
        if case is not None:
            return case, False
        try:
            with transaction.atomic():
                case = Case.objects.create(
                    target_type=target_type,
                    target_id=target_id,
                    subject=subject,
                    reason=reason,
                    severity=SEVERITY[Reason(reason)],
                )
            return case, True
        except IntegrityError:
            continue
    raise ApplicationError(
        "conflict", gettext_lazy("The case changed while it was being opened; try again.")
    )


def case_open_or_join(
    *,
    target_type: str,
    target_id: int,
    subject,
    reason: str,
    report: Report | None = None,
    flag_source: str | None = None,
    flag_source_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    """Add a report (already made, not yet saved with its case) or an automatic flag to the
    target's open case, opening it if needed. A flag already ingested adds nothing.

    Call inside a transaction; the case is announced after commit."""
    case, created = _open_case_locked(
        target_type=target_type, target_id=int(target_id), subject=subject, reason=reason
    )
    changes: dict[str, Any] = {}
    if SEVERITY[Reason(reason)] > case.severity:
        changes.update(reason=reason, severity=SEVERITY[Reason(reason)])
    if report is not None:
        report.case = case
        report.save(force_insert=True)
        changes["reports_count"] = F("reports_count") + 1
    if flag_source is not None:
        _, added = CaseFlag.objects.get_or_create(
            case=case,
            source=flag_source,
            source_id=flag_source_id,
            defaults={"detail": detail or {}},
        )
        if not added and report is None:
            return case
        if added:
            changes["flags_count"] = F("flags_count") + 1
    if changes:
        Case.objects.filter(id=case.id).update(**changes)
        case.refresh_from_db()
    case_announce(case, "opened" if created else "updated")
    return case


def report_create(
    *, reporter, target_type: str, target_id, reason: str, details: str = ""
) -> Report:
    """Someone reports a post, comment or person they can see.

    Refused: an unknown reason or target (400), a target they cannot see (404), themselves or
    their own content (400), a second open report of the same target (409), and more than
    ``MODERATION_REPORTS_PER_HOUR`` reports an hour (429). Many reports of one target in a
    short time add a ``report_wave`` flag."""
    if reason not in REASONS:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Choose a reason for the report."),
            fields={"reason": [f"Choose one of {', '.join(REASONS)}."]},
        )
    details = (details or "").strip()
    if len(details) > 2000:
        raise ApplicationError(
            "invalid",
            gettext_lazy("The details are too long."),
            fields={"details": ["At most 2000 characters."]},
        )
    target, subject = target_resolve(target_type=target_type, target_id=target_id, viewer=reporter)
    if subject is not None and subject.pk == reporter.pk:
        raise ApplicationError(
            "invalid",
            gettext_lazy("You cannot report yourself or your own content."),
            fields={"target": ["This is yours."]},
        )
    if Report.objects.filter(
        reporter=reporter, target_type=target_type, target_id=target.pk, status=Report.Status.OPEN
    ).exists():
        raise ApplicationError(
            "conflict", gettext_lazy("You have already reported this; it is being reviewed.")
        )
    rate_limit_take(
        scope="report",
        key=str(reporter.pk),
        limit=int(_setting("MODERATION_REPORTS_PER_HOUR", 30)),
        window_s=3600,
        message="You have sent many reports in the last hour.",
    )
    with transaction.atomic():
        report = Report(
            reporter=reporter,
            target_type=target_type,
            target_id=target.pk,
            reason=reason,
            details=details,
        )
        try:
            with transaction.atomic():
                case = case_open_or_join(
                    target_type=target_type,
                    target_id=target.pk,
                    subject=subject,
                    reason=reason,
                    report=report,
                )
        except IntegrityError as e:  # a double click raced past the check above
            raise ApplicationError(
                "conflict", gettext_lazy("You have already reported this; it is being reviewed.")
            ) from e
        _report_wave_check(case)
    return report


def _report_wave_check(case: Case) -> None:
    """Many reports of one target within a short window: flag the case (once per case)."""
    threshold = int(_setting("MODERATION_REPORT_WAVE_COUNT", 5))
    window = dt.timedelta(seconds=int(_setting("MODERATION_REPORT_WAVE_WINDOW_S", 3600)))
    recent = Report.objects.filter(case=case, created_at__gte=timezone.now() - window).count()
    if recent >= threshold:
        case_open_or_join(
            target_type=case.target_type,
            target_id=case.target_id,
            subject=case.subject,
            reason=case.reason,
            flag_source=CaseFlag.Source.REPORT_WAVE,
            flag_source_id=case.id,
            detail={"reports": recent, "window_s": int(window.total_seconds())},
        )


def case_claim(*, moderator, case_id: int, release: bool = False) -> Case:
    """A moderator takes an open case (or gives it back), so two never work on one."""
    from apps.moderation.audit import audit_record

    with transaction.atomic():
        case = Case.objects.select_for_update().filter(id=case_id).first()
        if case is None:
            raise ApplicationError("not_found", gettext_lazy("Not found."))
        _refuse_own(moderator, case)
        if case.status != Case.Status.OPEN:
            raise ApplicationError("conflict", gettext_lazy("This case is closed."))
        before = case.assigned_to.username if case.assigned_to_id else None
        if release:
            if case.assigned_to_id not in (None, moderator.pk):
                raise ApplicationError(
                    "conflict", gettext_lazy("Someone else has claimed this case.")
                )
            case.assigned_to = None
        else:
            if case.assigned_to_id not in (None, moderator.pk):
                raise ApplicationError(
                    "conflict", f"{case.assigned_to.username} has already claimed this case."
                )
            case.assigned_to = moderator
        case.save(update_fields=["assigned_to"])
        audit_record(
            actor=moderator,
            action="case.release" if release else "case.claim",
            target_type=case.target_type,
            target_id=case.target_id,
            case=case,
            before={"assigned_to": before},
            after={"assigned_to": None if release else moderator.username},
        )
        case_announce(case, "claimed")
    return case


def case_escalate(*, moderator, case_id: int, note: str = "") -> Case:
    """Mark a case for senior review (admins see escalated cases first in their filter)."""
    from apps.moderation.audit import audit_record

    with transaction.atomic():
        case = Case.objects.select_for_update().filter(id=case_id).first()
        if case is None:
            raise ApplicationError("not_found", gettext_lazy("Not found."))
        _refuse_own(moderator, case)
        if case.status != Case.Status.OPEN:
            raise ApplicationError("conflict", gettext_lazy("This case is closed."))
        case.escalated = True
        case.save(update_fields=["escalated"])
        audit_record(
            actor=moderator,
            action="case.escalate",
            target_type=case.target_type,
            target_id=case.target_id,
            case=case,
            note=note[:2000],
            before={"escalated": False},
            after={"escalated": True},
        )
        case_announce(case, "escalated")
    return case


def _refuse_own(moderator, case: Case) -> None:
    """Moderators never decide about themselves or their own content."""
    if case.subject_id == moderator.pk:
        raise ApplicationError(
            "forbidden",
            gettext_lazy("This case is about you or your content; another moderator decides it."),
        )


# --- Automatic flags from other apps' records ---------------------------------------------


def flags_ingest(*, limit: int = 500) -> int:
    """Open or join cases for consent take-downs and held prompts not yet in a case.

    Run by beat every few seconds (consent and the prompt policy record their flags without
    knowing this app); safe to run twice. Returns how many flags were added."""
    from apps.consent.models import ConsentFlag
    from apps.moderation.models import PolicyHold

    added = 0
    seen_consent = CaseFlag.objects.filter(
        source__in=[CaseFlag.Source.LIKENESS_WITHDRAWN, CaseFlag.Source.LIKENESS_USE_REMOVED]
    ).values("source_id")
    for flag in (
        ConsentFlag.objects.filter(resolved_at__isnull=True)
        .exclude(id__in=seen_consent)
        .select_related("post", "post__author", "person")
        .order_by("id")[:limit]
    ):
        with transaction.atomic():
            case_open_or_join(
                target_type=Target.POST,
                target_id=flag.post_id,
                subject=flag.post.author,
                reason=Reason.LIKENESS,
                flag_source=flag.reason,
                flag_source_id=flag.id,
                detail={"person": flag.person.username, "event_id": str(flag.event_id or "")},
            )
        added += 1
    seen_holds = CaseFlag.objects.filter(source=CaseFlag.Source.PROTECTED_TERM).values("source_id")
    for hold in (
        PolicyHold.objects.filter(cleared_at__isnull=True)
        .exclude(id__in=seen_holds)
        .select_related("job", "job__owner")
        .order_by("id")[:limit]
    ):
        # A held job has no post yet: the case is about its creator, with the job in detail.
        with transaction.atomic():
            case_open_or_join(
                target_type=Target.USER,
                target_id=hold.job.owner_id,
                subject=hold.job.owner,
                reason=Reason.IP,
                flag_source=CaseFlag.Source.PROTECTED_TERM,
                flag_source_id=hold.id,
                detail={"job_id": str(hold.job_id), "terms": hold.terms},
            )
        added += 1
    return added

"""Pages for moderators' decisions and for appeals.

Moderators: the action form of a case page posts to ``case_act``; the queue's checkboxes post to
``bulk``; ``appeals`` lists what waits for a second look. Authors: the page of a post the
moderators took down explains it and offers an appeal (``apps.posts.views.post_detail`` renders
``removed_notice``), and ``appeals_mine`` lists the decisions about them they may appeal.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.moderation import actions, appeals
from apps.moderation.models import Appeal, ModerationAction
from apps.moderation.views import _why, moderator_required


def _back(request, default: str):
    """Where the form came from (``next``), when it is on this site."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _until(request) -> dt.datetime | None:
    """A suspension's end from the form: a number of days, or a date/time (none: for good)."""
    days = (request.POST.get("duration_days") or "").strip()
    raw = (request.POST.get("until") or "").strip()
    if days:
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            raise ApplicationError(
                "invalid", "Days: 1 to 3650.", fields={"duration_days": ["1 to 3650."]}
            )
        return timezone.now() + dt.timedelta(days=int(days))
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError as e:
        raise ApplicationError(
            "invalid", "The end is not a date.", fields={"until": ["Not a date."]}
        ) from e
    return when if when.tzinfo else timezone.make_aware(when)


def _case_ids(request) -> list[int]:
    ids = [v for v in request.POST.getlist("case_ids") if v.isdigit() and len(v) <= 19]
    return [int(v) for v in ids]


@moderator_required
@require_POST
def case_act(request, case_id: int):
    """The action form of a case page."""
    action = request.POST.get("action", "")
    try:
        taken = actions.action_take(
            moderator=request.user,
            case_id=case_id,
            action=action,
            reason_code=request.POST.get("reason_code", ""),
            note=request.POST.get("note", "")[:2000],
            until=_until(request) if action == ModerationAction.Kind.SUSPEND else None,
            message_template=request.POST.get("message_template") or None,
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, f"Not done: {_why(e)}")
    else:
        messages.success(request, f"Done: {taken.get_kind_display().lower()}.")
    return _back(request, f"/moderation/cases/{case_id}")


@moderator_required
@require_POST
def bulk(request):
    """The queue's bulk action over the checked cases (a spam wave)."""
    ids = _case_ids(request)
    if not ids:
        messages.error(request, "Not done: select some cases.")
        return _back(request, "/moderation/queue")
    try:
        taken = actions.actions_bulk(
            moderator=request.user,
            case_ids=ids,
            action=request.POST.get("action", ""),
            reason_code=request.POST.get("reason_code", ""),
            note=request.POST.get("note", "")[:2000],
            message_template=request.POST.get("message_template") or None,
        )
    except ApplicationError as e:
        messages.error(request, f"Not done: {_why(e)}")
    else:
        skipped = len(set(ids)) - len(taken)
        text = f"Done on {len(taken)} case{'s' if len(taken) != 1 else ''}."
        if skipped:
            text += f" {skipped} skipped (already decided, or about you)."
        messages.success(request, text)
    return _back(request, "/moderation/queue")


@moderator_required
def appeals_queue(request):
    """Appeals waiting for a moderator other than the one who decided."""
    pending = list(appeals.appeals_pending()[:200])
    return render(request, "moderation/appeals.html", {"appeals": pending})


@moderator_required
@require_POST
def appeal_decide(request, appeal_id: int):
    try:
        appeal = appeals.appeal_decide(
            moderator=request.user,
            appeal_id=appeal_id,
            decision=request.POST.get("decision", ""),
            note=request.POST.get("note", "")[:2000],
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, f"Not decided: {_why(e)}")
    else:
        messages.success(request, f"Appeal {appeal.get_status_display().lower()}.")
    return _back(request, "/moderation/appeals")


@login_required
def appeals_mine(request):
    """The decisions about me, with their appeals (or a form, while one may be made)."""
    rows = list(
        ModerationAction.objects.filter(
            case__subject=request.user, kind__in=list(actions.AGAINST)
        ).order_by("-id")[:100]
    )
    made = {a.action_id: a for a in Appeal.objects.filter(author=request.user, action__in=rows)}
    now = timezone.now()
    items = [
        {
            "action": a,
            "appeal": made.get(a.id),
            "deadline": appeals.appeal_deadline(a),
            "can_appeal": a.reversed_at is None
            and a.id not in made
            and now <= appeals.appeal_deadline(a),
        }
        for a in rows
    ]
    return render(request, "moderation/appeals_mine.html", {"items": items})


@login_required
@require_POST
def appeal_create(request):
    """The author's appeal form (on a removed post's page, or the list of decisions)."""
    raw = request.POST.get("case_id", "")
    if not raw.isdigit() or len(raw) > 19:
        raise Http404
    try:
        appeals.appeal_create(
            author=request.user, case_id=int(raw), body=request.POST.get("body", "")
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, f"Not sent: {_why(e)}")
    else:
        messages.success(request, "Your appeal is sent; another moderator will look at it.")
    return _back(request, "/appeals")


def appeal_by_link(request, token: str):
    """The appeal form of one decision, opened from the emailed link: for a suspended person,
    who cannot sign in. The link is the credential; it names the decision and the person."""
    try:
        action = appeals.appeal_link_action(token=token)
    except ApplicationError as e:
        raise Http404 from e
    case = action.case
    made = Appeal.objects.filter(action=action).first()
    sent = False
    if request.method == "POST" and made is None:
        try:
            made = appeals.appeal_create(
                author=case.subject, case_id=case.id, body=request.POST.get("body", "")
            )
            sent = True
        except ApplicationError as e:
            if e.code == "not_found":
                raise Http404 from e
            messages.error(request, f"Not sent: {_why(e)}")
    standing = action.reversed_at is None
    return render(
        request,
        "moderation/appeal_link.html",
        {
            "action": action,
            "appeal": made,
            "sent": sent,
            "deadline": appeals.appeal_deadline(action),
            "can_appeal": standing
            and made is None
            and timezone.now() <= appeals.appeal_deadline(action),
        },
    )

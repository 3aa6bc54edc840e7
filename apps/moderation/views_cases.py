"""Site pages for reports and the moderators' queue.

Anyone signed in: the report form (``/report``) and their reports' outcomes (``/reports/mine``).
Moderators (everyone else gets 404): the live queue (``/moderation/``), a case with everything
about it (``/moderation/cases/<id>``, every view audited), claim and escalate buttons, and the
case's media, served to moderators even when taken down. The action form on the case page posts
to ``/moderation/cases/<id>/act`` (the actions' own view).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.moderation import cases, queue
from apps.moderation.models import Case, Reason, Target
from apps.moderation.views import _why, moderator_required

REASON_LABELS = {
    Reason.SEXUAL: "Sexual content",
    Reason.VIOLENCE: "Violence",
    Reason.HARASSMENT: "Harassment or bullying",
    Reason.LIKENESS: "Uses my or someone's likeness without consent",
    Reason.IP: "Someone else's work, name or trademark",
    Reason.SPAM: "Spam",
    Reason.MINOR_SAFETY: "Endangers a minor",
    Reason.OTHER: "Something else",
}


def _reasons() -> list[tuple[str, str]]:
    return [(r.value, REASON_LABELS[r]) for r in Reason]


# --- Reporting (anyone signed in) -------------------------------------------------------------


def _target_summary(target_type: str, target) -> dict[str, str]:
    if target_type == Target.POST:
        return {
            "label": f"@{target.author.username}'s post",
            "text": target.caption,
            "back": reverse("posts:detail", args=[target.id]),
        }
    if target_type == Target.COMMENT:
        return {
            "label": f"@{target.author.username}'s comment",
            "text": target.body,
            "back": reverse("posts:detail", args=[target.post_id]),
        }
    return {
        "label": f"@{target.username}",
        "text": target.display_name,
        "back": reverse("accounts:profile", args=[target.username]),
    }


@login_required
def report(request):
    """GET: the form for one target (``?type=post&id=…``); POST: send it."""
    source = request.POST if request.method == "POST" else request.GET
    target_type = source.get("type", "")
    target_id = source.get("id", "")
    try:
        target, _ = cases.target_resolve(
            target_type=target_type, target_id=target_id, viewer=request.user
        )
    except ApplicationError as e:
        raise Http404 from e
    summary = _target_summary(target_type, target)
    error = None
    if request.method == "POST":
        try:
            cases.report_create(
                reporter=request.user,
                target_type=target_type,
                target_id=target_id,
                reason=request.POST.get("reason", ""),
                details=request.POST.get("details", ""),
            )
        except ApplicationError as e:
            error = _why(e)
        else:
            messages.success(
                request, "Thank you. The moderators will review it; you will see the outcome here."
            )
            return redirect("moderation:reports-mine")
    return render(
        request,
        "moderation/report.html",
        {
            "target_type": target_type,
            "target_id": target_id,
            "summary": summary,
            "reasons": _reasons(),
            "chosen": request.POST.get("reason", ""),
            "details": request.POST.get("details", ""),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_safe
def reports_mine(request):
    try:
        params = PageParams.from_query(request.GET)
    except ApplicationError:
        params = PageParams()
    page = queue.reports_mine(user=request.user, params=params)
    for item in page.items:
        item["reason_label"] = REASON_LABELS[Reason(item["reason"])]
    return render(request, "moderation/reports_mine.html", {"page": page})


# --- The queue and the case (moderators) ------------------------------------------------------


@moderator_required
@require_safe
def queue_page(request):
    try:
        filters = queue.QueueFilters.from_query(request.GET)
    except ApplicationError:
        filters = queue.QueueFilters()
    page = queue.queue_page(moderator=request.user, filters=filters)
    return render(
        request,
        "moderation/queue.html",
        {
            "page": page,
            "filters": filters,
            "reasons": _reasons(),
            "kinds": [t.value for t in Target],
            "open_count": (
                f"{queue.OPEN_COUNT_CAP}+"
                if page.open_count >= queue.OPEN_COUNT_CAP
                else page.open_count
            ),
            "query": request.GET.urlencode(),
        },
    )


@moderator_required
@require_safe
def case_page(request, case_id: int):
    try:
        case = queue.case_view(moderator=request.user, case_id=case_id)
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, e.message)
        return redirect("moderation:queue")
    from apps.moderation.actions import ACTIONS

    return render(
        request,
        "moderation/case.html",
        {
            "case": case,
            "actions": [str(a) for a in ACTIONS],
            "reasons": _reasons(),
            "act_url": f"/moderation/cases/{case['id']}/act",
        },
    )


def _back(request, case_id: int):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("moderation:case", case_id=case_id)


@moderator_required
@require_POST
def case_claim(request, case_id: int):
    try:
        cases.case_claim(
            moderator=request.user, case_id=case_id, release=request.POST.get("release") == "1"
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, e.message)
    else:
        messages.success(
            request, "Released." if request.POST.get("release") == "1" else "Claimed: it is yours."
        )
    return _back(request, case_id)


@moderator_required
@require_POST
def case_escalate(request, case_id: int):
    try:
        cases.case_escalate(
            moderator=request.user, case_id=case_id, note=request.POST.get("note", "")
        )
    except ApplicationError as e:
        if e.code == "not_found":
            raise Http404 from e
        messages.error(request, e.message)
    else:
        messages.success(request, "Escalated for senior review.")
    return _back(request, case_id)


@moderator_required
@require_safe
def case_media(request, asset_id: int, variant: str):
    """A case's media for moderators, taken down or not. Only media some case is about (a
    reported post's file, a reported person's picture) is served through here."""
    from apps.accounts.models import User
    from apps.media.models import Asset
    from apps.media.views import _serve
    from apps.posts.models import Post

    post_ids = Post.objects.filter(asset_id=asset_id).values("id")
    user_ids = User.objects.filter(avatar_id=asset_id).values("id")
    in_case = Case.objects.filter(
        Q(target_type=Target.POST, target_id__in=post_ids)
        | Q(target_type=Target.USER, target_id__in=user_ids)
    ).exists()
    asset = Asset.objects.filter(id=asset_id).first() if in_case else None
    if asset is None:
        raise Http404
    return _serve(request, asset, variant, public=False)

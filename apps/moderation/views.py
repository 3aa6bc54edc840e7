"""The moderators' page for protected names and marks, and the holds waiting for them."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError
from apps.moderation import selectors, services
from apps.moderation.roles import two_factor_missing


def moderator_required(view):
    """Moderators only (``apps.moderation.roles``); anyone else, signed in or not, gets the page
    that does not exist."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not selectors.is_moderator(request.user):
            raise Http404
        if two_factor_missing(request.user):  # the role, but a required second factor is off
            return render(request, "mfa/required.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _why(e: ApplicationError) -> str:
    details = "; ".join(m for msgs in (e.fields or {}).values() for m in msgs)
    return details or e.message


@moderator_required
def terms(request):
    query = request.GET.get("q", "")[:200]
    pages = Paginator(selectors.term_list(query=query), 100)
    page = pages.get_page(request.GET.get("page"))
    return render(
        request,
        "moderation/terms.html",
        {
            "q": query,
            "page": page,
            "actions": services.ACTIONS,
            "holds": selectors.holds_open()[:100],
            "cleared": selectors.holds_recent_cleared(),
        },
    )


@moderator_required
@require_POST
def term_add(request):
    try:
        row, created = services.term_add(
            term=request.POST.get("term", ""),
            action=request.POST.get("action", "refuse"),
            note=request.POST.get("note", ""),
            created_by=request.user,
        )
    except ApplicationError as e:
        messages.error(request, f"Not added: {_why(e)}")
    else:
        verb = "Added" if created else "Updated"
        messages.success(request, f"{verb} “{row.term}” ({row.action}).")
    return redirect("moderation:terms")


@moderator_required
@require_POST
def term_remove(request, term_id: int):
    try:
        services.term_remove_by_id(term_id=term_id, moderator=request.user)
    except ApplicationError as e:
        raise Http404 from e
    messages.success(request, "Removed.")
    return redirect("moderation:terms")


@moderator_required
@require_POST
def hold_clear(request, hold_id: int):
    try:
        services.hold_clear(hold_id=hold_id, moderator=request.user)
    except ApplicationError as e:
        raise Http404 from e
    messages.success(request, "Cleared: its results can be published.")
    return redirect("moderation:terms")

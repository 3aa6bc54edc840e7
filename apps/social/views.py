"""Pages for the social layer: privacy settings, follow requests, blocks, mutes, notifications.

They call the same services and selectors as the API.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.models import User
from apps.accounts.selectors import user_get_by_username
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.notifications import selectors as notification_selectors
from apps.notifications import services as notification_services
from apps.social import services


def _user(username: str) -> User:
    try:
        return user_get_by_username(username=username)
    except ApplicationError as e:
        raise Http404 from e


@login_required
@require_POST
def follow_request_answer(request, username: str):
    requester = _user(username)
    try:
        if request.POST.get("action") == "approve":
            services.follow_request_approve(user=request.user, requester=requester)
        else:
            services.follow_request_deny(user=request.user, requester=requester)
    except ApplicationError:
        pass  # answered already (another tab)
    return redirect("accounts:settings_privacy")


@login_required
@require_POST
def block_toggle(request, username: str):
    other = _user(username)
    try:
        if request.POST.get("action") == "unblock":
            services.block_delete(blocker=request.user, blocked=other)
            messages.success(request, f"You unblocked @{other.username}.")
        else:
            services.block_create(blocker=request.user, blocked=other)
            messages.success(request, f"You blocked @{other.username}.")
    except ApplicationError as e:
        raise Http404 from e
    return redirect("accounts:settings_privacy")


@login_required
@require_POST
def mute_toggle(request, username: str):
    other = _user(username)
    try:
        if request.POST.get("action") == "unmute":
            services.mute_delete(muter=request.user, muted=other)
        else:
            services.mute_create(muter=request.user, muted=other)
    except ApplicationError as e:
        raise Http404 from e
    return redirect("accounts:profile", username=other.username)


@login_required
def notifications(request):
    """The list, newest activity first; opening it marks everything read."""
    try:
        params = PageParams.from_query(request.GET)
    except ApplicationError as e:
        raise Http404 from e
    page = notification_selectors.notification_list(user=request.user, params=params)
    if params.cursor is None:
        notification_services.notifications_mark_read(user=request.user)
    for n in page.items:
        n.summary = notification_selectors.notification_summary(n)
    return render(request, "social/notifications.html", {"page": page})

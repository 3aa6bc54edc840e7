"""Reads of notifications."""

from __future__ import annotations

from django.db.models import Q

from apps.accounts.models import User
from apps.core.pagination import Page, PageParams, paginate
from apps.notifications.models import Notification


def notification_list(*, user: User, params: PageParams) -> Page:
    """The user's notifications, most recently active first (cursor on ``seq``).

    Rows whose named actor the user now hides (a block or mute made later) are left out.
    """
    from apps.social.selectors import hidden_author_ids

    # A person whose account is suspended or deleted is gone for everyone: so are the lines
    # naming them (notices from Vivid name no one and always show).
    rows = (
        Notification.objects.filter(recipient=user)
        .filter(Q(actor__isnull=True) | Q(actor__is_active=True))
        .select_related("actor", "post")
    )
    hidden = hidden_author_ids(viewer_id=user.pk)
    if hidden:
        rows = rows.exclude(actor_id__in=hidden)
    return paginate(rows, params, field="seq")


def unread_count(*, user: User) -> int:
    return (
        Notification.objects.filter(recipient=user, read_at__isnull=True)
        .filter(Q(actor__isnull=True) | Q(actor__is_active=True))
        .count()
    )


_VERBS = {
    "follow": "followed you",
    "follow_request": "asked to follow you",
    "reaction": "reacted to your post",
    "comment": "commented on your post",
    "remix": "remixed your post",
    "mention": "mentioned you",
    "likeness_used": "used your likeness",
    "likeness_removed": "withdrew the use of their likeness in your work",
    "moderation": "",
    "account": "",
}


def notification_summary(notification: Notification) -> str:
    """ "Ana and 12 others reacted to your post"."""
    if notification.kind == "moderation":
        return "A message from the moderators"
    if notification.kind == "account":
        return "About your account"
    name = notification.actor.name if notification.actor_id else "Someone"
    others = notification.actors_count - 1
    who = name
    if others == 1:
        who = f"{name} and 1 other"
    elif others > 1:
        who = f"{name} and {others} others"
    return f"{who} {_VERBS.get(notification.kind, notification.kind)}"

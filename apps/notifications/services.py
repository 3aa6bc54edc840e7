"""Writes of notifications: add (coalescing) and mark read."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.core.ids import new_id
from apps.notifications.models import Notification, NotificationActor
from apps.realtime import groups
from apps.realtime.events import publish_on_commit


def _group_key(kind: str, post_id: int | None) -> str:
    return f"{kind}:{post_id}" if post_id else kind


def notification_add(
    *, recipient: User, actor: User, kind: str, post=None, text: str = ""
) -> Notification | None:
    """Tell ``recipient`` that ``actor`` did something; joins an unread row about the same thing.

    Nothing is stored for one's own actions or for an actor the recipient hides (a block either
    way, or a mute). Safe under concurrent calls: one unread row per subject is a database
    constraint, and each actor is counted once. Sends ``notification`` live after commit.
    """
    from apps.social.selectors import hidden_author_ids

    if recipient.pk == actor.pk or actor.pk in hidden_author_ids(viewer_id=recipient.pk):
        return None
    key = _group_key(kind, post.pk if post is not None else None)
    with transaction.atomic():
        notification = _unread_locked(recipient, key)
        if notification is None:
            try:
                with transaction.atomic():
                    notification = Notification.objects.create(
                        recipient=recipient,
                        kind=kind,
                        actor=actor,
                        post=post,
                        group_key=key,
                        text=text[:200],
                    )
                    NotificationActor.objects.create(notification=notification, actor=actor)
            except IntegrityError:  # a concurrent event created the row first: join it
                notification = _unread_locked(recipient, key)
                if notification is None:
                    return None
                _join(notification, actor, text)
        else:
            _join(notification, actor, text)
        notification.refresh_from_db()
        notification.actor = actor
        _announce(notification)
    return notification


def notice_add(
    *, recipient: User, text: str, post=None, link: str = "", kind: str = "moderation"
) -> Notification:
    """A notice from Vivid itself: what the moderators decided about the recipient's content or
    account, or about a report they made (kind ``moderation``), or news of their own account
    (kind ``account``: an export ready). Never coalesced, names no actor; sent live after
    commit. ``text`` is the whole message (up to 200 characters); ``link`` an optional path on
    this site (anything else is refused)."""
    if kind not in (Notification.Kind.MODERATION, Notification.Kind.ACCOUNT):
        raise ValueError(f"not a notice kind: {kind!r}")
    if link and (not link.startswith("/") or link.startswith("//") or "\\" in link):
        raise ValueError("a notice links to a path on this site")
    with transaction.atomic():
        notification = Notification.objects.create(
            recipient=recipient,
            kind=kind,
            actor=None,
            post=post,
            group_key=f"{kind}:{new_id()}",
            text=text[:200],
            link=link[:200],
        )
        _announce(notification)
    return notification


def _unread_locked(recipient: User, key: str) -> Notification | None:
    return (
        Notification.objects.select_for_update()
        .filter(recipient=recipient, group_key=key, read_at__isnull=True)
        .first()
    )


def _join(notification: Notification, actor: User, text: str) -> None:
    """Count a new actor once, make them the one named, and move the row to the top."""
    _, added = NotificationActor.objects.get_or_create(notification=notification, actor=actor)
    changes = {"actor": actor, "seq": new_id()}
    if text:
        changes["text"] = text[:200]
    if added:
        changes["actors_count"] = F("actors_count") + 1
    Notification.objects.filter(id=notification.id).update(**changes)


def _announce(notification: Notification) -> None:
    from apps.notifications.serializers import NotificationOut

    data = NotificationOut(notification).data
    publish_on_commit(
        groups.user_group(notification.recipient_id),
        "notification",
        "notifications",
        {"notification": data, "cursor": str(notification.seq)},
    )


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark some (or, with no ids, all) of the user's notifications read; returns how many."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    return rows.update(read_at=timezone.now())

"""Writes of the social graph: follows and follow requests, blocks and mutes."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.realtime import groups
from apps.realtime.events import publish_on_commit
from apps.social.models import Block, Follow, FollowRequest, Mute
from apps.social.selectors import blocked_either_way


def _not_found() -> ApplicationError:
    return ApplicationError("not_found", gettext_lazy("Not found."))


def _graph_changed(*user_ids: int) -> None:
    """Tell each user's open sockets to re-read whom they hide (internal, never forwarded)."""
    for user_id in user_ids:
        publish_on_commit(groups.user_group(user_id), "graph.changed", "internal", {})


def follow_create(*, follower: User, followee: User) -> str:
    """Follow someone, or ask to when their account is private. Repeats are no-ops.

    Returns the API's follow state: ``following`` or ``requested``. Someone with a block between
    them and the followee gets a 404, as if the account did not exist.
    """
    from apps.notifications import services as notifications

    if follower.pk == followee.pk:
        raise ApplicationError("invalid", gettext_lazy("You cannot follow yourself."))
    if blocked_either_way(a_id=follower.pk, b_id=followee.pk):
        raise _not_found()
    if Follow.objects.filter(follower=follower, followee=followee).exists():
        return "following"
    model, fields, kind = (
        (FollowRequest, {"requester": follower, "target": followee}, "follow_request")
        if followee.is_private
        else (Follow, {"follower": follower, "followee": followee}, "follow")
    )
    try:
        with transaction.atomic():
            _, created = model.objects.get_or_create(**fields)
            if created:
                notifications.notification_add(recipient=followee, actor=follower, kind=kind)
    except IntegrityError:  # a concurrent identical request won the insert
        pass
    return "requested" if followee.is_private else "following"


def follow_delete(*, follower: User, followee: User) -> str:
    """Unfollow, or withdraw a pending request."""
    Follow.objects.filter(follower=follower, followee=followee).delete()
    FollowRequest.objects.filter(requester=follower, target=followee).delete()
    return "none"


def follow_request_approve(*, user: User, requester: User) -> None:
    """Turn a pending request to follow ``user`` into a follow."""
    from apps.notifications import services as notifications

    with transaction.atomic():
        deleted, _ = FollowRequest.objects.filter(requester=requester, target=user).delete()
        if not deleted:
            raise _not_found()
        _, created = Follow.objects.get_or_create(follower=requester, followee=user)
        if created:
            notifications.notification_add(recipient=user, actor=requester, kind="follow")


def follow_request_deny(*, user: User, requester: User) -> None:
    deleted, _ = FollowRequest.objects.filter(requester=requester, target=user).delete()
    if not deleted:
        raise _not_found()


def follower_remove(*, user: User, follower: User) -> None:
    """Stop someone from following you (they are not told)."""
    Follow.objects.filter(follower=follower, followee=user).delete()


def block_create(*, blocker: User, blocked: User) -> None:
    """Block someone: follows and requests both ways end, and each disappears for the other.

    Feeds, profiles, posts, comments, reactions and notifications hide the other side from then
    on; open sockets of both re-read their hidden set.
    """
    if blocker.pk == blocked.pk:
        raise ApplicationError("invalid", gettext_lazy("You cannot block yourself."))
    pair = Q(follower=blocker, followee=blocked) | Q(follower=blocked, followee=blocker)
    request_pair = Q(requester=blocker, target=blocked) | Q(requester=blocked, target=blocker)
    with transaction.atomic():
        try:
            with transaction.atomic():
                _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        except IntegrityError:
            created = False
        Follow.objects.filter(pair).delete()
        FollowRequest.objects.filter(request_pair).delete()
        if created:
            _graph_changed(blocker.pk, blocked.pk)
            from apps.consent.services import likeness_block_applied

            likeness_block_applied(blocker=blocker, blocked=blocked)  # likeness consent ends too


def block_delete(*, blocker: User, blocked: User) -> None:
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if deleted:
            _graph_changed(blocker.pk, blocked.pk)


def mute_create(*, muter: User, muted: User) -> None:
    """Mute someone: their posts leave the muter's feeds and they stop notifying the muter."""
    if muter.pk == muted.pk:
        raise ApplicationError("invalid", gettext_lazy("You cannot mute yourself."))
    with transaction.atomic():
        try:
            with transaction.atomic():
                _, created = Mute.objects.get_or_create(muter=muter, muted=muted)
        except IntegrityError:
            created = False
        if created:
            _graph_changed(muter.pk)


def mute_delete(*, muter: User, muted: User) -> None:
    with transaction.atomic():
        deleted, _ = Mute.objects.filter(muter=muter, muted=muted).delete()
        if deleted:
            _graph_changed(muter.pk)

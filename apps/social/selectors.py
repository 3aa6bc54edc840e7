"""Reads of the social graph: follows, follow requests, blocks and mutes."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accounts.models import User
from apps.social.models import Block, Follow, FollowRequest, Mute


def follows(follower: User, followee: User) -> bool:
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def follow_state(*, viewer: User | None, user: User) -> str:
    """``following``, ``requested`` or ``none``: what the viewer's follow button shows."""
    if viewer is None or not viewer.is_authenticated or viewer.pk == user.pk:
        return "none"
    if Follow.objects.filter(follower_id=viewer.pk, followee_id=user.pk).exists():
        return "following"
    if FollowRequest.objects.filter(requester_id=viewer.pk, target_id=user.pk).exists():
        return "requested"
    return "none"


def follow_counts(*, user: User) -> tuple[int, int]:
    """(followers, following)."""
    return (
        Follow.objects.filter(followee=user, follower__is_active=True).count(),
        Follow.objects.filter(follower=user, followee__is_active=True).count(),
    )


def follower_ids(*, user_id: int) -> QuerySet:
    return Follow.objects.filter(followee_id=user_id).values_list("follower_id", flat=True)


def follow_requests_pending(*, user: User) -> QuerySet[FollowRequest]:
    """Requests waiting for ``user``'s answer, newest first."""
    return (
        FollowRequest.objects.filter(target=user, requester__is_active=True)
        .select_related("requester")
        .order_by("-id")
    )


def hidden_author_ids(*, viewer_id: int | None) -> set[int]:
    """Whose content the viewer never sees: people who block them, people they block or mute.

    One query. Feeds, notifications and the live socket filter on it; blocks alone also apply to
    single posts, profiles and comments (see ``blocked_ids``).
    """
    if not viewer_id:
        return set()
    blocks = Block.objects.filter(Q(blocker_id=viewer_id) | Q(blocked_id=viewer_id)).values_list(
        "blocker_id", "blocked_id"
    )
    mutes = Mute.objects.filter(muter_id=viewer_id).values_list("muted_id", "muted_id")
    out: set[int] = set()
    for a, b in blocks.union(mutes, all=True):
        out.add(a)
        out.add(b)
    out.discard(viewer_id)
    return out


def hidden_author_ids_query(*, viewer_id: int) -> QuerySet:
    """``hidden_author_ids`` as a subquery (one column of user ids), for a query that filters
    on it without a round trip of its own (the home feed). The viewer is never in it: nobody
    blocks or mutes themselves (constraints)."""
    return (
        Block.objects.filter(blocker_id=viewer_id)
        .values("blocked_id")
        .union(
            Block.objects.filter(blocked_id=viewer_id).values("blocker_id"),
            Mute.objects.filter(muter_id=viewer_id).values("muted_id"),
            all=True,
        )
    )


def blocked_ids(*, viewer_id: int | None) -> set[int]:
    """People with a block between them and the viewer, in either direction (no mutes)."""
    if not viewer_id:
        return set()
    out: set[int] = set()
    rows = Block.objects.filter(Q(blocker_id=viewer_id) | Q(blocked_id=viewer_id)).values_list(
        "blocker_id", "blocked_id"
    )
    for a, b in rows:
        out.add(a)
        out.add(b)
    out.discard(viewer_id)
    return out


def blocked_either_way(*, a_id: int, b_id: int) -> bool:
    return Block.objects.filter(
        Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)
    ).exists()


def blocks(*, blocker: User, blocked: User) -> bool:
    return Block.objects.filter(blocker=blocker, blocked=blocked).exists()


def mutes(*, muter: User, muted: User) -> bool:
    return Mute.objects.filter(muter=muter, muted=muted).exists()


def blocked_users(*, user: User) -> QuerySet[User]:
    return User.objects.filter(blocks_received__blocker=user, is_active=True).order_by("username")


def muted_users(*, user: User) -> QuerySet[User]:
    return User.objects.filter(mutes_received__muter=user, is_active=True).order_by("username")

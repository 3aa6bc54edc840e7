"""Reads for accounts."""

from __future__ import annotations

from django.db.models import Exists, F, Func, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import AccessToken, User
from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams, paginate


def user_get_by_username(*, username: str) -> User:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise ApplicationError("not_found", _("Not found."))
    return user


def token_list(*, user: User, params: PageParams | None = None) -> Page:
    """One page of the person's tokens, newest first: live, expired and revoked alike, so the
    settings page and the API can say what became of each. Never anyone else's."""
    return paginate(AccessToken.objects.filter(user=user), params or PageParams())


def token_count_active(*, user: User) -> int:
    """How many of the person's tokens work now (neither revoked nor expired)."""
    return (
        AccessToken.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .count()
    )


def _count(rows) -> Coalesce:
    """How many ``rows`` (a queryset correlated on the outer query) as a subquery column."""
    counted = rows.order_by().annotate(n=Func(F("id"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted[:1], output_field=IntegerField()), 0)


def profile_get(*, username: str, viewer: User | None) -> User:
    """A user with the counts a profile shows: followers, following, posts the viewer may see;
    and what the viewer's buttons show (``follow_state``, ``viewer_follows``, ``viewer_mutes``).

    One query: the counts and the viewer's relations are subqueries of the user's own row.
    """
    from apps.posts.models import Post
    from apps.social.models import Block, Follow, FollowRequest, Mute

    signed_in = bool(viewer and viewer.is_authenticated)
    me = OuterRef("pk")
    users = User.objects.filter(username__iexact=username, is_active=True).annotate(
        followers_n=_count(Follow.objects.filter(followee_id=me, follower__is_active=True)),
        following_n=_count(Follow.objects.filter(follower_id=me, followee__is_active=True)),
        posts_n=_count(Post.objects.visible_to(viewer).filter(author_id=me)),
    )
    if signed_in:
        users = users.annotate(
            blocked=Exists(
                Block.objects.filter(
                    Q(blocker_id=viewer.pk, blocked_id=me) | Q(blocker_id=me, blocked_id=viewer.pk)
                )
            ),
            follows=Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=me)),
            requested=Exists(FollowRequest.objects.filter(requester_id=viewer.pk, target_id=me)),
            mutes=Exists(Mute.objects.filter(muter_id=viewer.pk, muted_id=me)),
        )
    user = users.first()
    # A block hides each from the other: the profile answers like a missing one.
    if user is None or (signed_in and user.blocked):
        raise ApplicationError("not_found", _("Not found."))
    user.followers_count, user.following_count = user.followers_n, user.following_n
    user.posts_count = user.posts_n
    state = "none"
    if signed_in and viewer.pk != user.pk:
        state = "following" if user.follows else ("requested" if user.requested else "none")
    user.follow_state = state
    user.viewer_follows = state == "following"
    user.viewer_mutes = bool(signed_in and user.mutes)
    return user

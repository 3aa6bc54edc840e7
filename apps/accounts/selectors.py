"""Reads for accounts."""

from __future__ import annotations

from django.db.models import Q
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


def profile_get(*, username: str, viewer: User | None) -> User:
    """A user with the counts a profile shows: followers, following, posts the viewer may see."""
    from apps.posts.selectors import post_count_visible
    from apps.social.selectors import blocked_either_way, follow_counts, follow_state, mutes

    user = user_get_by_username(username=username)
    signed_in = bool(viewer and viewer.is_authenticated)
    # A block hides each from the other: the profile answers like a missing one.
    if signed_in and blocked_either_way(a_id=viewer.pk, b_id=user.pk):
        raise ApplicationError("not_found", _("Not found."))
    user.followers_count, user.following_count = follow_counts(user=user)
    user.posts_count = post_count_visible(author=user, viewer=viewer)
    user.follow_state = follow_state(viewer=viewer, user=user)
    user.viewer_follows = user.follow_state == "following"
    user.viewer_mutes = bool(signed_in and mutes(muter=viewer, muted=user))
    return user

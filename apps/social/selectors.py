"""Reads of the social graph."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.social.models import Follow


def follows(follower: User, followee: User) -> bool:
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def follow_counts(*, user: User) -> tuple[int, int]:
    """(followers, following)."""
    return (
        Follow.objects.filter(followee=user).count(),
        Follow.objects.filter(follower=user).count(),
    )


def follower_ids(*, user_id: int) -> QuerySet:
    return Follow.objects.filter(followee_id=user_id).values_list("follower_id", flat=True)

"""Writes of the social graph."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.social.models import Follow


def follow_create(*, follower: User, followee: User) -> str:
    """Follow someone; following again is a no-op. Returns the API's follow state."""
    if follower.pk == followee.pk:
        raise ApplicationError("invalid", "You cannot follow yourself.")
    try:
        with transaction.atomic():
            Follow.objects.get_or_create(follower=follower, followee=followee)
    except IntegrityError:  # a concurrent identical request won the insert
        pass
    return "following"


def follow_delete(*, follower: User, followee: User) -> str:
    Follow.objects.filter(follower=follower, followee=followee).delete()
    return "none"

"""The social graph."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import BaseModel


class Follow(BaseModel):
    """``follower`` sees ``followee``'s followers-only posts and gets them on the home feed."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    followee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        # The unique constraint covers follower → followee; fan-out reads followee → follower.
        indexes = [models.Index(fields=["followee", "follower"], name="follow_followee")]


class FollowRequest(BaseModel):
    """A request to follow a private account: the target approves (a Follow) or denies it."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follow_requests_sent"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follow_requests"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requester", "target"], name="follow_request_unique"),
            models.CheckConstraint(
                condition=~Q(requester=F("target")), name="follow_request_not_self"
            ),
        ]
        indexes = [models.Index(fields=["target", "-id"], name="follow_request_target")]


class Block(BaseModel):
    """``blocker`` and ``blocked`` become invisible to each other everywhere, both ways."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]
        # The unique constraint covers blocker → blocked; "who blocks me" reads blocked → blocker.
        indexes = [models.Index(fields=["blocked", "blocker"], name="block_blocked")]


class Mute(BaseModel):
    """``muted`` disappears from ``muter``'s feeds and notifications; nothing else changes."""

    muter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mutes_made"
    )
    muted = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mutes_received"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["muter", "muted"], name="mute_unique"),
            models.CheckConstraint(condition=~Q(muter=F("muted")), name="mute_not_self"),
        ]

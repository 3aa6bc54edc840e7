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

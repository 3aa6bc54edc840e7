"""Collections: posts a person keeps, in the order they choose, privately or on their profile.

A collection holds references to posts, never copies: what a viewer sees of it is decided at
read time by the one visibility rule (``Post.objects.visible_to``), so a post that its viewer
may no longer see (a block, a removal, made private, its author suspended or gone) drops out of
the collection for that viewer without any write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.core.models import BaseModel

NAME_MAX = 60
COLLECTIONS_MAX = 100  # per person
POSTS_MAX = 1000  # per collection


class Collection(BaseModel):
    """A named, ordered set of posts its owner saved; private unless made public."""

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        PUBLIC = "public"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=NAME_MAX)
    visibility = models.CharField(
        max_length=7, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Names are told apart without regard to case: "Skies" and "skies" are one name.
            models.UniqueConstraint(Lower("name"), "owner", name="collection_name_unique"),
            models.CheckConstraint(
                condition=Q(visibility__in=["private", "public"]),
                name="collection_visibility_valid",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="collection_name_not_empty"),
        ]
        indexes = [models.Index(fields=["owner", "-id"], name="collection_owner_recent")]


class CollectionItem(BaseModel):
    """One post in one collection, at a position (ascending: the owner's order)."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    post = models.ForeignKey(
        "posts.Post", on_delete=models.CASCADE, related_name="collection_items"
    )
    # 1-based; gaps are allowed (removals leave them), only the order matters.
    position = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "post"], name="collection_item_unique"),
        ]
        indexes = [
            models.Index(fields=["collection", "position"], name="collection_item_order"),
        ]

"""Posts and reactions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from apps.core.models import BaseModel

REACTION_KINDS = ("like", "love", "haha", "wow", "fire")


class PostQuerySet(models.QuerySet):
    def visible_to(self, viewer) -> PostQuerySet:
        """The one visibility rule. Every read of posts (API, pages, sockets) goes through it.

        Anyone sees public posts; followers see followers-only posts; authors see everything
        of theirs.
        """
        from apps.social.models import Follow

        public = Q(visibility=Post.Visibility.PUBLIC)
        if viewer is None or not viewer.is_authenticated:
            return self.filter(public)
        follows_author = Exists(
            Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("author_id"))
        )
        return self.filter(
            public
            | Q(author_id=viewer.pk)
            | (Q(visibility=Post.Visibility.FOLLOWERS) & follows_author)
        )


class Post(BaseModel):
    """A published asset with a caption, shown on feeds to those the visibility rule allows."""

    class Visibility(models.TextChoices):
        PUBLIC = "public"
        FOLLOWERS = "followers"
        PRIVATE = "private"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    asset = models.ForeignKey("media.Asset", on_delete=models.PROTECT, related_name="posts")
    caption = models.TextField(blank=True)
    visibility = models.CharField(max_length=9, choices=Visibility.choices)
    remix_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="remixes"
    )
    allow_remix = models.BooleanField(default=True)
    training_use = models.BooleanField(default=False)
    sensitive = models.BooleanField(default=False)
    hide_prompt = models.BooleanField(default=False)
    # Denormalised counts, changed only with F() updates beside the row they count.
    like_count = models.PositiveIntegerField(default=0)
    love_count = models.PositiveIntegerField(default=0)
    haha_count = models.PositiveIntegerField(default=0)
    wow_count = models.PositiveIntegerField(default=0)
    fire_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    remix_count = models.PositiveIntegerField(default=0)

    objects = PostQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(visibility__in=["public", "followers", "private"]),
                name="post_visibility_valid",
            ),
        ]
        indexes = [
            # Home feed and profiles: an author's posts, newest first.
            models.Index(fields=["author", "-id"], name="post_author_recent"),
            # Public feed: public posts newest first.
            models.Index(fields=["visibility", "-id"], name="post_visibility_recent"),
        ]

    @property
    def reactions(self) -> dict[str, int]:
        return {kind: getattr(self, f"{kind}_count") for kind in REACTION_KINDS}


class Reaction(BaseModel):
    """One person's reaction of one kind to one post."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions"
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reaction_set")
    kind = models.CharField(max_length=4, choices=[(k, k) for k in REACTION_KINDS])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "post", "kind"], name="reaction_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=REACTION_KINDS), name="reaction_kind_valid"
            ),
        ]

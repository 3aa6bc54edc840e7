"""Posts and reactions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from apps.core.models import BaseModel

REACTION_KINDS = ("like", "love", "haha", "wow", "fire")


class PostQuerySet(models.QuerySet):
    def visible_to(
        self, viewer, *, hidden_author_ids: set[int] | models.QuerySet | None = None
    ) -> PostQuerySet:
        """The one visibility rule. Every read of posts (API, pages, sockets) goes through it.

        Authors see everything of theirs. Others see public posts of public accounts, and
        followers also see followers-only posts and the public posts of private accounts they
        follow. Nobody sees the posts of someone with a block between them, either way.

        ``hidden_author_ids``, when given, must hold at least everyone with a block between them
        and the viewer (``apps.social.selectors.hidden_author_ids`` also adds mutes, for feeds);
        it replaces the two block subqueries with a plain ``NOT IN``, which feeds prefer. It may
        also be a subquery of ids (``hidden_author_ids_query``), which PostgreSQL hashes once.
        """
        from apps.social.models import Block, Follow

        # A post taken down (a withdrawn likeness consent, moderation) is gone for everyone, its
        # author included: they learn of it from a notification, not from their feed. So are
        # the posts of a suspended account, until the suspension is lifted.
        present = self.filter(removed_at__isnull=True, author__is_active=True)
        public = Q(visibility=Post.Visibility.PUBLIC)
        if viewer is None or not viewer.is_authenticated:
            return present.filter(public, author__is_private=False)
        follows_author = Exists(
            Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("author_id"))
        )
        visible = present.filter(
            Q(author_id=viewer.pk)
            | (public & Q(author__is_private=False))
            | (
                Q(visibility__in=[Post.Visibility.PUBLIC, Post.Visibility.FOLLOWERS])
                & follows_author
            )
        )
        if isinstance(hidden_author_ids, models.QuerySet):
            return visible.exclude(author_id__in=hidden_author_ids)
        if hidden_author_ids is not None:
            return (
                visible.exclude(author_id__in=hidden_author_ids) if hidden_author_ids else visible
            )
        blocked = Block.objects.filter(
            Q(blocker_id=viewer.pk, blocked_id=OuterRef("author_id"))
            | Q(blocker_id=OuterRef("author_id"), blocked_id=viewer.pk)
        )
        return visible.filter(~Exists(blocked))


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
    # The text alternative of the picture or clip for people who cannot see it (screen readers,
    # images that do not load); the creator's words, at most ALT_TEXT_MAX characters.
    alt_text = models.TextField(blank=True, default="")
    visibility = models.CharField(max_length=9, choices=Visibility.choices)
    remix_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="remixes"
    )
    allow_remix = models.BooleanField(default=True)
    training_use = models.BooleanField(default=False)
    sensitive = models.BooleanField(default=False)
    hide_prompt = models.BooleanField(default=False)
    # Set when the post is taken down (never by its author, who deletes instead): the visibility
    # rule then hides it from everyone. ``removed_reason`` is a machine code such as
    # ``likeness_consent_withdrawn``.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=50, blank=True)
    # Denormalised counts, changed only with F() updates beside the row they count.
    like_count = models.PositiveIntegerField(default=0)
    love_count = models.PositiveIntegerField(default=0)
    haha_count = models.PositiveIntegerField(default=0)
    wow_count = models.PositiveIntegerField(default=0)
    fire_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    remix_count = models.PositiveIntegerField(default=0)
    # Trending order: log10 of engagement (reactions, remixes weighted 3) plus creation time in
    # units of 12.5 hours, so ten times the engagement buys 12.5 hours of freshness. Kept up to
    # date by the same UPDATE that changes a count, so the trending page is one index scan.
    trend_score = models.FloatField(default=0.0)

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
            # Trending: public posts by score.
            models.Index(
                fields=["visibility", "-trend_score", "-id"], name="post_visibility_trending"
            ),
            # A post's remixes.
            models.Index(fields=["remix_of", "-id"], name="post_remixes"),
        ]

    @property
    def reactions(self) -> dict[str, int]:
        return {kind: getattr(self, f"{kind}_count") for kind in REACTION_KINDS}

    @property
    def hashtags(self) -> list[str]:
        from apps.posts.text import hashtags

        return hashtags(self.caption)


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


class PostTag(models.Model):
    """A #hashtag in a post's caption (lower case), for the hashtag feed."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="tags")
    tag = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "tag"], name="post_tag_unique")]
        indexes = [models.Index(fields=["tag", "-post"], name="post_tag_recent")]


class Comment(BaseModel):
    """A comment on a post, or a reply to one (one level deep: replies have no replies)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    body = models.TextField(max_length=2000)
    # Set when moderators remove the comment: it is then shown to nobody.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=50, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="comment_body_not_empty"),
        ]
        indexes = [models.Index(fields=["post", "id"], name="comment_post_order")]

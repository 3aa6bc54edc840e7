"""Notifications: stored, listed, marked read, and coalesced per subject while unread."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ids import new_id
from apps.core.models import BaseModel

KINDS = (
    "follow",
    "follow_request",
    "reaction",
    "comment",
    "remix",
    "mention",
    "likeness_used",
    "likeness_removed",
    "moderation",
    "account",
)


class Notification(BaseModel):
    """One line in someone's notifications, standing for one or more actors doing the same thing.

    While unread, a new event with the same ``group_key`` (the kind and the post) joins this row
    instead of adding one: "Ana and 12 others reacted to your post". Once read, the next event
    starts a new row.
    """

    class Kind(models.TextChoices):
        FOLLOW = "follow"
        FOLLOW_REQUEST = "follow_request"
        REACTION = "reaction"
        COMMENT = "comment"
        REMIX = "remix"
        MENTION = "mention"
        # Someone generated or published with the recipient's likeness (apps.consent).
        LIKENESS_USED = "likeness_used"
        # A person depicted took back a use: a draft left the Library, or a post was taken down.
        LIKENESS_REMOVED = "likeness_removed"
        # A notice from the moderators: a decision about the recipient's content or account, or
        # the outcome of a report they made. It names no moderator (``actor`` is empty).
        MODERATION = "moderation"
        # A notice from Vivid about the recipient's own account (their data export is ready).
        # Names no actor; ``link`` says where to read more.
        ACCOUNT = "account"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The most recent actor, shown by name; the others are counted. Empty for notices from
    # Vivid itself (moderation).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications_caused",
    )
    post = models.ForeignKey(
        "posts.Post", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    group_key = models.CharField(max_length=40)
    actors_count = models.PositiveIntegerField(default=1)
    # Excerpt of the comment or caption that caused it (comments, mentions).
    text = models.CharField(max_length=200, blank=True)
    # Where a notice from Vivid points on this site: a path (``/settings/data/export``), never
    # a whole URL, so a notice cannot send anyone elsewhere.
    link = models.CharField(max_length=200, blank=True, default="")
    # Sort key: a fresh time-sortable id each time someone joins, so a busy row moves to the top.
    seq = models.BigIntegerField(default=new_id)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "group_key"],
                condition=Q(read_at__isnull=True),
                name="notification_one_unread_group",
            ),
            models.CheckConstraint(condition=Q(kind__in=KINDS), name="notification_kind_valid"),
        ]
        indexes = [models.Index(fields=["recipient", "-seq"], name="notification_recent")]


class NotificationActor(models.Model):
    """Who is counted in a coalesced notification: each person once."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="actors")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "actor"], name="notification_actor_unique"
            )
        ]

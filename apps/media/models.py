"""Stored media: the original as generated, addressed by content hash, and its variants."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from apps.core.models import BaseModel


class AssetQuerySet(models.QuerySet):
    def visible_to(self, viewer) -> "AssetQuerySet":
        """An asset is visible to its owner, to anyone who may see a post showing it, and to
        everyone when it is someone's profile picture. Everything else (the Library) is private.
        """
        from apps.accounts.models import User
        from apps.posts.models import Post

        shown = Exists(Post.objects.visible_to(viewer).filter(asset=OuterRef("pk")))
        avatar = Exists(User.objects.filter(avatar=OuterRef("pk"), is_active=True))
        # A removed asset (a person depicted withdrew the use of their likeness) is gone for
        # everyone, its owner included.
        present = self.filter(removed_at__isnull=True)
        if viewer is not None and viewer.is_authenticated:
            return present.filter(Q(owner=viewer) | shown | avatar)
        return present.filter(shown | avatar)


class Asset(BaseModel):
    """One image or video file a creator owns. Files are shared by identical content."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets"
    )
    # The generation or edit that produced it (null for uploads).
    job = models.ForeignKey(
        "generation.GenerationJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assets",
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    mime = models.CharField(max_length=50)
    sha256 = models.CharField(max_length=64, db_index=True)
    original = models.CharField(max_length=200)  # storage path of the untouched original
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    duration_s = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)  # frames per second (videos)
    bytes = models.PositiveBigIntegerField()
    # 64-bit DCT perceptual hash as 16 hex digits (of a clip's poster frame for videos): finds
    # near-identical media that differ in bytes.
    phash = models.CharField(max_length=16, blank=True, db_index=True)
    # {name: storage path} of the variants made so far (see media.services.IMAGE_VARIANTS and
    # VIDEO_VARIANTS); filled in asynchronously on the media queue.
    variants = models.JSONField(default=dict, blank=True)
    # Dominant colour as #rrggbb, shown until variants load.
    placeholder = models.CharField(max_length=7, blank=True)
    # Set when the asset is taken out of its owner's Library by someone else's right (a person
    # depicted removed the use of their likeness); ``removed_reason`` is a machine code.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=50, blank=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["image", "video"]), name="asset_kind"),
        ]
        indexes = [models.Index(fields=["owner", "-id"], name="asset_owner_recent")]

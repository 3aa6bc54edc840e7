"""Stored media: the original as generated, addressed by content hash, and its variants."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from apps.core.models import BaseModel


class AssetQuerySet(models.QuerySet):
    def visible_to(self, viewer) -> "AssetQuerySet":
        """An asset is visible to its owner, and to anyone who may see a post showing it."""
        from apps.posts.models import Post

        shown = Post.objects.visible_to(viewer).filter(asset=OuterRef("pk"))
        if viewer is not None and viewer.is_authenticated:
            return self.filter(Q(owner=viewer) | Exists(shown))
        return self.filter(Exists(shown))


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
    bytes = models.PositiveBigIntegerField()
    # {"thumb": path, "preview": path}; filled in asynchronously on the media queue.
    variants = models.JSONField(default=dict, blank=True)
    # Dominant colour as #rrggbb, shown until variants load.
    placeholder = models.CharField(max_length=7, blank=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["image", "video"]), name="asset_kind"),
        ]
        indexes = [models.Index(fields=["owner", "-id"], name="asset_owner_recent")]

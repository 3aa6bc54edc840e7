"""People and the personal access tokens that scripts and apps use to act for them."""

import hashlib

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from apps.core.ids import new_id

username_validator = RegexValidator(
    r"^[A-Za-z0-9_]{3,30}$",
    "Use 3 to 30 letters, digits or underscores.",
)


class VividUserManager(UserManager):
    def get_by_natural_key(self, username):
        # Log-in ignores case, as uniqueness does.
        return self.get(username__iexact=username)


class User(AbstractUser):
    """A Vivid account. Usernames are unique regardless of case and appear in URLs."""

    class SensitiveMedia(models.TextChoices):
        SHOW = "show"
        BLUR = "blur"
        HIDE = "hide"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    username = models.CharField(max_length=30, unique=True, validators=[username_validator])
    display_name = models.CharField(max_length=60, blank=True)
    bio = models.CharField(max_length=500, blank=True)
    # Private accounts approve their followers (follow requests arrive with the social layer).
    is_private = models.BooleanField(default=False)
    sensitive_media = models.CharField(
        max_length=4, choices=SensitiveMedia.choices, default=SensitiveMedia.BLUR
    )
    # Links shown on the profile: [{"label": str, "url": str}], at most PROFILE_LINKS_MAX.
    links = models.JSONField(default=list, blank=True)
    # Set when the person asks for their account to be deleted: from then on it is gone for
    # everyone else (like a suspension) and the purge of rows and files waits until
    # ``deletion_purge_at``; signing in on the site before then cancels it.
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deletion_purge_at = models.DateTimeField(null=True, blank=True)
    # Set once the purge has finished; the row stays, pseudonymised, for the signed chains.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The profile picture: an asset made from an upload (see media.uploads), shown to everyone.
    avatar = models.ForeignKey(
        "media.Asset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="avatar_of",
    )

    objects = VividUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(sensitive_media__in=["show", "blur", "hide"]),
                name="user_sensitive_media_valid",
            ),
        ]

    @property
    def name(self) -> str:
        return self.display_name or self.username


class AccessToken(models.Model):
    """A personal access token. Only its SHA-256 is stored; the secret is shown once."""

    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"
        MODERATE = "moderate"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100, blank=True)
    # First characters of the secret, so people can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Optional: after this the token no longer authenticates.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="token_user_created")]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def hash_token(raw: str) -> str:
    """Tokens are long random secrets, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(raw.encode()).hexdigest()


class DataExport(models.Model):
    """A zip of everything a person has on Vivid, built in the background and kept for a week."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        EXPIRED = "expired"  # the file was deleted after its week

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    # Storage name of the zip (default storage), its size and SHA-256 once built.
    file_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="export_user_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["queued", "running", "succeeded", "failed", "expired"]
                ),
                name="export_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0) & models.Q(progress__lte=1),
                name="export_progress_range",
            ),
        ]

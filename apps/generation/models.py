"""Generation jobs: one creator's request, its progress, and the assets it produced."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


class IllegalTransition(Exception):
    pass


class GenerationJob(BaseModel):
    """A request to a generation backend, run by a worker; its results live in the Library."""

    class Kind(models.TextChoices):
        IMAGE = "image"
        VIDEO = "video"

    class Op(models.TextChoices):
        GENERATE = "generate"
        TRIM = "trim"
        STITCH = "stitch"
        EXTEND = "extend"
        UPSCALE = "upscale"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    # Every allowed move between states. A redelivered job (its worker died) runs again from
    # "running"; finished states are final.
    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.CANCELED, Status.FAILED},
        Status.RUNNING: {Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELED},
        Status.SUCCEEDED: set(),
        Status.FAILED: set(),
        Status.CANCELED: set(),
    }
    FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    # A generation from a prompt, or an edit of assets from the Library (its inputs).
    op = models.CharField(max_length=8, choices=Op.choices, default=Op.GENERATE)
    inputs = models.ManyToManyField(
        "media.Asset", through="JobInput", related_name="used_by_jobs", blank=True
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    backend = models.CharField(max_length=50)  # alias in GENERATION_BACKENDS
    seed = models.BigIntegerField()
    # aspect_ratio, quality, count, width, height, duration_s: what the backend was asked for.
    params = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Quota units charged for this job (refunded if it fails).
    cost = models.PositiveIntegerField(default=0)
    # When the job was last handed to the broker; a queued job long past it is handed over again.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "canceled"]),
                name="job_status_valid",
            ),
            models.CheckConstraint(condition=Q(kind__in=["image", "video"]), name="job_kind_valid"),
            models.CheckConstraint(
                condition=Q(op__in=["generate", "trim", "stitch", "extend", "upscale"]),
                name="job_op_valid",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_range"
            ),
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="job_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-id"], name="job_owner_recent"),
            models.Index(fields=["status", "started_at"], name="job_status_started"),
        ]

    def move_to(self, status: "GenerationJob.Status") -> None:
        """Change state, or raise ``IllegalTransition``. The caller saves."""
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise IllegalTransition(f"job {self.id}: {self.status} → {status}")
        self.status = status

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class JobInput(models.Model):
    """An asset an edit works on, in order (stitch order matters): the edit's parents."""

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="job_inputs")
    asset = models.ForeignKey("media.Asset", on_delete=models.PROTECT, related_name="job_inputs")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="job_input_position_unique")
        ]
        ordering = ["position"]

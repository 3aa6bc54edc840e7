"""Prompt policy: protected names and marks, and the holds that keep results from publishing.

A ``ProtectedTerm`` is a public figure's name or a trademark. ``refuse`` terms stop a request at
once (422 ``policy_violation``); ``review`` terms let the job run but put a ``PolicyHold`` on it,
so nothing it made can be published until a moderator clears the hold. The later moderation
queue reads these holds.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


class ProtectedTerm(BaseModel):
    """One protected name or mark. ``normalized`` is what matching compares (see policy.py)."""

    class Action(models.TextChoices):
        REFUSE = "refuse"
        REVIEW = "review"

    term = models.CharField(max_length=200)
    # The term's words after NFKC, case folding and accent removal, joined by single spaces.
    normalized = models.CharField(max_length=200, unique=True)
    action = models.CharField(max_length=6, choices=Action.choices)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="protected_terms_added",
    )

    class Meta:
        ordering = ["normalized"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["refuse", "review"]), name="protected_term_action_valid"
            ),
            models.CheckConstraint(
                condition=~Q(normalized=""), name="protected_term_normalized_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} ({self.action})"


class PolicyHold(BaseModel):
    """A job whose prompt named a ``review`` term: its results wait for a moderator.

    One hold per job. ``terms`` lists the matched terms as written in the list (the prompt itself
    stays on the job). Cleared holds are kept, with who cleared them and when.
    """

    job = models.OneToOneField(
        "generation.GenerationJob", on_delete=models.CASCADE, related_name="policy_hold"
    )
    terms = models.JSONField(default=list)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="policy_holds_cleared",
    )
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The moderators' list: open holds, newest first.
            models.Index(
                fields=["-created_at"], condition=Q(cleared_at__isnull=True), name="hold_open"
            ),
        ]

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None

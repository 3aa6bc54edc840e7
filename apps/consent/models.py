"""Consent: each person's current choices, the append-only log of every change, the uses of
their likeness, and the flags left for moderation.

The log (``ConsentEvent``) is the record of truth: hash-chained and signed per person through
``apps.core.ledger``, never updated or deleted. ``ConsentSettings`` and ``LikenessApproval`` are
the current state derived from it, kept beside it so that a consent check is one indexed read;
every change to them appends an event in the same transaction (``apps.consent.services``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ledger import ChainedRecord
from apps.core.models import BaseModel


class ConsentEvent(ChainedRecord):
    """One consent decision, as the person made it: what (``kind``), about what (``scope``) and
    the new value. Chained per person (``user:<id>``), so people's changes never wait on each
    other, and signed, so a rewritten history fails ``provenance_verify``.

    The person is kept by id without a foreign-key constraint: the row outlives the account
    (consent proofs are kept, pseudonymised, when an account is deleted).
    """

    LOG = "consent"
    HASHED_FIELDS = ("user", "kind", "scope", "value")

    class Kind(models.TextChoices):
        LIKENESS_POLICY = "likeness_policy"  # value {"policy": ...}
        LIKENESS_APPROVE = "likeness_approve"  # value {"user_id": ..., "username": ...}
        LIKENESS_UNAPPROVE = "likeness_unapprove"  # value {"user_id": ..., "username": ...}
        LIKENESS_USE_REMOVED = "likeness_use_removed"  # scope "job:<id>", value {"requester_id"}
        TRAINING_DEFAULT = "training_default"  # value {"default_allowed": bool}
        TRAINING_POST = "training_post"  # scope "post:<id>", value {"training_use": bool}

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # What the decision is about: "likeness", "training", "job:<id>", "post:<id>".
    scope = models.CharField(max_length=40)
    value = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="consent_event_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="consent_event_user_recent"),
        ]


class ConsentSettings(models.Model):
    """A person's current choices (derived from their events): who may generate with their
    likeness, and whether their posts may be used for training by default.

    No row means the defaults: nobody may use my likeness, and no training.
    """

    class Policy(models.TextChoices):
        NOBODY = "nobody"
        APPROVED = "approved"  # the approved list only
        FOLLOWERS = "followers"  # my followers, and the approved list
        EVERYONE = "everyone"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="consent_settings",
    )
    likeness_policy = models.CharField(max_length=9, choices=Policy.choices, default=Policy.NOBODY)
    # The event that set the policy: the consent a use under "followers"/"everyone" relied on.
    likeness_policy_event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    training_default_allowed = models.BooleanField(default=False)
    training_default_event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(likeness_policy__in=["nobody", "approved", "followers", "everyone"]),
                name="consent_settings_policy_valid",
            ),
        ]


class LikenessApproval(BaseModel):
    """``approved`` may generate with ``owner``'s likeness (unless the policy is "nobody")."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likeness_approvals"
    )
    approved = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likeness_approved_by"
    )
    # The likeness_approve event: the consent a use by ``approved`` relied on.
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "approved"], name="likeness_approval_unique"),
            models.CheckConstraint(
                condition=~Q(owner=models.F("approved")), name="likeness_approval_not_self"
            ),
        ]


class LikenessUse(BaseModel):
    """A generation (or an edit of one) that named ``person``, and the consent it relied on.

    Listed for the person depicted, drafts included. ``removed`` when they take it back: the
    job's assets then leave the requester's Library and any post of them is taken down.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        REMOVED = "removed"

    job = models.ForeignKey(
        "generation.GenerationJob", on_delete=models.CASCADE, related_name="likeness_uses"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likeness_uses"
    )
    # The requester (the job's owner), kept here so "uses by X of Y" is one indexed read.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="likeness_uses_made"
    )
    consent_event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.ACTIVE)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "person"], name="likeness_use_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "removed"]), name="likeness_use_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["person", "-id"], name="likeness_use_person_recent"),
            models.Index(fields=["person", "requester"], name="likeness_use_person_requester"),
        ]


class ConsentFlag(BaseModel):
    """A post taken down because a person's likeness consent no longer covers it: left open for
    the moderation queue (which reads these; consent never imports moderation)."""

    class Reason(models.TextChoices):
        CONSENT_WITHDRAWN = "likeness_consent_withdrawn"
        USE_REMOVED = "likeness_use_removed"

    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, related_name="consent_flags")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consent_flags"
    )
    reason = models.CharField(max_length=30, choices=Reason.choices)
    # The event that withdrew the consent (a policy change, an un-approval, a removed use).
    event = models.ForeignKey(
        ConsentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "person"], name="consent_flag_unique"),
        ]
        indexes = [
            models.Index(
                fields=["-id"], condition=Q(resolved_at__isnull=True), name="consent_flag_open"
            ),
        ]

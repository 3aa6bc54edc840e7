"""Prompt policy: protected names and marks, and the holds that keep results from publishing.

A ``ProtectedTerm`` is a public figure's name or a trademark. ``refuse`` terms stop a request at
once (422 ``policy_violation``); ``review`` terms let the job run but put a ``PolicyHold`` on it,
so nothing it made can be published until a moderator clears the hold. The later moderation
queue reads these holds.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ledger import ChainedRecord
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


# --- Reports, cases, actions, strikes, appeals, the audit log ----------------------------------
#
# Everything about one target (a post, a comment or a person) gathers in one open ``Case``:
# people's ``Report``s and automatic ``CaseFlag``s (a held prompt, a withdrawn likeness consent,
# a copy of removed media, a wave of reports). Moderators decide with ``ModerationAction``s,
# each recorded in the same transaction as an ``AuditEntry`` of the signed, hash-chained audit
# log. Provenance and consent never import this app: it reads their records and flags.


class Target(models.TextChoices):
    POST = "post"
    COMMENT = "comment"
    USER = "user"


class Reason(models.TextChoices):
    SEXUAL = "sexual"
    VIOLENCE = "violence"
    HARASSMENT = "harassment"
    LIKENESS = "likeness"
    IP = "ip"
    SPAM = "spam"
    MINOR_SAFETY = "minor_safety"
    OTHER = "other"


# Queue order: the most harmful first (higher is more urgent), then the oldest.
SEVERITY = {
    Reason.MINOR_SAFETY: 100,
    Reason.SEXUAL: 80,
    Reason.VIOLENCE: 70,
    Reason.LIKENESS: 60,
    Reason.HARASSMENT: 50,
    Reason.IP: 40,
    Reason.OTHER: 20,
    Reason.SPAM: 10,
}


class Case(BaseModel):
    """Everything open about one target; decided by moderators, then closed."""

    class Status(models.TextChoices):
        OPEN = "open"
        CLOSED = "closed"

    target_type = models.CharField(max_length=7, choices=Target.choices)
    target_id = models.BigIntegerField()
    # Whose content (or who) the case is about: for history, and so moderators never decide
    # about themselves.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="moderation_cases",
    )
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    # The most severe reason among its reports and flags, and its rank (SEVERITY).
    reason = models.CharField(max_length=12, choices=Reason.choices)
    severity = models.PositiveSmallIntegerField(default=0)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="moderation_cases_assigned",
    )
    escalated = models.BooleanField(default=False)
    reports_count = models.PositiveIntegerField(default=0)
    flags_count = models.PositiveIntegerField(default=0)
    # The decision that closed it (an action name), and when; first_action_at feeds metrics.
    decision = models.CharField(max_length=20, blank=True)
    first_action_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("moderate", "Review cases and act on them"),
            ("administer", "See moderation metrics and manage moderators"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id"],
                condition=Q(status="open"),
                name="case_one_open_per_target",
            ),
            models.CheckConstraint(
                condition=Q(target_type__in=["post", "comment", "user"]), name="case_target_valid"
            ),
            models.CheckConstraint(condition=Q(status__in=["open", "closed"]), name="case_status"),
        ]
        indexes = [
            # The queue: open cases, most severe first, then oldest (ids sort by time).
            models.Index(fields=["-severity", "id"], condition=Q(status="open"), name="case_queue"),
            # The queue's filters, each in queue order (a rare reason or a moderator's own cases
            # would otherwise be found by reading past every more urgent case).
            models.Index(
                fields=["reason", "-severity", "id"],
                condition=Q(status="open"),
                name="case_queue_reason",
            ),
            models.Index(
                fields=["target_type", "-severity", "id"],
                condition=Q(status="open"),
                name="case_queue_kind",
            ),
            models.Index(
                fields=["assigned_to", "-severity", "id"],
                condition=Q(status="open", assigned_to__isnull=False),
                name="case_queue_assigned",
            ),
            models.Index(
                fields=["-severity", "id"],
                condition=Q(status="open", escalated=True),
                name="case_queue_escalated",
            ),
            models.Index(fields=["subject", "-id"], name="case_subject_recent"),
            models.Index(fields=["target_type", "target_id"], name="case_target"),
        ]


class Report(BaseModel):
    """One person's report of a target. One open report per reporter and target."""

    class Status(models.TextChoices):
        OPEN = "open"
        UPHELD = "upheld"  # the case ended with an action against the target
        DISMISSED = "dismissed"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports_made"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reports")
    target_type = models.CharField(max_length=7, choices=Target.choices)
    target_id = models.BigIntegerField()
    reason = models.CharField(max_length=12, choices=Reason.choices)
    details = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.OPEN)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reporter", "target_type", "target_id"],
                condition=Q(status="open"),
                name="report_one_open_per_reporter_target",
            ),
        ]
        indexes = [
            models.Index(fields=["reporter", "-id"], name="report_reporter_recent"),
            models.Index(fields=["case", "id"], name="report_case"),
        ]


class CaseFlag(BaseModel):
    """An automatic reason to look at a target, raised by the system rather than a person."""

    class Source(models.TextChoices):
        PROTECTED_TERM = "protected_term"  # a PolicyHold: a prompt named a review term
        LIKENESS_WITHDRAWN = "likeness_consent_withdrawn"  # a consent.ConsentFlag
        LIKENESS_USE_REMOVED = "likeness_use_removed"  # a consent.ConsentFlag
        MEDIA_BLOCKLIST = "media_blocklist"  # a copy of removed media was published
        REPORT_WAVE = "report_wave"  # many reports in a short time

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="flags")
    source = models.CharField(max_length=30, choices=Source.choices)
    # The row that raised it (a PolicyHold, a ConsentFlag, a MediaBlock …), so ingesting twice
    # adds nothing.
    source_id = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "source", "source_id"], name="case_flag_once_per_source"
            ),
        ]


class ModerationAction(BaseModel):
    """A moderator's decision on a case (or many, in a bulk action)."""

    class Kind(models.TextChoices):
        DISMISS = "dismiss"
        HIDE = "hide"  # out of sight pending review
        REMOVE = "remove"
        MARK_SENSITIVE = "mark_sensitive"
        WARN = "warn"
        STRIKE = "strike"
        SUSPEND = "suspend"
        UNSUSPEND = "unsuspend"
        RESTORE = "restore"  # an appeal reversed an earlier action

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="actions")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_actions"
    )
    kind = models.CharField(max_length=14, choices=Kind.choices)
    reason_code = models.CharField(max_length=12, choices=Reason.choices)
    note = models.TextField(max_length=2000, blank=True)
    # What the author was told (a message template filled in), shown on their notice.
    message = models.TextField(max_length=4000, blank=True)
    # Actions taken together over many cases share one batch id.
    batch = models.BigIntegerField(null=True, blank=True)
    # A suspension that enough strikes set off names the strike that tipped it over, so that
    # reversing strikes below the limit lifts it again.
    triggered_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="triggered"
    )
    # Suspensions and strikes: until when (null = for good).
    until = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["case", "id"], name="action_case")]


class Strike(BaseModel):
    """A mark against a person; enough active ones suspend them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strikes"
    )
    action = models.ForeignKey(ModerationAction, on_delete=models.CASCADE, related_name="strikes")
    reason_code = models.CharField(max_length=12, choices=Reason.choices)
    expires_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="strike_user_active")]


class Suspension(BaseModel):
    """A person suspended for a time or for good; lifted by a moderator, an appeal or time."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suspensions"
    )
    action = models.ForeignKey(
        ModerationAction, on_delete=models.CASCADE, related_name="suspensions"
    )
    until = models.DateTimeField(null=True, blank=True)  # null: for good
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["until"], condition=Q(lifted_at__isnull=True), name="suspension_active"
            )
        ]


class Appeal(BaseModel):
    """The author asks for a decision to be looked at again; another moderator decides."""

    class Status(models.TextChoices):
        PENDING = "pending"
        UPHELD = "upheld"  # the decision stands
        REVERSED = "reversed"  # the decision is undone and the content restored

    action = models.ForeignKey(ModerationAction, on_delete=models.CASCADE, related_name="appeals")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="appeals")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="appeals"
    )
    body = models.TextField(max_length=4000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="appeals_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(max_length=2000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "author"], name="appeal_once_per_action"),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(status="pending"), name="appeal_pending"),
        ]


class MediaBlock(BaseModel):
    """Removed media whose copies are refused at publish: its perceptual hash (and exact
    sha256), matched through the provenance near-copy index."""

    asset = models.ForeignKey("media.Asset", on_delete=models.CASCADE, related_name="blocks")
    sha256 = models.CharField(max_length=64, db_index=True)
    phash = models.CharField(max_length=16, blank=True)
    action = models.ForeignKey(
        ModerationAction, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)


class AuditEntry(ChainedRecord):
    """One line of the moderation audit log: every action, case view, appeal decision and role
    change, with its actor and what changed. Append-only, hash-chained per actor, signed."""

    LOG = "audit"
    HASHED_FIELDS = (
        "actor",
        "action",
        "target_type",
        "target_id",
        "case",
        "reason_code",
        "note",
        "before",
        "after",
    )

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # e.g. "case.view", "action.remove", "appeal.reversed", "role.grant"
    action = models.CharField(max_length=30)
    target_type = models.CharField(max_length=10, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    case = models.ForeignKey(
        Case,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    reason_code = models.CharField(max_length=12, blank=True)
    note = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["-id"], name="audit_recent"),
            models.Index(fields=["case", "-id"], name="audit_case"),
        ]

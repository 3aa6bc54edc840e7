"""Shared model bits: every product row has a time-sortable id and a creation time."""

from django.db import models

from apps.core.ids import new_id


class BaseModel(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        abstract = True


class OutboxMessage(models.Model):
    """A Celery task a commit owes the world (fan-out, media variants, a generation run).

    Written in the transaction whose commit must cause the task, so the task is never lost
    between commit and broker: ``apps.core.outbox`` sends it right after commit and marks it
    sent; a relay sends whatever is still unsent a few seconds later (the broker was down).
    """

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    task = models.CharField(max_length=200)  # the Celery task's registered name
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # failed sends so far
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            # The relay's question ("what is still owed, oldest first") reads only unsent rows.
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_unsent",
            ),
            models.Index(fields=["sent_at"], name="outbox_sent_at"),
        ]


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key``: a retry of the same request
    (after a timeout or a 5xx) gets that answer again instead of a second post or comment.

    Written in the same transaction as the write itself, so it exists exactly when the write
    does. Kept for ``IDEMPOTENCY_TTL_S`` (a day); an expired key may be used again.
    """

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="idempotency_records"
    )
    scope = models.CharField(max_length=64)  # which kind of write, e.g. "posts.create"
    key = models.CharField(max_length=200)
    # SHA-256 of the request (method, path, body): the same key on another request is refused.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)  # what the write made or changed
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_key_unique")
        ]


# The ledger's own tables (chain heads and signed checkpoints) live beside its code.
from apps.core.ledger import ChainHead, Checkpoint  # noqa: E402, F401

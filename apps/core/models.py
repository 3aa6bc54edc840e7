"""Shared model bits: every product row has a time-sortable id and a creation time."""

from django.db import models

from apps.core.ids import new_id


class BaseModel(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        abstract = True


# The ledger's own tables (chain heads and signed checkpoints) live beside its code.
from apps.core.ledger import ChainHead, Checkpoint  # noqa: E402, F401

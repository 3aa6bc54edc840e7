"""Shared model bits: every product row has a time-sortable id and a creation time."""

from django.db import models

from apps.core.ids import new_id


class BaseModel(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        abstract = True

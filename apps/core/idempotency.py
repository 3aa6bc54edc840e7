"""``Idempotency-Key`` for writes that create something (posts, comments, reactions).

A client that got no answer (a timeout, a 5xx, a dropped connection) cannot know whether its
write committed. Sent again with the same key, the write runs at most once and the retry gets
the first answer: the same status, and the body of what the first request made, read afresh.

The key is claimed by inserting an ``IdempotencyRecord`` in the write's own transaction, before
the write: a concurrent request with the same key waits on the unique index until the first
commits (then answers as a replay) or rolls back (then runs itself). A refused write (4xx)
rolls its claim back with it, so the key can be used again. A key reused for a different request
(another body or path) is refused with 409 ``conflict``.

The answer is rendered inside the transaction too, so nothing that can fail runs between the
commit and the response: once the write has committed, the request answers success.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from apps.core.exceptions import ApplicationError
from apps.core.models import IdempotencyRecord

T = TypeVar("T", bound=models.Model)

MAX_KEY_LENGTH = 200

# For ``extend_schema(parameters=[...])`` of the views that take it.
IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="1 to 200 characters; a repeat with the same key answers the first result.",
)


def key_from(request: Any) -> str | None:
    """The request's ``Idempotency-Key`` header (1 to 200 characters), or None."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Idempotency-Key must be 1 to 200 characters."),
            fields={"Idempotency-Key": ["1 to 200 characters."]},
        )
    return key


def _fingerprint(request: Any) -> str:
    data = request.data if isinstance(request.data, dict) else {}
    text = json.dumps(
        [request.method, request.path, data], sort_keys=True, default=str, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_TTL_S", 86_400))


def _claim(*, user: Any, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """Insert the key's record, or return the committed record of an earlier request."""
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user=user, scope=scope, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(user=user, scope=scope, key=key).first()
        if existing is None:  # its request rolled back meanwhile: claim it again
            continue
        if existing.created_at < timezone.now() - _ttl():
            existing.delete()  # expired: the key is free again
            continue
        return existing
    raise ApplicationError("conflict", gettext_lazy("This Idempotency-Key is in use; try again."))


def respond(
    request: Any,
    *,
    scope: str,
    write: Callable[[], T],
    load: Callable[[int], T | None],
    render: Callable[[T], Any],
    status: int,
) -> Response:
    """Run ``write`` (a service call) once per ``Idempotency-Key`` and answer ``render`` of what
    it returned, with ``status``. Without a key the write runs every time, but it is still
    rendered before its transaction commits.

    ``load(object_id)`` finds what an earlier request with the same key made, as the requester
    may see it now (None, or ``not_found`` raised, if it is gone since: answered 404).
    """
    key = key_from(request)
    with transaction.atomic():
        if key is None:
            return Response(render(write()), status=status)
        record = _claim(user=request.user, scope=scope, key=key, fingerprint=_fingerprint(request))
        if record.status is not None:  # a replay
            if record.fingerprint != _fingerprint(request):
                raise ApplicationError(
                    "conflict",
                    gettext_lazy("This Idempotency-Key was already used for a different request."),
                )
            found = load(record.object_id) if record.object_id is not None else None
            if found is None:
                raise ApplicationError(
                    "not_found", gettext_lazy("What this request made no longer exists.")
                )
            response = Response(render(found), status=record.status)
            response["Idempotent-Replayed"] = "true"
            return response
        made = write()
        record.status, record.object_id = status, made.pk
        record.save(update_fields=["status", "object_id"])
        return Response(render(made), status=status)


def purge() -> int:
    """Delete records past ``IDEMPOTENCY_TTL_S``."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - _ttl()).delete()
    return deleted

"""The moderation audit log: one signed, hash-chained entry per moderator action, case view,
appeal decision and role change, written in the transaction of what it records."""

from __future__ import annotations

from typing import Any

from apps.core import ledger
from apps.moderation.models import AuditEntry


def audit_record(
    *,
    actor,
    action: str,
    target_type: str = "",
    target_id: int | None = None,
    case=None,
    reason_code: str = "",
    note: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to ``actor``'s chain of the audit log. Call inside the transaction that
    makes the change, so the entry exists exactly when the change does."""
    return ledger.append(
        AuditEntry,
        chain=f"user:{actor.pk}",
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        case=case,
        reason_code=reason_code,
        note=note,
        before=before or {},
        after=after or {},
    )

"""Reading the moderation audit log: filters, pages newest first, and each entry's own check.

Writes are in ``audit.py`` (one entry per action, inside its transaction); this module only
reads. Each entry is shown with its chain link (``prev_hash``, ``hash``) and ``valid``: whether
its hash still matches its content and its signature verifies (``ledger.record_valid``), so an
edited row stands out on the page. Whole chains (missing rows, broken links, dropped tails) are
walked by ``manage.py provenance_verify``.

A page is two queries whatever the filters: the entries (by the ``-id`` index, the per-actor
``chain, seq`` index or the ``case, -id`` index), then their actors by id. Actors are not
joined: an entry must stay visible even if its actor's row were gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from apps.accounts.models import User
from apps.core import ledger
from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams, paginate
from apps.moderation.models import AuditEntry

_ACTION = re.compile(r"^[a-z_]{1,20}(\.[a-z_]{1,20})?$")
_TARGET_TYPE = re.compile(r"^[a-z_]{1,10}$")
_USERNAME = re.compile(r"^@?[\w.+-]{1,150}$")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class AuditFilters:
    """What the log may be narrowed to. ``actor`` is a username or a user id; ``action`` an
    exact action (``action.remove``) or a family (``action``, ``case``, ``role``, ``appeal``)."""

    actor: str = ""
    action: str = ""
    case: int | None = None
    target_type: str = ""
    target_id: int | None = None

    @classmethod
    def from_query(cls, query: Any) -> AuditFilters:
        fields: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        actor = (query.get("actor") or "").strip()
        if actor and not _USERNAME.match(actor):
            fields["actor"] = ["A username or a user id."]
        values["actor"] = actor.lstrip("@")
        action = (query.get("action") or "").strip()
        if action and not _ACTION.match(action):
            fields["action"] = ["An action such as action.remove, or a family such as case."]
        values["action"] = action
        target_type = (query.get("target_type") or "").strip()
        if target_type and not _TARGET_TYPE.match(target_type):
            fields["target_type"] = ["A kind of target such as post, comment or user."]
        values["target_type"] = target_type
        for name in ("case", "target_id"):
            raw = (query.get(name) or "").strip()
            values[name] = None
            if raw:
                if not raw.isdigit() or len(raw) > 19:
                    fields[name] = ["An id (digits)."]
                else:
                    values[name] = int(raw)
        if fields:
            raise ApplicationError("invalid", "Some query parameters are not valid.", fields=fields)
        return cls(**values)

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (for the page's links), empty ones left out."""
        pairs = {
            "actor": self.actor,
            "action": self.action,
            "case": "" if self.case is None else str(self.case),
            "target_type": self.target_type,
            "target_id": "" if self.target_id is None else str(self.target_id),
        }
        return {k: v for k, v in pairs.items() if v}


def _actor_ids(actor: str) -> list[int]:
    """The users ``actor`` names: by username (any case), or by id when it is all digits."""
    condition = Q(username__iexact=actor)
    if actor.isdigit() and len(actor) <= 19:
        condition |= Q(id=int(actor))
    return list(User.objects.filter(condition).values_list("id", flat=True)[:2])


def audit_entries(*, filters: AuditFilters) -> QuerySet[AuditEntry]:
    """The entries matching ``filters`` (unordered: ``paginate`` orders them newest first)."""
    entries = AuditEntry.objects.all()
    if filters.actor:
        # Each actor has their own chain, so this uses the (chain, seq) index.
        entries = entries.filter(chain__in=[f"user:{pk}" for pk in _actor_ids(filters.actor)])
    if filters.action:
        if "." in filters.action:
            entries = entries.filter(action=filters.action)
        else:
            entries = entries.filter(action__startswith=f"{filters.action}.")
    if filters.case is not None:
        entries = entries.filter(case_id=filters.case)
    if filters.target_type:
        entries = entries.filter(target_type=filters.target_type)
    if filters.target_id is not None:
        entries = entries.filter(target_id=filters.target_id)
    return entries


def audit_entry_payload(entry: AuditEntry, *, actor: User | None) -> dict[str, Any]:
    """One entry as the API and the page show it, with whether it still verifies."""
    return {
        "id": str(entry.id),
        "actor": {
            "id": str(entry.actor_id),
            "username": actor.username if actor is not None else None,
        },
        "action": entry.action,
        "target": (
            {"type": entry.target_type, "id": str(entry.target_id)}
            if entry.target_type and entry.target_id is not None
            else None
        ),
        "case_id": str(entry.case_id) if entry.case_id is not None else None,
        "reason_code": entry.reason_code,
        "note": entry.note,
        "before": entry.before,
        "after": entry.after,
        "created_at": _iso(entry.created_at),
        "chain": entry.chain,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "hash": entry.record_hash,
        "valid": ledger.record_valid(entry),
    }


def audit_page(*, filters: AuditFilters, params: PageParams) -> Page:
    """One page of the log, newest first, as payloads (two queries)."""
    page = paginate(audit_entries(filters=filters), params)
    actors = User.objects.in_bulk({e.actor_id for e in page.items})
    return Page(
        items=[audit_entry_payload(e, actor=actors.get(e.actor_id)) for e in page.items],
        next_cursor=page.next_cursor,
    )

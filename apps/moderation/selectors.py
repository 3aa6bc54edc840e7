"""Reads of the prompt policy (the moderator page, and later the moderation queue)."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.moderation import policy
from apps.moderation.models import PolicyHold, ProtectedTerm


def is_moderator(user, token=None) -> bool:
    """See ``apps.moderation.roles``: members of the moderators or admins group."""
    from apps.moderation.roles import is_moderator as has_role

    return has_role(user, token)


def term_list(*, query: str = "") -> QuerySet[ProtectedTerm]:
    terms = ProtectedTerm.objects.all().order_by("normalized")
    if query:
        terms = terms.filter(normalized__contains=policy.normalize_term(query))
    return terms


def holds_open() -> QuerySet[PolicyHold]:
    """Holds waiting for a moderator, newest first."""
    return (
        PolicyHold.objects.filter(cleared_at__isnull=True)
        .select_related("job", "job__owner")
        .order_by("-created_at")
    )


def holds_recent_cleared(*, limit: int = 20) -> list[PolicyHold]:
    return list(
        PolicyHold.objects.filter(cleared_at__isnull=False)
        .select_related("job", "job__owner", "cleared_by")
        .order_by("-cleared_at")[:limit]
    )

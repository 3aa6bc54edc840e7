"""Who moderates: Django groups holding this app's permissions.

``moderators`` hold ``moderation.moderate`` (review cases, act, decide appeals); ``admins`` hold
it and ``moderation.administer`` (metrics, granting the role). Superusers have both. A token
acts as a moderator only with the ``moderate`` scope; a browser session needs none. Everyone
else gets 404 from every moderation page and endpoint, as if they did not exist.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

MODERATORS = "moderators"
ADMINS = "admins"
MODERATE = "moderation.moderate"
ADMINISTER = "moderation.administer"


def is_moderator(user, token=None) -> bool:
    """May ``user`` (through ``token``, when the request used one) act as a moderator?"""
    if not (user is not None and user.is_authenticated and user.is_active):
        return False
    if token is not None and not token.has_scope("moderate"):
        return False
    return user.has_perm(MODERATE)


def is_admin(user, token=None) -> bool:
    return is_moderator(user, token) and user.has_perm(ADMINISTER)


# --- Two-factor sign-in for moderators (MFA_REQUIRED_FOR_MODERATORS) --------------------------
def two_factor_missing(user) -> bool:
    """Must this moderator or admin turn two-factor sign-in on before acting?"""
    from apps.accounts.mfa import moderator_two_factor_missing

    return moderator_two_factor_missing(user)


def two_factor_check(user) -> None:
    """403 ``forbidden`` naming the need for two-factor sign-in, when the setting requires it of
    moderators and admins and ``user`` has not turned it on. Call after the role check (anyone
    without the role still gets 404)."""
    from apps.accounts.mfa import MODERATOR_TWO_FACTOR_MESSAGE
    from apps.core.exceptions import ApplicationError

    if two_factor_missing(user):
        raise ApplicationError("forbidden", MODERATOR_TWO_FACTOR_MESSAGE)


def groups_ensure() -> tuple[Group, Group]:
    """The two groups with their permissions (made on first use; permissions exist once the
    app's migrations ran)."""
    moderate = Permission.objects.get(content_type__app_label="moderation", codename="moderate")
    administer = Permission.objects.get(content_type__app_label="moderation", codename="administer")
    moderators, _ = Group.objects.get_or_create(name=MODERATORS)
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    moderators.permissions.add(moderate)
    admins.permissions.add(moderate, administer)
    return moderators, admins


def role_of(user) -> str:
    names = set(user.groups.values_list("name", flat=True))
    if user.is_superuser or ADMINS in names:
        return "admin"
    if MODERATORS in names:
        return "moderator"
    return "none"


def role_set(*, user, role: str, actor=None, note: str = "") -> str:
    """Make ``user`` a moderator, an admin or neither ("none"); the change is audited (with
    ``note``, e.g. that an operator made it from the command line). Returns the role they had
    before."""
    from apps.moderation.audit import audit_record

    if role not in ("moderator", "admin", "none"):
        raise ValueError(f"unknown role {role!r}")
    with transaction.atomic():
        moderators, admins = groups_ensure()
        before = role_of(user)
        user.groups.remove(moderators, admins)
        if role == "moderator":
            user.groups.add(moderators)
        elif role == "admin":
            user.groups.add(admins)
        # Cached permissions would otherwise outlive the change on this object.
        for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
            user.__dict__.pop(cache, None)
        audit_record(
            actor=actor or user,
            action="role.grant" if role != "none" else "role.revoke",
            target_type="user",
            target_id=user.pk,
            note=note,
            before={"role": before},
            after={"role": role},
        )
    return before

"""``manage.py grant_moderator``: how an operator makes (or unmakes) moderators and admins.

grant_moderator alice            # alice becomes a moderator
grant_moderator alice --admin    # alice becomes an admin (moderator + metrics, roles)
grant_moderator alice --revoke   # alice is neither any more
grant_moderator alice --admin --revoke   # an admin goes back to being a moderator

Every change is an entry of the audit log (``role.grant`` / ``role.revoke``). The command line
has no signed-in person, so the entry's actor is the operator's own account when ``--by`` names
it, and otherwise the person whose role changed, with a note saying it came from here.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.moderation.roles import role_of, role_set


def _user(username: str) -> User:
    user = User.objects.filter(username__iexact=username.lstrip("@")).first()
    if user is None:
        raise CommandError(f"No account named {username!r}.")
    return user


class Command(BaseCommand):
    help = "Make someone a moderator (or an admin with --admin); --revoke takes the role away."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--admin", action="store_true", help="The admin role (metrics, managing moderators)."
        )
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="Take the role away (with --admin: only the admin part; they stay a moderator).",
        )
        parser.add_argument("--by", metavar="USERNAME", help="The operator's own account.")

    def handle(self, *args, username: str, admin: bool, revoke: bool, **options) -> None:
        user = _user(username)
        actor = _user(options["by"]) if options.get("by") else user
        current = role_of(user)
        if revoke:
            role = "moderator" if admin and current == "admin" else "none"
            if admin and current != "admin":
                role = current  # not an admin: nothing to take away
        else:
            role = "admin" if admin else ("admin" if current == "admin" else "moderator")
        if role == current:
            self.stdout.write(f"@{user.username} is already {_label(role)}; nothing changed.")
            return
        role_set(user=user, role=role, actor=actor, note="manage.py grant_moderator")
        self.stdout.write(
            self.style.SUCCESS(f"@{user.username}: {_label(current)} → {_label(role)}.")
        )
        if user.is_superuser and role != "admin":
            self.stdout.write(
                self.style.WARNING(
                    f"@{user.username} is a superuser and keeps every permission "
                    "until is_superuser is turned off (Django admin)."
                )
            )
        if not user.is_active:
            self.stdout.write(self.style.WARNING(f"@{user.username}'s account is not active."))


def _label(role: str) -> str:
    return {"admin": "an admin", "moderator": "a moderator", "none": "not a moderator"}[role]

"""Writes for accounts: sign-up and personal access tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import AccessToken, User, hash_token, username_validator
from apps.core.exceptions import ApplicationError
from apps.realtime.events import close_on_commit
from apps.realtime.groups import token_group

TOKEN_PREFIX = "vvd_"
DEFAULT_SCOPES = ("read", "write")
ASSIGNABLE_SCOPES = {"read", "write"}  # "moderate" needs the moderator role (a later feature)


def user_create(*, username: str, email: str, password: str) -> User:
    """Create an account. Usernames are unique ignoring case; passwords pass the validators."""
    fields: dict[str, list[str]] = {}
    try:
        username_validator(username)
    except ValidationError as e:
        fields["username"] = list(e.messages)
    try:
        User._meta.get_field("email").run_validators(email)
        if not email:
            raise ValidationError("An email address is required.")
    except ValidationError as e:
        fields["email"] = list(e.messages)
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as e:
        fields["password"] = list(e.messages)
    if fields:
        raise ApplicationError("invalid", "Some fields are not valid.", fields=fields)
    if User.objects.filter(username__iexact=username).exists():
        raise _username_taken()
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as e:  # a concurrent sign-up took the name between check and insert
        raise _username_taken() from e


def _username_taken() -> ApplicationError:
    return ApplicationError(
        "conflict", "That username is taken.", fields={"username": ["That username is taken."]}
    )


def user_update(*, user: User, **changes: object) -> User:
    """Apply profile changes already validated by the caller's serializer or form."""
    allowed = {"display_name", "bio", "is_private", "sensitive_media"}
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError("invalid", f"Cannot change {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(user, name, value)
    user.save(update_fields=[*changes.keys()])
    return user


def token_create(
    *, user: User, scopes: Iterable[str] = DEFAULT_SCOPES, name: str = ""
) -> tuple[AccessToken, str]:
    """Issue a token; returns the row and the raw secret, which is never stored or shown again."""
    scopes = sorted(set(scopes))
    bad = [s for s in scopes if s not in ASSIGNABLE_SCOPES]
    if bad or not scopes:
        raise ApplicationError(
            "invalid",
            "Some fields are not valid.",
            fields={"scopes": [f"Choose from {', '.join(sorted(ASSIGNABLE_SCOPES))}."]},
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken.objects.create(
        user=user, name=name[:100], prefix=raw[:12], key_hash=hash_token(raw), scopes=scopes
    )
    return token, raw


def token_create_with_password(
    *, username: str, password: str, scopes: Iterable[str] = DEFAULT_SCOPES, name: str = ""
) -> tuple[AccessToken, str]:
    user = authenticate(username=username, password=password)
    if user is None:
        raise ApplicationError("not_authenticated", "Wrong username or password.")
    return token_create(user=user, scopes=scopes, name=name)


def token_revoke(*, user: User, token_id: int) -> None:
    updated = AccessToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise ApplicationError("not_found", "Not found.")
    close_on_commit(token_group(token_id))

"""Writes for accounts: sign-up and personal access tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import AccessToken, User, hash_token, username_validator
from apps.core.exceptions import ApplicationError
from apps.realtime.events import close_on_commit
from apps.realtime.groups import session_group, token_group, user_group
from apps.realtime.limits import CLOSE_AUTH, CLOSE_SUSPENDED

TOKEN_PREFIX = "vvd_"
DEFAULT_SCOPES = ("read", "write")
ASSIGNABLE_SCOPES = {"read", "write"}  # and "moderate" for moderators (token_create)


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
        raise ApplicationError("invalid", _("Some fields are not valid."), fields=fields)
    if User.objects.filter(username__iexact=username).exists():
        raise _username_taken()
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as e:  # a concurrent sign-up took the name between check and insert
        raise _username_taken() from e


def _username_taken() -> ApplicationError:
    return ApplicationError(
        "conflict", _("That username is taken."), fields={"username": ["That username is taken."]}
    )


PROFILE_LINKS_MAX = 5
PROFILE_LINK_LABEL_MAX = 40
PROFILE_LINK_URL_MAX = 300


def links_validate(*, links: object) -> list[dict[str, str]]:
    """Profile links as stored: at most ``PROFILE_LINKS_MAX`` ``{"label", "url"}`` pairs with
    http(s) addresses. The API and the settings form both come through here, so both refuse the
    same things with the same messages (``invalid``, under ``links``)."""
    from django.core.validators import URLValidator

    def refuse(message: str) -> ApplicationError:
        return ApplicationError(
            "invalid", _("Some fields are not valid."), fields={"links": [message]}
        )

    if not isinstance(links, list):
        raise refuse("A list of {label, url} objects is required.")
    if len(links) > PROFILE_LINKS_MAX:
        raise refuse(f"At most {PROFILE_LINKS_MAX} links.")
    # URLValidator alone would accept ftp:// too; a profile only links to web pages.
    check_url = URLValidator(schemes=["http", "https"])
    clean: list[dict[str, str]] = []
    for n, link in enumerate(links, start=1):
        if not isinstance(link, dict) or set(link) - {"label", "url"}:
            raise refuse(f"Link {n}: an object with a label and a url is required.")
        label, url = link.get("label", ""), link.get("url", "")
        if not isinstance(label, str) or not isinstance(url, str):
            raise refuse(f"Link {n}: the label and the url are text.")
        label, url = label.strip(), url.strip()
        # Control characters (NUL above all: PostgreSQL's jsonb refuses it) are never meant.
        if any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in label + url):
            raise refuse(f"Link {n}: control characters are not allowed.")
        if not label or len(label) > PROFILE_LINK_LABEL_MAX:
            raise refuse(f"Link {n}: a label of 1 to {PROFILE_LINK_LABEL_MAX} characters.")
        if len(url) > PROFILE_LINK_URL_MAX:
            raise refuse(f"Link {n}: the address is longer than {PROFILE_LINK_URL_MAX} characters.")
        try:
            check_url(url)
        except ValidationError as e:
            raise refuse(f"Link {n}: an http:// or https:// address is required.") from e
        clean.append({"label": label, "url": url})
    return clean


def user_update(*, user: User, **changes: object) -> User:
    """Apply profile changes already validated by the caller's serializer or form (links are
    checked here, the same for every caller)."""
    allowed = {"display_name", "bio", "is_private", "sensitive_media", "links"}
    unknown = set(changes) - allowed
    if unknown:
        raise ApplicationError("invalid", f"Cannot change {', '.join(sorted(unknown))}.")
    if "links" in changes:
        changes["links"] = links_validate(links=changes["links"])
    for name, value in changes.items():
        setattr(user, name, value)
    user.save(update_fields=[*changes.keys()])
    return user


def session_logout(*, request) -> None:
    """Log the browser out and close the sockets that this session opened (not other devices')."""
    from django.contrib.auth import logout

    key = request.session.session_key
    logout(request)
    if key:
        close_on_commit(session_group(key), CLOSE_AUTH)


def user_password_change(*, user: User, old_password: str, new_password: str) -> User:
    """Change the password. Every open socket of the user closes: other sessions end with the
    old password, and a socket must not outlive the credentials it was opened with."""
    if not user.check_password(old_password):
        raise ApplicationError(
            "invalid", _("Some fields are not valid."), fields={"old_password": ["Wrong password."]}
        )
    try:
        validate_password(new_password, user)
    except ValidationError as e:
        raise ApplicationError(
            "invalid", _("Some fields are not valid."), fields={"new_password": list(e.messages)}
        ) from e
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        close_on_commit(user_group(user.pk), CLOSE_AUTH)
    return user


def user_suspend(*, user: User) -> User:
    """Suspend an account: it can no longer log in or use its tokens, and its sockets close."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        close_on_commit(user_group(user.pk), CLOSE_SUSPENDED)
    return user


AVATAR_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
AVATAR_MAX_BYTES = 5 * 1024 * 1024


def user_avatar_set(*, user: User, data, uploader=None) -> User:
    """Replace the profile picture with an uploaded image.

    The upload goes through media's one entry point for untrusted files (type from the bytes,
    size and pixel caps, decoded in a sandboxed process, metadata gone), before any transaction
    or lock is taken; a refusal raises before anything is stored. The user row is then locked, so
    concurrent uploads replace one another in turn, and the previous picture is deleted after
    commit unless a post shows it.
    """
    from apps.media import uploads
    from apps.media.services import asset_create_from_clean

    clean = uploads.inspect_untrusted(
        data, purpose="avatar", max_bytes=AVATAR_MAX_BYTES, uploader=uploader
    )
    with transaction.atomic():
        previous_id = (
            User.objects.select_for_update().filter(pk=user.pk).values_list("avatar_id", flat=True)
        ).get()
        asset = asset_create_from_clean(owner=user, clean=clean)
        User.objects.filter(pk=user.pk).update(avatar=asset)
        user.avatar = asset
        transaction.on_commit(lambda: _forget_avatar(previous_id))
    return user


def user_avatar_remove(*, user: User) -> User:
    with transaction.atomic():
        previous_id = (
            User.objects.select_for_update().filter(pk=user.pk).values_list("avatar_id", flat=True)
        ).get()
        User.objects.filter(pk=user.pk).update(avatar=None)
        user.avatar = None
        transaction.on_commit(lambda: _forget_avatar(previous_id))
    return user


def _forget_avatar(asset_id: int | None) -> None:
    """Delete a replaced profile picture (after the replacement committed) unless a post shows
    it or it is somehow someone's picture again."""
    from apps.media.models import Asset
    from apps.media.services import asset_delete

    if asset_id is None:
        return
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None or asset.posts.exists() or User.objects.filter(avatar=asset).exists():
            return
        asset_delete(asset=asset)


TOKEN_EXPIRY_MAX = timedelta(days=365)


def token_create(
    *,
    user: User,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[AccessToken, str]:
    """Issue a token; returns the row and the raw secret, which is never stored or shown again.

    ``expires_at``, when given, is in the future and at most ``TOKEN_EXPIRY_MAX`` ahead: after
    it the token no longer authenticates (HTTP or sockets)."""
    if expires_at is not None:
        now = timezone.now()
        if timezone.is_naive(expires_at):
            raise ApplicationError(
                "invalid",
                _("Some fields are not valid."),
                fields={"expires_at": ["Give a time zone (for example Z for UTC)."]},
            )
        if not now < expires_at <= now + TOKEN_EXPIRY_MAX:
            raise ApplicationError(
                "invalid",
                _("Some fields are not valid."),
                fields={"expires_at": ["Choose a time in the future, at most a year ahead."]},
            )
    scopes = sorted(set(scopes))
    from apps.moderation.roles import is_moderator

    # ``moderate`` only for moderators (the scope is checked again, with the role, at each use).
    allowed = ASSIGNABLE_SCOPES | ({"moderate"} if is_moderator(user) else set())
    if "moderate" in scopes and "moderate" not in allowed:
        raise ApplicationError(
            "forbidden", _("The moderate scope needs the moderator role, which you do not have.")
        )
    if "moderate" in scopes:  # and, where the setting requires it, two-factor sign-in on
        from apps.moderation.roles import two_factor_check

        two_factor_check(user)
    bad = [s for s in scopes if s not in allowed]
    if bad or not scopes:
        raise ApplicationError(
            "invalid",
            _("Some fields are not valid."),
            fields={"scopes": [f"Choose from {', '.join(sorted(allowed))}."]},
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken.objects.create(
        user=user,
        name=name[:100],
        prefix=raw[:12],
        key_hash=hash_token(raw),
        scopes=scopes,
        expires_at=expires_at,
    )
    return token, raw


def token_create_with_password(
    *,
    username: str,
    password: str,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    name: str = "",
    expires_at: datetime | None = None,
    otp: str | None = None,
) -> tuple[AccessToken, str]:
    """A token for a username and password (and, when the account has two-factor sign-in on,
    ``otp``: a current code or a recovery code). Never logs in or cancels a pending deletion:
    an inactive account is refused like a wrong password."""
    user = authenticate(username=username, password=password)
    if user is None:
        raise ApplicationError("not_authenticated", _("Wrong username or password."))
    from apps.accounts.mfa import second_factor_check

    second_factor_check(user=user, otp=otp)
    return token_create(user=user, scopes=scopes, name=name, expires_at=expires_at)


def token_revoke(*, user: User, token_id: int) -> None:
    updated = AccessToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise ApplicationError("not_found", _("Not found."))
    close_on_commit(token_group(token_id))

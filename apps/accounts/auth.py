"""Bearer-token authentication and token scopes for the API."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from apps.accounts.models import AccessToken, User, hash_token
from apps.core.queries import QueryTemplate

_TOUCH_EVERY = timedelta(minutes=5)


_HASH = "<token hash>"  # placeholder: a real hash is 64 hex digits


def _token_queryset():
    """Token and user in one row, by hash (built once: see ``QueryTemplate``)."""
    return AccessToken.objects.filter(
        key_hash=_HASH, revoked_at__isnull=True, user__is_active=True
    ).values(*_TOKEN_COLUMNS, *(f"user__{name}" for name in _USER_COLUMNS))[:1]


_TOKEN_COLUMNS = [f.attname for f in AccessToken._meta.concrete_fields]
_USER_COLUMNS = [f.attname for f in User._meta.concrete_fields]
_token_lookup = QueryTemplate(_token_queryset, prepare=True)


def user_for_token(raw: str) -> tuple[User, AccessToken] | None:
    """The active user and token for a raw secret, or None. Shared by HTTP and WebSocket auth.

    Every API request runs this, so its query is compiled once and reused."""
    rows = _token_lookup.rows((), {_HASH: hash_token(raw)})
    if not rows:
        return None
    row = rows[0]
    db = AccessToken.objects.db
    user = User.from_db(db, _USER_COLUMNS, [row[f"user__{name}"] for name in _USER_COLUMNS])
    token = AccessToken.from_db(db, _TOKEN_COLUMNS, [row[name] for name in _TOKEN_COLUMNS])
    token.user = user
    now = timezone.now()
    # Checked here rather than in the query so that the compiled query needs no time parameter.
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        AccessToken.objects.filter(id=token.id).update(last_used_at=now)
    return token.user, token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as e:
            raise exceptions.AuthenticationFailed("Malformed token.") from e
        found = user_for_token(raw)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return found

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenScopes(permissions.BasePermission):
    """A token acts only within its scopes: ``read`` for safe methods, ``write`` for the rest.

    A view may name another scope with ``required_scope``. Session (browser) users are not limited.
    """

    message = "This token's scopes do not allow that."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True
        scope = getattr(view, "required_scope", None) or (
            "read" if request.method in permissions.SAFE_METHODS else "write"
        )
        if not token.has_scope(scope):
            # Say which scope would do, so the caller knows what token to make.
            raise exceptions.PermissionDenied(f"This token needs the {scope!r} scope for that.")
        return True

"""Accounts API: sign-up, tokens, me, public profiles."""

from datetime import datetime, timedelta

from django.contrib.auth import update_session_auth_hash
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors, services
from apps.accounts.adapter import email_confirmation_send
from apps.accounts.auth import TokenScopes
from apps.accounts.serializers import (
    MeIn,
    MeOut,
    ProfileOut,
    SignupIn,
    SignupOut,
    TokenCreatedOut,
    TokenCreateIn,
    TokenOut,
)
from apps.core import ratelimit
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.core.schema import KeysetPagination, errors


class SignupApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    # 409: the username is taken.
    @extend_schema(
        request=SignupIn, responses={201: SignupOut, **errors(409)}, operation_id="auth_signup"
    )
    def post(self, request):
        ratelimit.limit_take("signup_address", key=ratelimit.client_address(request))
        data = validated(SignupIn, request.data)
        user = services.user_create(**data)
        # The address is recorded unconfirmed and a confirmation link is emailed (allauth).
        email_confirmation_send(request=request._request, user=user)
        _, raw = services.token_create(user=user, name="sign-up")
        return Response({"user": MeOut(user).data, "token": raw}, status=status.HTTP_201_CREATED)


class TokenCreateWithOtpIn(TokenCreateIn):
    otp = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="With two-factor sign-in on: a current authenticator code or a recovery code.",
    )


class TokensApi(APIView):
    pagination_class = KeysetPagination  # schema only: the list pages through PageParams

    def get_authenticators(self):
        # Creating a token authenticates by password in the body, not by an existing session.
        if self._method() == "POST":
            return []
        return super().get_authenticators()

    def _method(self) -> str | None:
        request = getattr(self, "request", None)
        return request.method if request is not None else None

    def get_permissions(self):
        if self._method() == "POST":
            return [AllowAny()]
        return [IsAuthenticated(), TokenScopes()]

    @extend_schema(
        responses={200: TokenOut(many=True)},
        operation_id="auth_tokens_list",
    )
    def get(self, request):
        page = selectors.token_list(
            user=request.user, params=PageParams.from_query(request.query_params)
        )
        return Response(
            {"items": TokenOut(page.items, many=True).data, "next_cursor": page.next_cursor}
        )

    @extend_schema(
        request=TokenCreateWithOtpIn,
        # 401: wrong username, password or second factor.
        responses={201: TokenCreatedOut, **errors(401)},
        operation_id="auth_tokens_create",
    )
    def post(self, request):
        data = validated(TokenCreateWithOtpIn, request.data)
        with ratelimit.login_attempt(
            username=data["username"], address=ratelimit.client_address(request)
        ):
            token, raw = services.token_create_with_password(
                username=data["username"],
                password=data["password"],
                scopes=data.get("scopes") or services.DEFAULT_SCOPES,
                name=data.get("name", ""),
                expires_at=token_expiry(data),
                otp=data.get("otp"),
            )
        token.token = raw
        return Response(TokenCreatedOut(token).data, status=status.HTTP_201_CREATED)


def token_expiry(data: dict) -> datetime | None:
    """``expires_at`` as given, or ``expires_in_days`` from now (the service bounds both)."""
    if data.get("expires_in_days") is not None:
        return timezone.now() + timedelta(days=data["expires_in_days"])
    return data.get("expires_at")


class TokenDetailApi(APIView):
    @extend_schema(responses={204: None}, operation_id="auth_tokens_revoke")
    def delete(self, request, token_id: int):
        services.token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: MeOut}, operation_id="me_get")
    def get(self, request):
        return Response(MeOut(request.user).data)

    @extend_schema(request=MeIn, responses={200: MeOut}, operation_id="me_update")
    def patch(self, request):
        data = validated(MeIn, request.data)
        user = services.user_update(user=request.user, **data)
        return Response(MeOut(user).data)


class PasswordIn(serializers.Serializer):
    old_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class MePasswordApi(APIView):
    """Change my password. Every open socket of mine closes; a browser session that asked for
    the change stays logged in, the others end."""

    @extend_schema(request=PasswordIn, responses={204: None}, operation_id="me_password_change")
    def post(self, request):
        data = validated(PasswordIn, request.data)
        user = services.user_password_change(user=request.user, **data)
        if getattr(request, "session", None) is not None and request.auth is None:
            update_session_auth_hash(request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AvatarIn(serializers.Serializer):
    file = serializers.FileField()


class MeAvatarApi(APIView):
    """The profile picture: ``PUT`` a multipart ``file`` (PNG, JPEG, WebP or GIF), or delete it."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": AvatarIn},
        responses={200: MeOut},
        operation_id="me_avatar_set",
    )
    def put(self, request):
        upload = request.data.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise ApplicationError(
                "invalid",
                gettext_lazy("Some fields are not valid."),
                fields={"file": ["Attach a file."]},
            )
        if upload.size > services.AVATAR_MAX_BYTES:  # refused before it is read into memory
            raise ApplicationError(
                "payload_too_large",
                f"The file is larger than {services.AVATAR_MAX_BYTES // 1024} KiB.",
                fields={"file": ["Too large."]},
            )
        from apps.media.uploads import Uploader

        user = services.user_avatar_set(
            user=request.user, data=upload.read(), uploader=Uploader.of(request)
        )
        return Response(MeOut(user).data)

    @extend_schema(responses={200: MeOut}, operation_id="me_avatar_remove")
    def delete(self, request):
        return Response(MeOut(services.user_avatar_remove(user=request.user)).data)


class UserDetailApi(APIView):
    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(responses={200: ProfileOut}, operation_id="users_get")
    def get(self, request, username: str):
        user = selectors.profile_get(username=username, viewer=request.user)
        return Response(ProfileOut(user).data)

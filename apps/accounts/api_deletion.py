"""``DELETE /api/v1/me``: delete my account (see apps.accounts.deletion).

``/me`` is one route, so the view here is ``MeApi`` (GET and PATCH as they are) with DELETE
added; the route points at it.
"""

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.accounts import deletion
from apps.accounts.api import MeApi
from apps.core.api import validated


class DeletionIn(serializers.Serializer):
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    # The current code of the authenticator app, when two-factor sign-in is on.
    otp = serializers.CharField(max_length=16, required=False, allow_blank=True, allow_null=True)


class DeletionOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending"])
    purge_at = serializers.DateTimeField()


class MeWithDeletionApi(MeApi):
    @extend_schema(
        request=DeletionIn,
        responses={
            202: DeletionOut,
            400: OpenApiResponse(description="Wrong password or code (`invalid`, with fields)."),
            429: OpenApiResponse(description="Too many failed attempts (`rate_limited`)."),
        },
        operation_id="me_delete",
        description=(
            "Delete my account. From this answer on, the account and everything it made answer "
            "404 to everyone, its tokens and sessions end and its sockets close; rows and files "
            "are purged at `purge_at` (signing in on the site before then cancels). Provenance "
            "and consent records stay, pseudonymised."
        ),
    )
    def delete(self, request):
        data = validated(DeletionIn, request.data)
        user = deletion.deletion_request(
            user=request.user, password=data["password"], otp=data.get("otp")
        )
        if request.auth is None and getattr(request, "session", None) is not None:
            logout(request._request)  # this browser's session ends with the others
        return Response(
            DeletionOut({"status": "pending", "purge_at": user.deletion_purge_at}).data,
            status=status.HTTP_202_ACCEPTED,
        )

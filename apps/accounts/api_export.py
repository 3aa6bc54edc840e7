"""Data export API: ask for an export of everything I have, and follow it until it is ready.

``POST /me/export`` is a write (token scope ``write``), at most one a day (429 ``rate_limited``
with ``Retry-After``); ``GET /me/export/{id}`` reads one of mine (scope ``read``), with a fresh
signed ``download_url`` while the zip is there. Someone else's export answers 404.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import export as exports
from apps.accounts.models import DataExport
from apps.core import idempotency


class ExportOut(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=DataExport.Status.choices)
    progress = serializers.FloatField(min_value=0, max_value=1)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the zip, once built.")
    sha256 = serializers.CharField(allow_null=True, help_text="SHA-256 of the zip, once built.")
    download_url = serializers.CharField(
        allow_null=True,
        help_text="A signed link valid for EXPORT_LINK_TTL_S (an hour by default); null unless "
        "the export succeeded and has not expired.",
    )
    next_export_at = serializers.DateTimeField(
        allow_null=True, help_text="When I may ask for another export; null: now."
    )


def export_data(export: DataExport, request) -> dict:
    def iso(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    ready = exports.export_is_downloadable(export)
    return {
        "id": str(export.pk),
        "status": export.status,
        "progress": export.progress,
        "created_at": iso(export.created_at),
        "finished_at": iso(export.finished_at),
        "expires_at": iso(export.expires_at),
        "size": export.size if ready else None,
        "sha256": (export.sha256 or None) if ready else None,
        "download_url": exports.export_link(export, request=request) if ready else None,
        "next_export_at": iso(exports.export_next_allowed_at(user=request.user)),
    }


class ExportsApi(APIView):
    @extend_schema(
        request=None,
        # 429 (one export a day) and the other errors are added by apps.core.schema.
        responses={202: ExportOut},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="me_export_create",
    )
    def post(self, request):
        return idempotency.respond(
            request,
            scope="accounts.export",
            write=lambda: exports.export_request(user=request.user),
            load=lambda pk: exports.export_get(user=request.user, export_id=pk),
            render=lambda export: export_data(export, request),
            status=status.HTTP_202_ACCEPTED,
        )


class ExportDetailApi(APIView):
    @extend_schema(
        responses={200: ExportOut},
        operation_id="me_export_get",
    )
    def get(self, request, export_id: int):
        export = exports.export_get(user=request.user, export_id=export_id)
        return Response(export_data(export, request))

"""Provenance API: a record, and its remix family."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.provenance import selectors
from apps.provenance.lineage import lineage
from apps.provenance.serializers import ProvenanceOut, record_data


class ProvenanceDetailApi(APIView):
    """Readable by whoever may see the asset (404 otherwise); prompts as the creator allows."""

    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(responses={200: ProvenanceOut}, operation_id="provenance_get")
    def get(self, request, record_id: int):
        record = selectors.record_get_visible(record_id=record_id, viewer=request.user)
        shown = selectors.prompt_visible(record=record, viewer=request.user)
        return Response(record_data(record, viewer=request.user, prompt_hidden=not shown))


class ProvenanceLineageApi(APIView):
    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(responses={200: dict}, operation_id="provenance_lineage")
    def get(self, request, record_id: int):
        record = selectors.record_get_visible(record_id=record_id, viewer=request.user)
        return Response(lineage(record=record, viewer=request.user))

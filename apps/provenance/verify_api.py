"""``POST /api/v1/provenance/verify``: check any file against Vivid's records (open to everyone)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import ratelimit
from apps.media import uploads
from apps.provenance import verify
from apps.provenance.serializers import ProvenanceOut


class VerifyIn(serializers.Serializer):
    file = serializers.FileField()


class C2paOut(serializers.Serializer):
    present = serializers.BooleanField()
    valid = serializers.BooleanField()
    claims = serializers.DictField()
    record_id = serializers.CharField(allow_null=True, required=False)
    validation_errors = serializers.ListField(child=serializers.DictField(), required=False)


class MatchOut(serializers.Serializer):
    provenance_id = serializers.CharField(allow_null=True)
    method = serializers.ChoiceField(choices=["sha256", "perceptual"])
    distance = serializers.IntegerField()
    asset_id = serializers.CharField()
    kind = serializers.CharField()
    post_id = serializers.CharField(allow_null=True)
    post_url = serializers.CharField(allow_null=True)


class FileOut(serializers.Serializer):
    mime = serializers.CharField()
    sha256 = serializers.CharField()
    phash = serializers.ListField(child=serializers.CharField())


class VerifyOut(serializers.Serializer):
    c2pa = C2paOut()
    matches = MatchOut(many=True)
    record = ProvenanceOut(required=False)
    file = FileOut()
    took_ms = serializers.IntegerField()


class VerifyApi(APIView):
    """Upload a file found anywhere; learn what its credentials say and which items it copies.

    Anonymous visitors may call it; each address is rate-limited (429 ``rate_limited``)."""

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": VerifyIn},
        responses={200: VerifyOut},
        operation_id="provenance_verify",
    )
    def post(self, request):
        # Counted before the body is read, so a flood costs no parsing.
        verify.rate_limit_take(client=ratelimit.client_address(request))
        data = verify.read_upload(request)
        uploader = uploads.Uploader.of(request)
        return Response(verify.verify_file(viewer=request.user, data=data, uploader=uploader))

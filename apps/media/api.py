"""Assets API."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.media.selectors import asset_get_visible
from apps.media.serializers import AssetOut


class AssetApi(APIView):
    @extend_schema(responses={200: AssetOut}, operation_id="assets_get")
    def get(self, request, asset_id: int):
        asset = asset_get_visible(asset_id=asset_id, viewer=request.user)
        return Response(AssetOut(asset, context={"request": request}).data)

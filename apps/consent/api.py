"""Consent API: my likeness policy and approved list, the uses of my likeness, my training
default, and my consent log."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.consent import selectors, services
from apps.consent.serializers import (
    ConsentEventOut,
    LikenessIn,
    LikenessOut,
    LikenessUseOut,
    TrainingIn,
    TrainingOut,
)
from apps.core.api import validated
from apps.core.pagination import PageParams
from apps.core.schema import KeysetPagination


def _likeness(user) -> dict:
    state = selectors.consent_settings(user=user)
    return {"policy": state.likeness_policy, "approved": selectors.likeness_approved(user=user)}


class LikenessApi(APIView):
    @extend_schema(responses={200: LikenessOut}, operation_id="consent_likeness_get")
    def get(self, request):
        return Response(_likeness(request.user))

    @extend_schema(
        request=LikenessIn, responses={200: LikenessOut}, operation_id="consent_likeness_set"
    )
    def put(self, request):
        data = validated(LikenessIn, request.data)
        services.likeness_consent_set(
            user=request.user, policy=data.get("policy"), approved=data.get("approved")
        )
        return Response(_likeness(request.user))


class LikenessUsesApi(APIView):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(responses={200: LikenessUseOut(many=True)}, operation_id="consent_uses_list")
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        page = selectors.likeness_uses(person=request.user, params=params)
        return Response(
            {"items": LikenessUseOut(page.items, many=True).data, "next_cursor": page.next_cursor}
        )


class LikenessUseDetailApi(APIView):
    @extend_schema(responses={204: None}, operation_id="consent_uses_remove")
    def delete(self, request, job_id: int):
        services.likeness_use_remove(person=request.user, job_id=job_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrainingApi(APIView):
    @extend_schema(responses={200: TrainingOut}, operation_id="consent_training_get")
    def get(self, request):
        return Response({"default_allowed": selectors.training_default_allowed(user=request.user)})

    @extend_schema(
        request=TrainingIn, responses={200: TrainingOut}, operation_id="consent_training_set"
    )
    def put(self, request):
        data = validated(TrainingIn, request.data)
        state = services.training_default_set(
            user=request.user, default_allowed=data["default_allowed"]
        )
        return Response({"default_allowed": state.training_default_allowed})


class ConsentEventsApi(APIView):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(responses={200: ConsentEventOut(many=True)}, operation_id="consent_events")
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        page = selectors.consent_events(user=request.user, params=params)
        return Response(
            {"items": ConsentEventOut(page.items, many=True).data, "next_cursor": page.next_cursor}
        )

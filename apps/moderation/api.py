"""Moderators' API for the prompt policy: the protected list and the holds (scope ``moderate``)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import AccessToken
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams, paginate
from apps.core.schema import KeysetPagination
from apps.moderation import selectors, services
from apps.moderation.models import PolicyHold
from apps.moderation.roles import two_factor_check
from apps.moderation.serializers import HoldOut, TermIn, TermOut


class IsModerator(BasePermission):
    """Moderators only, and a token only with the ``moderate`` scope; everyone else is answered
    as if the endpoint did not exist (404)."""

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, AccessToken) else None
        if not selectors.is_moderator(request.user, token):
            raise NotFound
        two_factor_check(request.user)  # 403 while a required second factor is off
        return True


class ModeratorApi(APIView):
    permission_classes = [IsModerator]


class TermsApi(ModeratorApi):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=False)],
        responses={200: TermOut(many=True)},
        operation_id="moderation_terms_list",
    )
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        page = paginate(selectors.term_list(query=request.query_params.get("q", "")), params)
        return Response(
            {"items": TermOut(page.items, many=True).data, "next_cursor": page.next_cursor}
        )

    @extend_schema(
        request=TermIn, responses={201: TermOut, 200: TermOut}, operation_id="moderation_terms_add"
    )
    def post(self, request):
        data = validated(TermIn, request.data)
        term, created = services.term_add(created_by=request.user, **data)
        return Response(
            TermOut(term).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class TermDetailApi(ModeratorApi):
    @extend_schema(responses={204: None}, operation_id="moderation_terms_remove")
    def delete(self, request, term_id: int):
        services.term_remove_by_id(term_id=term_id, moderator=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HoldsApi(ModeratorApi):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["open", "cleared"], required=False)],
        responses={200: HoldOut(many=True)},
        operation_id="moderation_holds_list",
    )
    def get(self, request):
        state = request.query_params.get("status") or "open"
        if state not in ("open", "cleared"):
            raise ApplicationError(
                "invalid", "Some query parameters are not valid.", fields={"status": ["?"]}
            )
        holds = PolicyHold.objects.filter(cleared_at__isnull=state == "open").select_related(
            "job", "job__owner", "cleared_by"
        )
        page = paginate(holds, PageParams.from_query(request.query_params))
        return Response(
            {"items": HoldOut(page.items, many=True).data, "next_cursor": page.next_cursor}
        )


class HoldClearApi(ModeratorApi):
    @extend_schema(request=None, responses={200: HoldOut}, operation_id="moderation_holds_clear")
    def post(self, request, hold_id: int):
        hold = services.hold_clear(hold_id=hold_id, moderator=request.user)
        return Response(HoldOut(hold).data)

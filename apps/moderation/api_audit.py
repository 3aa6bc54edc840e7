"""The audit log (moderators) and the metrics (admins) over the API.

Thin: parse the filters, call ``auditlog`` / ``metrics``, answer. Like every moderators'
endpoint, anyone else gets 404 (``IsModerator``; ``IsAdmin`` for metrics) and a token needs the
``moderate`` scope.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.accounts.models import AccessToken
from apps.core.pagination import PageParams
from apps.core.schema import FREE_OBJECT, page_of, page_parameters
from apps.moderation import auditlog, metrics
from apps.moderation.api import IsModerator
from apps.moderation.roles import is_admin, two_factor_check


class IsAdmin(BasePermission):
    """Admins only (``moderation.administer``); everyone else, moderators included, gets 404."""

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, AccessToken) else None
        if not is_admin(request.user, token):
            raise NotFound
        two_factor_check(request.user)  # 403 while a required second factor is off
        return True


class AuditApi(APIView):
    permission_classes = [IsModerator, TokenScopes]
    required_scope = "moderate"

    @extend_schema(
        parameters=[
            # The bounds auditlog.AuditFilters checks (values are stripped first).
            OpenApiParameter(
                "actor",
                {"type": "string", "pattern": r"^\s*(@?[\w.+-]{1,150})?\s*$"},
                required=False,
                description="username or user id",
            ),
            OpenApiParameter(
                "action",
                {"type": "string", "pattern": r"^\s*([a-z_]{1,20}(\.[a-z_]{1,20})?)?\s*$"},
                required=False,
                description="e.g. action.remove, or a family: case",
            ),
            OpenApiParameter(
                "case", {"type": "string", "pattern": r"^\s*[0-9]{0,19}\s*$"}, required=False
            ),
            OpenApiParameter(
                "target_type",
                {"type": "string", "pattern": r"^\s*[a-z_]{0,10}\s*$"},
                required=False,
            ),
            OpenApiParameter(
                "target_id", {"type": "string", "pattern": r"^\s*[0-9]{0,19}\s*$"}, required=False
            ),
            *page_parameters(),
        ],
        responses={200: page_of(FREE_OBJECT)},
        operation_id="moderation_audit",
    )
    def get(self, request):
        filters = auditlog.AuditFilters.from_query(request.query_params)
        page = auditlog.audit_page(
            filters=filters, params=PageParams.from_query(request.query_params)
        )
        return Response({"items": page.items, "next_cursor": page.next_cursor})


class MetricsApi(APIView):
    permission_classes = [IsAdmin, TokenScopes]
    required_scope = "moderate"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days", {"type": "integer", "minimum": 1, "maximum": 365}, required=False
            )
        ],
        responses={200: FREE_OBJECT},
        operation_id="moderation_metrics",
    )
    def get(self, request):
        days = metrics.days_from_query(request.query_params)
        return Response(metrics.metrics_summary(days=days))

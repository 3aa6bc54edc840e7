"""Reports (anyone signed in) and the moderators' queue and cases (scope ``moderate``).

Thin: parse, call ``cases`` (writes) or ``queue`` (reads), answer. Non-moderators get 404 from
every moderators' endpoint here (``IsModerator``), as if it did not exist.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import validated
from apps.core.pagination import PageParams
from apps.core.schema import FREE_OBJECT, errors, page_of, page_parameters
from apps.moderation import cases, queue
from apps.moderation.api import IsModerator
from apps.moderation.models import Reason, Report, Target


class TargetIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=Target.choices)
    id = serializers.CharField(max_length=40)


class ReportIn(serializers.Serializer):
    target = TargetIn()
    reason = serializers.ChoiceField(choices=Reason.choices)
    details = serializers.CharField(max_length=2000, required=False, allow_blank=True)


_REPORT_FIELDS = {
    "id": serializers.CharField(),
    "target": inline_serializer(
        "ReportTarget", {"type": serializers.CharField(), "id": serializers.CharField()}
    ),
    "reason": serializers.CharField(),
    "details": serializers.CharField(),
    "status": serializers.ChoiceField(choices=Report.Status.choices),
    "outcome": serializers.CharField(allow_null=True),
    "created_at": serializers.DateTimeField(),
    "decided_at": serializers.DateTimeField(allow_null=True),
}
REPORT_OUT = inline_serializer("ReportOut", _REPORT_FIELDS)
# /reports/mine is cursor-paginated like every list: {items, next_cursor}.
REPORTS_OUT = inline_serializer(
    "ReportPage",
    {
        "items": REPORT_OUT.__class__(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)


class ReportsApi(APIView):
    # 404: no such target (or one I may not see); 409: I already reported it.
    @extend_schema(
        request=ReportIn,
        responses={201: REPORT_OUT, **errors(404, 409)},
        operation_id="reports_create",
    )
    def post(self, request):
        data = validated(ReportIn, request.data)
        report = cases.report_create(
            reporter=request.user,
            target_type=data["target"]["type"],
            target_id=data["target"]["id"],
            reason=data["reason"],
            details=data.get("details", ""),
        )
        return Response(queue.report_payload(report), status=status.HTTP_201_CREATED)


class ReportsMineApi(APIView):
    @extend_schema(responses={200: REPORTS_OUT}, operation_id="reports_mine")
    def get(self, request):
        page = queue.reports_mine(
            user=request.user, params=PageParams.from_query(request.query_params)
        )
        return Response({"items": page.items, "next_cursor": page.next_cursor})


class ModeratorCasesApi(APIView):
    """Moderators only (404 for anyone else); a token needs the ``moderate`` scope."""

    permission_classes = [IsModerator]
    required_scope = "moderate"


class QueueApi(ModeratorCasesApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("reason", str, enum=[r.value for r in Reason], required=False),
            OpenApiParameter("kind", str, enum=[t.value for t in Target], required=False),
            OpenApiParameter("assigned", str, enum=["me"], required=False),
            OpenApiParameter("escalated", str, enum=["1", "0"], required=False),
            # The queue pages on (severity, id): its cursors read ``<severity>-<id>``.
            *page_parameters(r"^([0-9]{1,3}-[0-9]{1,19})?$"),
        ],
        responses={
            200: page_of(
                FREE_OBJECT,
                open_count={"type": "integer"},
                open_count_capped={"type": "boolean"},
            )
        },
        operation_id="moderation_queue",
    )
    def get(self, request):
        filters = queue.QueueFilters.from_query(request.query_params)
        page = queue.queue_page(moderator=request.user, filters=filters)
        return Response(
            {
                "items": page.items,
                "next_cursor": page.next_cursor,
                "open_count": page.open_count,
                # The count stops at the cap: "at least this many".
                "open_count_capped": page.open_count >= queue.OPEN_COUNT_CAP,
            }
        )


class CaseDetailApi(ModeratorCasesApi):
    @extend_schema(responses={200: FREE_OBJECT}, operation_id="moderation_case")
    def get(self, request, case_id: int):
        return Response(queue.case_view(moderator=request.user, case_id=case_id))


class ClaimIn(serializers.Serializer):
    release = serializers.BooleanField(required=False, default=False)


class EscalateIn(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class CaseClaimApi(ModeratorCasesApi):
    @extend_schema(
        request=ClaimIn,
        responses={200: FREE_OBJECT, **errors(409)},
        operation_id="moderation_case_claim",
    )
    def post(self, request, case_id: int):
        data = validated(ClaimIn, request.data or {})
        case = cases.case_claim(
            moderator=request.user, case_id=case_id, release=data.get("release", False)
        )
        return Response(cases.case_payload(case))


class CaseEscalateApi(ModeratorCasesApi):
    @extend_schema(
        request=EscalateIn,
        responses={200: FREE_OBJECT, **errors(409)},
        operation_id="moderation_case_escalate",
    )
    def post(self, request, case_id: int):
        data = validated(EscalateIn, request.data or {})
        case = cases.case_escalate(
            moderator=request.user, case_id=case_id, note=data.get("note", "")
        )
        return Response(cases.case_payload(case))

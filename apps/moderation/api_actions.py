"""Moderators' decisions and appeals over the API.

Thin: parse, call ``actions`` / ``appeals``, answer. Moderators' endpoints answer 404 to
everyone else (``IsModerator``) and need a token's ``moderate`` scope; ``POST /appeals`` is for
the author a decision was about.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams, paginate
from apps.core.schema import KeysetPagination, errors
from apps.moderation import actions, appeals
from apps.moderation.api import IsModerator
from apps.moderation.models import Appeal, ModerationAction, Reason


class ModeratorActionApi(APIView):
    # IsModerator answers 404 first; the scope check then holds for tokens (it always passes
    # for a moderator's token, which needs ``moderate`` to get this far).
    permission_classes = [IsModerator, TokenScopes]
    required_scope = "moderate"


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError) as e:
        raise ApplicationError(
            "invalid", "Case ids are numbers.", fields={"case_ids": ["Not a case id."]}
        ) from e


class ActionIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=actions.ACTIONS)
    reason_code = serializers.ChoiceField(choices=Reason.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    # Suspensions: until a time, or for a number of days; neither is for good.
    until = serializers.DateTimeField(required=False, allow_null=True)
    duration_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True
    )
    message_template = serializers.ChoiceField(
        choices=list(actions.MESSAGE_PRESETS), required=False, allow_blank=True
    )
    # The same decision over more cases at once (this one included).
    case_ids = serializers.ListField(
        child=serializers.CharField(max_length=20), required=False, max_length=500
    )


class BulkIn(serializers.Serializer):
    case_ids = serializers.ListField(
        child=serializers.RegexField(r"^[0-9]{1,19}$", max_length=20), min_length=1, max_length=500
    )
    action = serializers.ChoiceField(choices=actions.ACTIONS)
    reason_code = serializers.ChoiceField(choices=Reason.choices)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    message_template = serializers.ChoiceField(
        choices=list(actions.MESSAGE_PRESETS), required=False, allow_blank=True
    )


ACTION_OUT = inline_serializer(
    "ModerationActionOut",
    {
        "id": serializers.CharField(),
        "case_id": serializers.CharField(),
        "action": serializers.CharField(),
        "reason_code": serializers.CharField(),
        "note": serializers.CharField(),
        "message": serializers.CharField(),
        "until": serializers.DateTimeField(allow_null=True),
        "batch": serializers.CharField(allow_null=True),
        "created_at": serializers.DateTimeField(),
    },
)
BULK_OUT = inline_serializer(
    "ModerationBulkOut",
    {
        "items": serializers.ListField(child=serializers.DictField()),
        "skipped": serializers.ListField(child=serializers.CharField()),
    },
)


def action_payload(action: ModerationAction) -> dict[str, Any]:
    return {
        "id": str(action.id),
        "case_id": str(action.case_id),
        "action": action.kind,
        "reason_code": action.reason_code,
        "note": action.note,
        "message": action.message,
        "until": action.until.isoformat() if action.until else None,
        "batch": str(action.batch) if action.batch else None,
        "created_at": action.created_at.isoformat(),
    }


def suspension_end(until: dt.datetime | None, duration_days: int | None) -> dt.datetime | None:
    """A suspension's end from an explicit time or a number of days (neither: for good)."""
    if until is not None and duration_days:
        raise ApplicationError(
            "invalid",
            "Give an end time or a number of days, not both.",
            fields={"until": ["Not with duration_days."]},
        )
    if duration_days:
        from django.utils import timezone

        return timezone.now() + dt.timedelta(days=duration_days)
    return until


def _bulk(request, case_ids: list[int], data: dict[str, Any]) -> Response:
    taken = actions.actions_bulk(
        moderator=request.user,
        case_ids=case_ids,
        action=data["action"],
        reason_code=data["reason_code"],
        note=data.get("note", ""),
        message_template=data.get("message_template") or None,
    )
    done = {a.case_id for a in taken}
    return Response(
        {
            "items": [action_payload(a) for a in taken],
            "skipped": [str(i) for i in dict.fromkeys(case_ids) if i not in done],
        }
    )


class CaseActionsApi(ModeratorActionApi):
    @extend_schema(
        request=ActionIn,
        responses={201: ACTION_OUT, 200: BULK_OUT, **errors(409, 422)},
        operation_id="moderation_case_action",
    )
    def post(self, request, case_id: int):
        data = validated(ActionIn, request.data)
        if data.get("case_ids"):
            return _bulk(request, [case_id, *_ids(data["case_ids"])], data)
        until = suspension_end(data.get("until"), data.get("duration_days"))
        if until is not None and data["action"] != ModerationAction.Kind.SUSPEND:
            raise ApplicationError(
                "invalid", "Only a suspension has an end.", fields={"until": ["Not for this."]}
            )
        action = actions.action_take(
            moderator=request.user,
            case_id=case_id,
            action=data["action"],
            reason_code=data["reason_code"],
            note=data.get("note", ""),
            until=until,
            message_template=data.get("message_template") or None,
        )
        return Response(action_payload(action), status=status.HTTP_201_CREATED)


class BulkActionsApi(ModeratorActionApi):
    @extend_schema(request=BulkIn, responses={200: BULK_OUT}, operation_id="moderation_bulk")
    def post(self, request):
        data = validated(BulkIn, request.data)
        return _bulk(request, _ids(data["case_ids"]), data)


class AppealIn(serializers.Serializer):
    case_id = serializers.RegexField(r"^[0-9]{1,19}$", max_length=20)
    body = serializers.CharField(max_length=4000)


class AppealDecideIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[Appeal.Status.UPHELD, Appeal.Status.REVERSED])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


APPEAL_OUT = inline_serializer(
    "AppealOut",
    {
        "id": serializers.CharField(),
        "case_id": serializers.CharField(),
        "status": serializers.CharField(),
        "body": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
    },
)


class AppealsApi(APIView):
    # 404: no such case of mine; 409: nothing to appeal, or appealed already.
    @extend_schema(
        request=AppealIn,
        responses={201: APPEAL_OUT, **errors(404, 409)},
        operation_id="appeals_create",
    )
    def post(self, request):
        data = validated(AppealIn, request.data)
        case_id = _ids([data["case_id"]])[0]
        appeal = appeals.appeal_create(author=request.user, case_id=case_id, body=data["body"])
        appeal = Appeal.objects.select_related("action", "author").get(id=appeal.id)
        return Response(appeals.appeal_payload(appeal), status=status.HTTP_201_CREATED)


class AppealsPendingApi(ModeratorActionApi):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(
        responses={200: APPEAL_OUT.__class__(many=True)}, operation_id="moderation_appeals_list"
    )
    def get(self, request):
        page = paginate(appeals.appeals_pending(), PageParams.from_query(request.query_params))
        return Response(
            {
                "items": [appeals.appeal_payload(a) for a in page.items],
                "next_cursor": page.next_cursor,
            }
        )


class AppealDecideApi(ModeratorActionApi):
    @extend_schema(
        request=AppealDecideIn,
        responses={200: APPEAL_OUT, **errors(409)},
        operation_id="moderation_appeal_decide",
    )
    def post(self, request, appeal_id: int):
        data = validated(AppealDecideIn, request.data)
        appeal = appeals.appeal_decide(
            moderator=request.user,
            appeal_id=appeal_id,
            decision=data["decision"],
            note=data.get("note", ""),
        )
        appeal = Appeal.objects.select_related("action", "author", "decided_by").get(id=appeal.id)
        return Response(appeals.appeal_payload(appeal))

"""Notifications API: list and mark read."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import validated
from apps.core.pagination import PageParams
from apps.core.schema import NotificationsPagination
from apps.notifications import selectors, services
from apps.notifications.serializers import MarkReadIn, NotificationOut

UnreadOut = inline_serializer("UnreadCount", {"unread_count": serializers.IntegerField()})


class NotificationsApi(APIView):
    pagination_class = NotificationsPagination  # schema only: pages through PageParams

    @extend_schema(responses={200: NotificationOut(many=True)}, operation_id="notifications_list")
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        page = selectors.notification_list(user=request.user, params=params)
        return Response(
            {
                "items": NotificationOut(page.items, many=True).data,
                "next_cursor": page.next_cursor,
                "unread_count": selectors.unread_count(user=request.user),
            }
        )


class NotificationsReadApi(APIView):
    @extend_schema(
        request=MarkReadIn, responses={200: UnreadOut}, operation_id="notifications_read"
    )
    def post(self, request):
        data = validated(MarkReadIn, request.data)
        services.notifications_mark_read(user=request.user, ids=data.get("ids"))
        return Response({"unread_count": selectors.unread_count(user=request.user)})

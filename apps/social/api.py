"""Follow, follow requests, block and mute."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.selectors import user_get_by_username
from apps.accounts.serializers import UserOut
from apps.core.schema import UnpagedList, errors
from apps.social import selectors, services

FollowStateOut = inline_serializer("FollowState", {"state": serializers.CharField()})
FollowRequestsOut = inline_serializer(
    "FollowRequest",
    {"id": serializers.CharField(), "user": UserOut(), "created_at": serializers.DateTimeField()},
    many=True,
)


def _user(username: str) -> User:
    return user_get_by_username(username=username)


class FollowApi(APIView):
    # 400: not oneself.
    @extend_schema(
        request=None,
        responses={200: FollowStateOut, **errors(400)},
        operation_id="users_follow",
    )
    def post(self, request, username: str):
        state = services.follow_create(follower=request.user, followee=_user(username))
        return Response({"state": state})

    @extend_schema(responses={200: FollowStateOut}, operation_id="users_unfollow")
    def delete(self, request, username: str):
        state = services.follow_delete(follower=request.user, followee=_user(username))
        return Response({"state": state})


class FollowerDetailApi(APIView):
    @extend_schema(responses={204: None}, operation_id="me_followers_remove")
    def delete(self, request, username: str):
        services.follower_remove(user=request.user, follower=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowRequestsApi(APIView):
    pagination_class = UnpagedList  # schema only: the whole list in the page shape

    @extend_schema(responses={200: FollowRequestsOut}, operation_id="follow_requests")
    def get(self, request):
        rows = selectors.follow_requests_pending(user=request.user)[:200]
        items = [
            {"id": str(r.id), "user": UserOut(r.requester).data, "created_at": r.created_at}
            for r in rows
        ]
        return Response({"items": items, "next_cursor": None})


class FollowRequestDetailApi(APIView):
    """``POST`` approves the request from ``username``; ``DELETE`` denies it."""

    @extend_schema(request=None, responses={204: None}, operation_id="follow_requests_approve")
    def post(self, request, username: str):
        services.follow_request_approve(user=request.user, requester=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, operation_id="follow_requests_deny")
    def delete(self, request, username: str):
        services.follow_request_deny(user=request.user, requester=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockApi(APIView):
    @extend_schema(request=None, responses={204: None, **errors(400)}, operation_id="users_block")
    def post(self, request, username: str):
        services.block_create(blocker=request.user, blocked=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, operation_id="users_unblock")
    def delete(self, request, username: str):
        services.block_delete(blocker=request.user, blocked=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MuteApi(APIView):
    @extend_schema(request=None, responses={204: None, **errors(400)}, operation_id="users_mute")
    def post(self, request, username: str):
        services.mute_create(muter=request.user, muted=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, operation_id="users_unmute")
    def delete(self, request, username: str):
        services.mute_delete(muter=request.user, muted=_user(username))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlocksListApi(APIView):
    pagination_class = UnpagedList  # schema only: the whole list in the page shape

    @extend_schema(responses={200: UserOut(many=True)}, operation_id="me_blocks")
    def get(self, request):
        users = selectors.blocked_users(user=request.user)[:500]
        return Response({"items": UserOut(users, many=True).data, "next_cursor": None})


class MutesListApi(APIView):
    pagination_class = UnpagedList  # schema only: the whole list in the page shape

    @extend_schema(responses={200: UserOut(many=True)}, operation_id="me_mutes")
    def get(self, request):
        users = selectors.muted_users(user=request.user)[:500]
        return Response({"items": UserOut(users, many=True).data, "next_cursor": None})

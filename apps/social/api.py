"""Follow and unfollow."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import user_get_by_username
from apps.social import services

FollowStateOut = inline_serializer("FollowState", {"state": serializers.CharField()})


class FollowApi(APIView):
    @extend_schema(request=None, responses={200: FollowStateOut}, operation_id="users_follow")
    def post(self, request, username: str):
        followee = user_get_by_username(username=username)
        state = services.follow_create(follower=request.user, followee=followee)
        return Response({"state": state})

    @extend_schema(responses={200: FollowStateOut}, operation_id="users_unfollow")
    def delete(self, request, username: str):
        followee = user_get_by_username(username=username)
        state = services.follow_delete(follower=request.user, followee=followee)
        return Response({"state": state})

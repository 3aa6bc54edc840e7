"""Explore and "more like this" API: ``GET /explore`` and ``GET /posts/{id}/similar``."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.accounts.serializers import UserOut
from apps.discovery import selectors
from apps.posts.selectors import viewer_reactions
from apps.posts.serializers import PostOut, posts_data

_Creator = inline_serializer(
    "RisingCreator",
    {
        "user": UserOut(),
        "new_followers": serializers.IntegerField(),
        "recent_reactions": serializers.IntegerField(),
        "followers_count": serializers.IntegerField(),
    },
)
_Tag = inline_serializer(
    "PopularTag", {"tag": serializers.CharField(), "posts_count": serializers.IntegerField()}
)


class ExploreApi(APIView):
    """Three short lists, not pages: the trending head (page on with
    ``GET /feed/public?sort=trending&cursor=<trending_next_cursor>``), rising creators and
    popular tags of the last week."""

    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Explore",
                {
                    "trending": PostOut(many=True),
                    "trending_next_cursor": serializers.CharField(allow_null=True),
                    "creators": serializers.ListField(child=_Creator),
                    "tags": serializers.ListField(child=_Tag),
                },
            )
        },
        operation_id="explore",
    )
    def get(self, request):
        viewer = request.user
        trending = selectors.explore_trending(viewer=viewer)
        reacted = viewer_reactions(viewer=viewer, post_ids=[p.id for p in trending.items])
        creators = selectors.explore_creators(viewer=viewer)
        return Response(
            {
                "trending": posts_data(trending.items, reacted),
                "trending_next_cursor": trending.next_cursor,
                "creators": [
                    {
                        "user": UserOut(c.user).data,
                        "new_followers": c.new_followers,
                        "recent_reactions": c.recent_reactions,
                        "followers_count": c.followers_count,
                    }
                    for c in creators
                ],
                "tags": selectors.explore_tags(viewer=viewer),
            }
        )


class SimilarPostsApi(APIView):
    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(
        responses={
            200: inline_serializer("SimilarPosts", {"items": PostOut(many=True)}),
        },
        operation_id="posts_similar",
    )
    def get(self, request, post_id: int):
        posts = selectors.posts_similar(post_id=post_id, viewer=request.user)
        reacted = viewer_reactions(viewer=request.user, post_ids=[p.id for p in posts])
        return Response({"items": posts_data(posts, reacted)})

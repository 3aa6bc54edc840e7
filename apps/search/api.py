"""``GET /api/v1/search``: posts, people or tags, in the feeds' page shape."""

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.accounts.serializers import ProfileOut
from apps.core.pagination import MAX_LIMIT
from apps.posts.selectors import viewer_reactions
from apps.posts.serializers import PostOut, posts_data
from apps.search import selectors
from apps.search.selectors import CURSOR_MAX_CHARS, Q_MAX_CHARS, TYPES, SearchParams


class TagOut(serializers.Serializer):
    tag = serializers.CharField()
    posts_count = serializers.IntegerField(min_value=0)


class SearchPageOut(serializers.Serializer):
    items = PolymorphicProxySerializer(
        component_name="SearchItem",
        serializers=[PostOut, ProfileOut, TagOut],
        resource_type_field_name=None,
        many=True,
    )
    next_cursor = serializers.CharField(allow_null=True)


def search_data(params: SearchParams, viewer) -> dict:
    """One page of results as JSON: posts as in feeds, people as profiles, tags with counts."""
    if params.type == "people":
        page = selectors.search_people(
            viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
        )
        items = ProfileOut(page.items, many=True).data
    elif params.type == "tags":
        page = selectors.search_tags(
            viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
        )
        items = list(page.items)
    else:
        page = selectors.search_posts(
            viewer=viewer, q=params.q, limit=params.limit, cursor=params.cursor
        )
        reacted = viewer_reactions(viewer=viewer, post_ids=[p.id for p in page.items])
        items = posts_data(page.items, reacted)
    return {"items": items, "next_cursor": page.next_cursor}


class SearchApi(APIView):
    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": Q_MAX_CHARS,
                    # Something besides spaces and control characters (those are dropped).
                    "pattern": r"[^\s\x00-\x1f\x7f-\x9f]",
                },
                required=True,
                description="Words to find (posts: caption, tags and prompt; people: names; "
                "tags: the start of a tag).",
            ),
            OpenApiParameter("type", str, enum=list(TYPES), required=False, default="posts"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
                description="Items per page.",
            ),
            OpenApiParameter(
                "cursor",
                {"type": "string", "pattern": f"^[A-Za-z0-9_-]{{0,{CURSOR_MAX_CHARS}}}$"},
                description="The `next_cursor` of the previous page (opaque).",
            ),
        ],
        responses={200: SearchPageOut},
        operation_id="search",
    )
    def get(self, request):
        params = SearchParams.from_query(request.query_params)
        return Response(search_data(params, request.user))

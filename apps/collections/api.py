"""Collections API (../shared/API.md, Discovery and collections): thin views over
``apps.collections.services`` and ``selectors``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.auth import TokenScopes
from apps.accounts.selectors import user_get_by_username
from apps.collections import selectors, services
from apps.collections.serializers import (
    CollectionIn,
    CollectionOrderIn,
    CollectionOut,
    CollectionPatchIn,
)
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageParams
from apps.core.schema import KeysetPagination, errors
from apps.posts.selectors import viewer_reactions
from apps.posts.serializers import PostOut, posts_data


def _collections_page(page) -> dict:
    return {"items": CollectionOut(page.items, many=True).data, "next_cursor": page.next_cursor}


def _collection_data(collection, request) -> dict:
    params = PageParams.from_query(request.query_params)
    page = selectors.collection_posts(collection=collection, viewer=request.user, params=params)
    reacted = viewer_reactions(viewer=request.user, post_ids=[p.id for p in page.items])
    return {
        **CollectionOut(collection).data,
        "items": posts_data(page.items, reacted),
        "next_cursor": page.next_cursor,
    }


CollectionDetailOut = inline_serializer(
    "CollectionDetail",
    {
        "id": serializers.CharField(),
        "name": serializers.CharField(),
        "visibility": serializers.CharField(),
        "owner": serializers.CharField(),
        "posts_count": serializers.IntegerField(),
        "cover": serializers.DictField(allow_null=True),
        "items": PostOut(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)


class CollectionsApi(APIView):
    pagination_class = KeysetPagination  # schema only

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "post_id",
                str,
                required=False,
                pattern=r"^[0-9]{1,19}$",
                description="Say of each collection whether it holds this post "
                "(``contains_post``).",
            )
        ],
        responses={200: CollectionOut(many=True)},
        operation_id="collections_list",
    )
    def get(self, request):
        params = PageParams.from_query(request.query_params)
        raw = request.query_params.get("post_id")
        if raw is not None and not (raw.isdigit() and len(raw) <= 19):
            raise ApplicationError(
                "invalid",
                "Some query parameters are not valid.",
                fields={"post_id": ["A post id is required."]},
            )
        page = selectors.collection_list_mine(owner=request.user, params=params)
        if raw is not None:
            holding = selectors.collections_saving(owner=request.user, post_id=int(raw))
            for collection in page.items:
                collection.contains_post = collection.id in holding
        return Response(_collections_page(page))

    @extend_schema(
        request=CollectionIn,
        # 409: the name is taken, or the person has the most collections one may keep.
        responses={201: CollectionOut, **errors(409)},
        operation_id="collections_create",
    )
    def post(self, request):
        data = validated(CollectionIn, request.data)
        created = services.collection_create(owner=request.user, **data)
        collection = selectors.collection_get(collection_id=created.id, viewer=request.user)
        return Response(CollectionOut(collection).data, status=status.HTTP_201_CREATED)


class CollectionDetailApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only: the collection's posts

    @extend_schema(responses={200: CollectionDetailOut}, operation_id="collections_get")
    def get(self, request, collection_id: int):
        collection = selectors.collection_get(collection_id=collection_id, viewer=request.user)
        return Response(_collection_data(collection, request))

    @extend_schema(
        request=CollectionPatchIn,
        responses={200: CollectionOut, **errors(409)},
        operation_id="collections_update",
    )
    def patch(self, request, collection_id: int):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        data = validated(CollectionPatchIn, request.data)
        services.collection_update(user=request.user, collection_id=collection_id, **data)
        collection = selectors.collection_get(collection_id=collection_id, viewer=request.user)
        return Response(CollectionOut(collection).data)

    @extend_schema(responses={204: None}, operation_id="collections_delete")
    def delete(self, request, collection_id: int):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        services.collection_delete(user=request.user, collection_id=collection_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CollectionPostApi(APIView):
    @extend_schema(
        request=None,
        # 409: the collection holds the most posts one may.
        responses={204: None, **errors(409)},
        operation_id="collections_posts_add",
    )
    def post(self, request, collection_id: int, post_id: int):
        services.collection_post_add(
            user=request.user, collection_id=collection_id, post_id=post_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, operation_id="collections_posts_remove")
    def delete(self, request, collection_id: int, post_id: int):
        services.collection_post_remove(
            user=request.user, collection_id=collection_id, post_id=post_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CollectionOrderApi(APIView):
    @extend_schema(
        request=CollectionOrderIn, responses={204: None}, operation_id="collections_order"
    )
    def put(self, request, collection_id: int):
        data = validated(CollectionOrderIn, request.data)
        services.collection_order_set(
            user=request.user, collection_id=collection_id, post_ids=data["post_ids"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserCollectionsApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only

    @extend_schema(responses={200: CollectionOut(many=True)}, operation_id="users_collections")
    def get(self, request, username: str):
        params = PageParams.from_query(request.query_params)
        owner = user_get_by_username(username=username)
        page = selectors.collection_list_public(owner=owner, viewer=request.user, params=params)
        return Response(_collections_page(page))

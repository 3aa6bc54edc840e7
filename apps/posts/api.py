"""Posts, feeds and reactions API."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.adapter import publish_allowed_check
from apps.accounts.auth import TokenScopes
from apps.accounts.selectors import user_get_by_username
from apps.core import idempotency
from apps.core.api import validated
from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams
from apps.core.schema import KeysetPagination, errors
from apps.moderation.services import publish_precheck
from apps.posts import selectors, services
from apps.posts.alt import alt_suggestion_for
from apps.posts.models import REACTION_KINDS
from apps.posts.serializers import (
    AltSuggestionOut,
    CommentIn,
    CommentOut,
    PostIn,
    PostOut,
    PostPatchIn,
    ReactionIn,
    ReactionsOut,
    post_rows_data,
    posts_data,
    rows_cover_serializers,
)


class TrendingPagination(KeysetPagination):
    """``sort=trending`` pages on (score, id): its cursors read ``<score>_<id>``."""

    cursor_pattern = r"^(?:[0-9]{0,19}|-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?_[0-9]{1,19})$"


def post_data(post, viewer) -> dict:
    reacted = selectors.viewer_reactions(viewer=viewer, post_ids=[post.id])
    return PostOut(post, context={"viewer_reactions": reacted}).data


def page_data(page: Page, viewer) -> dict:
    items = page.items
    if all(hasattr(p, "viewer_reacted") for p in items):  # the feeds' pages carry them
        reacted = {p.id: p.viewer_reacted for p in items}
    else:
        reacted = selectors.viewer_reactions(viewer=viewer, post_ids=[p.id for p in items])
    return {"items": posts_data(page.items, reacted), "next_cursor": page.next_cursor}


class PostsApi(APIView):
    @extend_schema(
        request=PostIn,
        # 404: the asset is not in my Library; 409: the Idempotency-Key is in flight;
        # 422: refused by the prompt policy.
        responses={201: PostOut, **errors(404, 409, 422)},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="posts_create",
    )
    def post(self, request):
        data = validated(PostIn, request.data)
        # An account whose email is unconfirmed may not publish where the setting says so.
        publish_allowed_check(user=request.user)
        # Before the write's transaction, so a hold it opens stays when publishing is refused.
        publish_precheck(author=request.user, asset_id=data["asset_id"])
        return idempotency.respond(
            request,
            scope="posts.create",
            write=lambda: services.post_publish(author=request.user, **data),
            load=lambda pk: selectors.post_get_visible(post_id=pk, viewer=request.user),
            render=lambda post: post_data(post, request.user),
            status=status.HTTP_201_CREATED,
        )


class PostDetailApi(APIView):
    permission_classes = [AllowAny, TokenScopes]

    @extend_schema(responses={200: PostOut}, operation_id="posts_get")
    def get(self, request, post_id: int):
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
        return Response(post_data(post, request.user))

    @extend_schema(request=PostPatchIn, responses={200: PostOut}, operation_id="posts_update")
    def patch(self, request, post_id: int):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        data = validated(PostPatchIn, request.data)
        post = services.post_update(user=request.user, post_id=post_id, **data)
        return Response(post_data(post, request.user))

    @extend_schema(responses={204: None}, operation_id="posts_delete")
    def delete(self, request, post_id: int):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        services.post_delete(user=request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AltSuggestionApi(APIView):
    """The alt text offered to a creator for one of their assets, built from its prompt. Only
    the owner may ask (anyone else: 404), so a hidden prompt never reaches another person."""

    @extend_schema(responses={200: AltSuggestionOut}, operation_id="assets_alt_suggestion")
    def get(self, request, asset_id: int):
        suggestion = alt_suggestion_for(asset_id=asset_id, owner=request.user)
        return Response({"asset_id": str(asset_id), "suggestion": suggestion})


def feed_response(request, feed: str, *, key: str | None = None, trending=False) -> Response:
    """One page of ``feed`` as the API answers it: one query (``selectors.feed_rows``) made into
    ``PostOut``'s JSON without models, or the serializers themselves while they have a field the
    rows do not know (``rows_cover_serializers``)."""
    query = request.query_params
    raw_cursor = None
    if trending:
        # Trending pages on (score, id), not on the id alone: its own cursor.
        query = query.copy()
        raw_cursor = query.pop("cursor", [None])[0]
        query.pop("since", None)
    params = PageParams.from_query(query)
    trending_cursor = selectors.TrendingCursor.parse(raw_cursor) if trending else None
    viewer = request.user
    if not rows_cover_serializers():
        if trending:
            page = selectors.feed_trending(
                viewer=viewer, limit=params.limit, cursor=trending_cursor
            )
        elif feed == "user":
            author = user_get_by_username(username=key)
            page = selectors.feed_user(author=author, viewer=viewer, params=params)
        elif feed == "tag":
            page = selectors.feed_tag(tag=key, viewer=viewer, params=params)
        else:
            page = getattr(selectors, f"feed_{feed}")(viewer=viewer, params=params)
        return Response(page_data(page, viewer))
    page = selectors.feed_rows(
        feed=feed, viewer=viewer, params=params, key=key, trending_cursor=trending_cursor
    )
    return Response({"items": post_rows_data(page.items), "next_cursor": page.next_cursor})


class HomeFeedApi(APIView):
    pagination_class = KeysetPagination  # schema only: pages through PageParams

    @extend_schema(responses={200: PostOut(many=True)}, operation_id="feed_home")
    def get(self, request):
        return feed_response(request, "home")


class PublicFeedApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = TrendingPagination  # schema only

    @extend_schema(
        parameters=[
            OpenApiParameter("sort", str, enum=["recent", "trending"], required=False),
        ],
        responses={200: PostOut(many=True)},
        operation_id="feed_public",
    )
    def get(self, request):
        sort = request.query_params.get("sort") or "recent"
        if sort not in ("recent", "trending"):
            raise ApplicationError(
                "invalid", _("Some query parameters are not valid."), fields={"sort": ["?"]}
            )
        if sort == "trending":
            return feed_response(request, "trending", trending=True)
        return feed_response(request, "public")


class UserPostsApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only

    @extend_schema(responses={200: PostOut(many=True)}, operation_id="users_posts")
    def get(self, request, username: str):
        return feed_response(request, "user", key=username)


def _reactions_data(post, viewer) -> dict:
    reacted = selectors.viewer_reactions(viewer=viewer, post_ids=[post.id])
    return {"reactions": post.reactions, "viewer_reactions": reacted[post.id]}


class ReactionsApi(APIView):
    @extend_schema(
        request=ReactionIn,
        responses={200: ReactionsOut, **errors(409)},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="posts_react",
    )
    def post(self, request, post_id: int):
        data = validated(ReactionIn, request.data)
        return idempotency.respond(
            request,
            scope="reactions.add",
            write=lambda: services.reaction_add(
                user=request.user, post_id=post_id, kind=data["kind"]
            ),
            load=lambda pk: selectors.post_get_visible(post_id=pk, viewer=request.user),
            render=lambda post: _reactions_data(post, request.user),
            status=status.HTTP_200_OK,
        )


class ReactionDetailApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(REACTION_KINDS))
        ],
        responses={200: ReactionsOut},
        operation_id="posts_unreact",
    )
    def delete(self, request, post_id: int, kind: str):
        post = services.reaction_remove(user=request.user, post_id=post_id, kind=kind)
        return Response(_reactions_data(post, request.user))


class TagPostsApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only

    @extend_schema(responses={200: PostOut(many=True)}, operation_id="tags_posts")
    def get(self, request, tag: str):
        return feed_response(request, "tag", key=tag)


class RemixesApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only

    @extend_schema(responses={200: PostOut(many=True)}, operation_id="posts_remixes")
    def get(self, request, post_id: int):
        params = PageParams.from_query(request.query_params)
        page = selectors.remixes_of(post_id=post_id, viewer=request.user, params=params)
        return Response(page_data(page, request.user))


class CommentsApi(APIView):
    permission_classes = [AllowAny, TokenScopes]
    pagination_class = KeysetPagination  # schema only

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), TokenScopes()]
        return super().get_permissions()

    @extend_schema(responses={200: CommentOut(many=True)}, operation_id="posts_comments")
    def get(self, request, post_id: int):
        params = PageParams.from_query(request.query_params)
        post = selectors.post_get_visible(post_id=post_id, viewer=request.user)
        page = selectors.comments_for(post=post, viewer=request.user, params=params)
        items = CommentOut(page.items, many=True).data
        return Response({"items": items, "next_cursor": page.next_cursor})

    @extend_schema(
        request=CommentIn,
        responses={201: CommentOut, **errors(409)},
        parameters=[idempotency.IDEMPOTENCY_KEY_HEADER],
        operation_id="posts_comment",
    )
    def post(self, request, post_id: int):
        data = validated(CommentIn, request.data)
        return idempotency.respond(
            request,
            scope="comments.create",
            write=lambda: services.comment_create(
                user=request.user,
                post_id=post_id,
                body=data["body"],
                parent_id=data.get("parent_id"),
            ),
            load=lambda pk: selectors.comment_get(
                post=selectors.post_get_visible(post_id=post_id, viewer=request.user),
                comment_id=pk,
                viewer=request.user,
            ),
            render=lambda comment: CommentOut(comment).data,
            status=status.HTTP_201_CREATED,
        )


class CommentDetailApi(APIView):
    @extend_schema(responses={204: None}, operation_id="posts_comment_delete")
    def delete(self, request, post_id: int, comment_id: int):
        services.comment_delete(user=request.user, post_id=post_id, comment_id=comment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

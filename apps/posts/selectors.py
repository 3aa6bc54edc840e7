"""Reads of posts, feeds and comments, every one through ``Post.objects.visible_to``.

A feed page costs a constant number of queries whatever its size: the viewer's hidden set (one),
the page itself with authors and assets joined (one), the viewer's own reactions (one). The API's
home feed folds all three into one (``feed_home_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy

from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams, paginate
from apps.core.queries import QueryTemplate
from apps.posts.models import Comment, Post, PostTag, Reaction
from apps.social.models import Follow
from apps.social.selectors import blocked_ids, hidden_author_ids, hidden_author_ids_query


def _viewer_id(viewer) -> int | None:
    return viewer.pk if viewer is not None and viewer.is_authenticated else None


def _posts(viewer, *, hidden: set[int] | None = None) -> QuerySet[Post]:
    # Follows stay a subquery (not a list of ids fetched first): PostgreSQL plans the subquery
    # in about a millisecond, where a literal list of hundreds of ids costs several.
    # ``asset_provenance_id``: the asset's provenance record, joined here so no page asks per post.
    # ``remix_of_deleted_at``: set when the post is a remix whose original's author deleted their
    # account (gone for everyone at once, then purged): the post says "original deleted".
    return (
        Post.objects.visible_to(viewer, hidden_author_ids=hidden)
        .select_related("author", "asset")
        .annotate(
            asset_provenance_id=F("asset__provenance__id"),
            remix_of_deleted_at=F("remix_of__author__deletion_requested_at"),
        )
    )


def _feed_posts(viewer) -> QuerySet[Post]:
    """Visible posts minus everyone the viewer blocks, is blocked by or mutes (feeds only).

    A viewer whose setting hides sensitive media gets no sensitive posts but their own.
    """
    posts = _posts(viewer, hidden=hidden_author_ids(viewer_id=_viewer_id(viewer)))
    if getattr(viewer, "sensitive_media", None) == "hide":
        posts = posts.exclude(Q(sensitive=True) & ~Q(author_id=viewer.pk))
    return posts


def post_get_visible(*, post_id: int, viewer) -> Post:
    """A post the viewer may see; one they may not answers exactly like a missing one."""
    post = _posts(viewer).filter(id=post_id).first()
    if post is None:
        raise ApplicationError("not_found", gettext_lazy("Not found."))
    return post


def feed_home(*, viewer, params: PageParams) -> Page:
    """Posts of the people the viewer follows, and their own, newest first."""
    following = Follow.objects.filter(follower_id=viewer.pk).values("followee_id")
    posts = _feed_posts(viewer).filter(Q(author_id=viewer.pk) | Q(author_id__in=following))
    return paginate(posts, params)


# --- the home feed's fast path ----------------------------------------------------------------
#
# The API's home page is one query: the page's posts with exactly the columns the JSON needs
# (author and asset joined), the viewer's blocks and mutes as a ``NOT IN`` subquery (hashed once
# by PostgreSQL), and on PostgreSQL the viewer's own reactions as an array column. Building that
# query with the ORM costs more than running it, so it is built once per shape (limit, cursor or
# not, since or not, sensitive media hidden or not) with placeholder values, through
# ``visible_to`` like every other read, and reused with the request's values in their place.

_VIEWER = -9_000_000_000_000_000_001  # placeholders: below any snowflake id, never a real value
_CURSOR = -9_000_000_000_000_000_002
_SINCE = -9_000_000_000_000_000_003

POST_COLUMNS = (
    "id",
    "created_at",
    "caption",
    "alt_text",
    "visibility",
    "remix_of_id",
    "remix_count",
    "allow_remix",
    "training_use",
    "sensitive",
    "hide_prompt",
    "like_count",
    "love_count",
    "haha_count",
    "wow_count",
    "fire_count",
    "comments_count",
    "author_id",
    "author__username",
    "author__display_name",
    "author__bio",
    "author__avatar_id",
    "author__is_private",
    "asset_id",
    "asset__kind",
    "asset__mime",
    "asset__width",
    "asset__height",
    "asset__duration_s",
    "asset__fps",
    "asset__sha256",
    "asset__phash",
    "asset__bytes",
    "asset__placeholder",
    "asset__variants",
    "asset__provenance__id",
    "remix_of__author__deletion_requested_at",
)


def _home_queryset(hide_sensitive: bool, cursor: bool, since: bool, limit: int) -> QuerySet:
    """The home page's query for one shape, with placeholder values (see ``QueryTemplate``)."""
    from apps.accounts.models import User

    viewer = User(id=_VIEWER, sensitive_media="hide" if hide_sensitive else "show")
    following = Follow.objects.filter(follower_id=_VIEWER).values("followee_id")
    hidden = hidden_author_ids_query(viewer_id=_VIEWER)
    posts = Post.objects.visible_to(viewer, hidden_author_ids=hidden).filter(
        Q(author_id=_VIEWER) | Q(author_id__in=following)
    )
    if hide_sensitive:
        posts = posts.exclude(Q(sensitive=True) & ~Q(author_id=_VIEWER))
    if cursor:
        posts = posts.filter(id__lt=_CURSOR)
    if since:
        posts = posts.filter(id__gt=_SINCE)
    columns = list(POST_COLUMNS)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        mine = Reaction.objects.filter(user_id=_VIEWER, post_id=OuterRef("id")).values("kind")
        posts = posts.annotate(viewer_kinds=ArraySubquery(mine.order_by()))
        columns.append("viewer_kinds")
    return posts.values(*columns).order_by("-id")[: limit + 1]


# Prepared (no parsing per request): the planner estimates any viewer's follows, blocks and
# reactions from per-column averages, so even a generic plan, which PostgreSQL adopts only when
# it costs no more than the custom plans it made first, is the plan a viewer would get anyway.
_home = QueryTemplate(_home_queryset, prepare=True)


def feed_home_rows(*, viewer, params: PageParams) -> Page:
    """``feed_home`` for the API: the same posts as plain rows (dicts keyed by ``POST_COLUMNS``
    plus ``viewer_kinds``, the kinds the viewer gave each post), in one query on PostgreSQL
    (two elsewhere: the reactions come apart)."""
    shape = (
        getattr(viewer, "sensitive_media", None) == "hide",
        params.cursor is not None,
        params.since is not None,
        params.limit,
    )
    values = {_VIEWER: viewer.pk, _CURSOR: params.cursor, _SINCE: params.since}
    items = _home.rows(shape, values)
    more = len(items) > params.limit
    items = items[: params.limit]
    if items and "viewer_kinds" not in items[0]:
        reacted = viewer_reactions(viewer=viewer, post_ids=[item["id"] for item in items])
        for item in items:
            item["viewer_kinds"] = reacted[item["id"]]
    return Page(items=items, next_cursor=str(items[-1]["id"]) if more else None)


def feed_public(*, viewer, params: PageParams) -> Page:
    """Public posts of public accounts, newest first."""
    return paginate(_feed_posts(viewer).filter(visibility=Post.Visibility.PUBLIC), params)


@dataclass(frozen=True)
class TrendingCursor:
    score: float
    id: int

    def __str__(self) -> str:
        return f"{self.score!r}_{self.id}"

    @classmethod
    def parse(cls, raw: str | None) -> TrendingCursor | None:
        if not raw:
            return None
        try:
            score, _, ident = raw.partition("_")
            return cls(float(score), int(ident))
        except ValueError as e:
            raise ApplicationError(
                "invalid",
                gettext_lazy("Some query parameters are not valid."),
                fields={"cursor": ["Bad."]},
            ) from e


def feed_trending(*, viewer, limit: int, cursor: TrendingCursor | None) -> Page:
    """Public posts by trending score (engagement with time decay, stored on the row).

    Keyset-paginated on (score, id); a score changes while someone pages, so an item may move
    between pages, which a trending list accepts.
    """
    posts = _feed_posts(viewer).filter(visibility=Post.Visibility.PUBLIC)
    if cursor is not None:
        posts = posts.filter(
            Q(trend_score__lt=cursor.score) | Q(trend_score=cursor.score, id__lt=cursor.id)
        )
    rows = list(posts.order_by("-trend_score", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(TrendingCursor(rows[-1].trend_score, rows[-1].id)) if more else None
    return Page(items=rows, next_cursor=next_cursor)


def feed_user(*, author, viewer, params: PageParams) -> Page:
    """A profile's posts the viewer may see (muting someone does not hide their profile)."""
    return paginate(_posts(viewer).filter(author=author), params)


def feed_tag(*, tag: str, viewer, params: PageParams) -> Page:
    tagged = PostTag.objects.filter(tag=tag.lower()).values("post_id")
    return paginate(_feed_posts(viewer).filter(id__in=tagged), params)


def remix_parent_check(*, post_id: int, viewer) -> Post:
    """The post ``viewer`` wants to remix: 404 when they may not see it, 403 when its author
    does not allow remixes."""
    post = Post.objects.visible_to(viewer).filter(id=post_id).first()
    if post is None:
        raise ApplicationError(
            "not_found",
            gettext_lazy("The post you remix was not found."),
            fields={"remix_of": ["Not found."]},
        )
    if not post.allow_remix:
        raise ApplicationError(
            "forbidden", gettext_lazy("The author does not allow remixes of that post.")
        )
    return post


def remixes_of(*, post_id: int, viewer, params: PageParams) -> Page:
    post_get_visible(post_id=post_id, viewer=viewer)
    return paginate(_posts(viewer).filter(remix_of_id=post_id), params)


def post_count_visible(*, author, viewer) -> int:
    return Post.objects.visible_to(viewer).filter(author=author).count()


def viewer_reactions(*, viewer, post_ids: list[int]) -> dict[int, list[str]]:
    """The kinds the viewer has given each post, for a page of posts in one query."""
    out: dict[int, list[str]] = {pid: [] for pid in post_ids}
    if viewer is None or not viewer.is_authenticated or not post_ids:
        return out
    rows = Reaction.objects.filter(user_id=viewer.pk, post_id__in=post_ids).values_list(
        "post_id", "kind"
    )
    for post_id, kind in rows:
        out[post_id].append(kind)
    return out


def comments_for(*, post: Post, viewer, params: PageParams) -> Page:
    """A post's comments the viewer may see, oldest first, each with its replies.

    Top-level comments page by id (ascending); replies come along in one more query. Comments by
    anyone with a block between them and the viewer are left out, and so are those of accounts
    suspended or deleted (gone for everyone, as their posts are).
    """
    hidden = blocked_ids(viewer_id=_viewer_id(viewer))
    rows = Comment.objects.filter(
        post=post, parent__isnull=True, removed_at__isnull=True, author__is_active=True
    ).select_related("author")
    if hidden:
        rows = rows.exclude(author_id__in=hidden)
    if params.cursor is not None:
        rows = rows.filter(id__gt=params.cursor)
    if params.since is not None:
        rows = rows.filter(id__gt=params.since)
    items = list(rows.order_by("id")[: params.limit + 1])
    more = len(items) > params.limit
    items = items[: params.limit]
    replies = (
        Comment.objects.filter(parent__in=items, removed_at__isnull=True, author__is_active=True)
        .select_related("author")
        .order_by("id")
    )
    if hidden:
        replies = replies.exclude(author_id__in=hidden)
    by_parent: dict[int, list[Comment]] = {}
    for reply in replies:
        by_parent.setdefault(reply.parent_id, []).append(reply)
    for comment in items:
        comment.reply_list = by_parent.get(comment.id, [])
    return Page(items=items, next_cursor=str(items[-1].id) if more else None)


def comment_get(*, post: Post, comment_id: int, viewer) -> Comment:
    comment = (
        Comment.objects.filter(
            post=post, id=comment_id, removed_at__isnull=True, author__is_active=True
        )
        .select_related("author")
        .first()
    )
    if comment is None or comment.author_id in blocked_ids(viewer_id=_viewer_id(viewer)):
        raise ApplicationError("not_found", gettext_lazy("Not found."))
    return comment

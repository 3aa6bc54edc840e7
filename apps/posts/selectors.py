"""Reads of posts, feeds and comments, every one through ``Post.objects.visible_to``.

A feed page is one query whatever its size, on the API and on the pages alike: the page's posts
with authors and assets joined, the viewer's blocks and mutes as a subquery, their own reactions
as an array column (see "feeds" below). ``tests/bench/feed.py`` measures each feed against its
own SQL sent raw: at 1,000,000 posts the API's p50 is 1.7 to 2.3 times that (docs/social.md), the
rest being the request's token lookup, middleware and JSON; before, all but the home feed took
4 queries (the hidden set and the viewer's reactions apart).
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
from apps.social.selectors import blocked_ids, hidden_author_ids_query


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


def post_get_visible(*, post_id: int, viewer) -> Post:
    """A post the viewer may see; one they may not answers exactly like a missing one."""
    post = _posts(viewer).filter(id=post_id).first()
    if post is None:
        raise ApplicationError("not_found", gettext_lazy("Not found."))
    return post


# --- feeds -----------------------------------------------------------------------------------
#
# Every feed (home, public, trending, a #hashtag, a profile) is one query a page: the page's posts
# with their author and asset joined, the viewer's blocks and mutes as a ``NOT IN`` subquery
# (hashed once by PostgreSQL), and on PostgreSQL the viewer's own reactions as an array column.
# One function (``_feed_queryset``) says which posts each feed holds, through ``visible_to``; the
# pages get model instances from it, the API plain rows from the same query built once per shape
# (``QueryTemplate``: building a query with the ORM costs more than running it). A profile's
# page names its author by username inside the query, so an empty page alone asks once more
# whether the account exists (404) or only shows the viewer nothing.

FEEDS = ("home", "public", "trending", "tag", "user")

_VIEWER = -9_000_000_000_000_000_001  # placeholders: below any snowflake id, never a real value
_CURSOR = -9_000_000_000_000_000_002
_SINCE = -9_000_000_000_000_000_003
_SCORE = -1.0e308  # no post scores this (scores are engagement with time decay, never negative)
_TAG = "\x1f#tag\x1f"  # control characters: no tag or username has them
_USERNAME = "\x1f@username\x1f"

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


def _feed_queryset(viewer, feed: str, *, key=None) -> QuerySet[Post]:
    """The posts on ``feed`` that ``viewer`` sees (unordered, unpaged), through ``visible_to``.

    ``key``: the tag (lower case) for ``tag``, the author's id (or a subquery of it) for
    ``user``. Feeds leave out everyone the viewer blocks, is blocked by or mutes; a profile
    leaves out blocks only (muting someone does not hide their profile). A viewer whose setting
    hides sensitive media gets no sensitive posts but their own, except on a profile.
    """
    viewer_id = _viewer_id(viewer)
    hidden = None
    if viewer_id is not None and feed != "user":
        hidden = hidden_author_ids_query(viewer_id=viewer_id)
    posts = Post.objects.visible_to(viewer, hidden_author_ids=hidden)
    if feed == "home":
        following = Follow.objects.filter(follower_id=viewer_id).values("followee_id")
        posts = posts.filter(Q(author_id=viewer_id) | Q(author_id__in=following))
    elif feed in ("public", "trending"):
        posts = posts.filter(visibility=Post.Visibility.PUBLIC)
    elif feed == "tag":
        posts = posts.filter(id__in=PostTag.objects.filter(tag=key).values("post_id"))
    elif feed == "user":
        posts = posts.filter(author_id=key)
    else:
        raise ValueError(feed)
    if feed != "user" and getattr(viewer, "sensitive_media", None) == "hide":
        posts = posts.exclude(Q(sensitive=True) & ~Q(author_id=viewer_id))
    return posts


def _with_viewer_kinds(posts: QuerySet, viewer_id: int | None) -> QuerySet:
    """``viewer_kinds``: the kinds the viewer gave each post, as an array column (PostgreSQL)."""
    if viewer_id is None or connection.vendor != "postgresql":
        return posts
    from django.contrib.postgres.expressions import ArraySubquery

    mine = Reaction.objects.filter(user_id=viewer_id, post_id=OuterRef("id")).values("kind")
    return posts.annotate(viewer_kinds=ArraySubquery(mine.order_by()))


def _trending_after(posts: QuerySet, score, post_id) -> QuerySet:
    return posts.filter(Q(trend_score__lt=score) | Q(trend_score=score, id__lt=post_id))


# --- the pages: model instances ----------------------------------------------------------------


def _feed_models(viewer, feed: str, *, key=None) -> QuerySet[Post]:
    # ``asset_provenance_id`` and ``remix_of_deleted_at`` as in ``_posts``.
    posts = (
        _feed_queryset(viewer, feed, key=key)
        .select_related("author", "asset")
        .annotate(
            asset_provenance_id=F("asset__provenance__id"),
            remix_of_deleted_at=F("remix_of__author__deletion_requested_at"),
        )
    )
    return _with_viewer_kinds(posts, _viewer_id(viewer))


def _reacted(viewer, page: Page) -> Page:
    """Each post's ``viewer_reacted``: from the page's own query, else (not PostgreSQL) one more."""
    items = page.items
    if items and not hasattr(items[0], "viewer_kinds"):
        reacted = viewer_reactions(viewer=viewer, post_ids=[p.id for p in items])
        for post in items:
            post.viewer_reacted = reacted[post.id]
    else:
        for post in items:
            post.viewer_reacted = list(post.viewer_kinds or [])
    return page


def feed_home(*, viewer, params: PageParams) -> Page:
    """Posts of the people the viewer follows, and their own, newest first (each post with
    ``viewer_reacted``, as on every feed)."""
    return _reacted(viewer, paginate(_feed_models(viewer, "home"), params))


def feed_public(*, viewer, params: PageParams) -> Page:
    """Public posts of public accounts, newest first."""
    return _reacted(viewer, paginate(_feed_models(viewer, "public"), params))


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
    posts = _feed_models(viewer, "trending")
    if cursor is not None:
        posts = _trending_after(posts, cursor.score, cursor.id)
    rows = list(posts.order_by("-trend_score", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(TrendingCursor(rows[-1].trend_score, rows[-1].id)) if more else None
    return _reacted(viewer, Page(items=rows, next_cursor=next_cursor))


def feed_user(*, author, viewer, params: PageParams) -> Page:
    """A profile's posts the viewer may see (muting someone does not hide their profile)."""
    return _reacted(viewer, paginate(_feed_models(viewer, "user", key=author.pk), params))


def feed_tag(*, tag: str, viewer, params: PageParams) -> Page:
    """Posts with one #hashtag, newest first."""
    return _reacted(viewer, paginate(_feed_models(viewer, "tag", key=tag.lower()), params))


# --- the API: plain rows, one prepared query per shape -----------------------------------------


def _rows_queryset(
    feed: str, signed_in: bool, hide_sensitive: bool, cursor: bool, since: bool, limit: int
) -> QuerySet:
    """A feed page's query for one shape, with placeholder values (see ``QueryTemplate``)."""
    from django.db.models import Subquery
    from django.db.models.functions import Lower

    from apps.accounts.models import User

    viewer = None
    if signed_in:
        viewer = User(id=_VIEWER, sensitive_media="hide" if hide_sensitive else "show")
    key = None
    if feed == "tag":
        key = _TAG
    elif feed == "user":
        # Usernames are unique by lower case (an index on it): the author found in the query.
        author = User.objects.annotate(name=Lower("username")).filter(
            name=_USERNAME, is_active=True
        )
        key = Subquery(author.values("id")[:1])
    posts = _with_viewer_kinds(
        _feed_queryset(viewer, feed, key=key), _VIEWER if signed_in else None
    )
    columns = list(POST_COLUMNS)
    if feed == "trending":
        if cursor:
            posts = _trending_after(posts, _SCORE, _CURSOR)
        columns.append("trend_score")
        order = ("-trend_score", "-id")
    else:
        if cursor:
            posts = posts.filter(id__lt=_CURSOR)
        if since:
            posts = posts.filter(id__gt=_SINCE)
        order = ("-id",)
    if "viewer_kinds" in posts.query.annotations:
        columns.append("viewer_kinds")  # last: ``QueryTemplate`` names fields, then annotations
    return posts.values(*columns).order_by(*order)[: limit + 1]


# Prepared (no parsing per request): the planner estimates any viewer's follows, blocks and
# reactions, and a profile's author (named inside the query), from per-column averages, so even
# a generic plan, which PostgreSQL adopts only when it costs no more than the custom plans it
# made first, is the plan a viewer would get anyway. Not the hashtag feed: a rare tag and a
# common one want different plans (from the tag index, or down the posts by id).
_rows_prepared = QueryTemplate(_rows_queryset, prepare=True)
_rows_planned = QueryTemplate(_rows_queryset)


def _rows_template(feed: str) -> QueryTemplate:
    return _rows_planned if feed == "tag" else _rows_prepared


def _rows_shape(
    feed: str,
    viewer,
    params: PageParams,
    key: str | None = None,
    trending_cursor: TrendingCursor | None = None,
) -> tuple[tuple, dict]:
    """The shape of a feed page's query and the request's values for its placeholders."""
    viewer_id = _viewer_id(viewer)
    trending = feed == "trending"
    shape = (
        feed,
        viewer_id is not None,
        getattr(viewer, "sensitive_media", None) == "hide",
        (trending_cursor if trending else params.cursor) is not None,
        params.since is not None and not trending,
        params.limit,
    )
    values = {_VIEWER: viewer_id, _CURSOR: params.cursor, _SINCE: params.since}
    if trending_cursor is not None:
        values.update({_SCORE: trending_cursor.score, _CURSOR: trending_cursor.id})
    if feed == "tag":
        values[_TAG] = (key or "").lower()
    elif feed == "user":
        values[_USERNAME] = (key or "").lower()
    return shape, values


def feed_sql(
    *,
    feed: str,
    viewer,
    params: PageParams,
    key: str | None = None,
    trending_cursor: TrendingCursor | None = None,
) -> tuple[str, list]:
    """The SQL and parameters ``feed_rows`` sends for this page (for the feed benchmark's raw
    baseline, and for ``EXPLAIN``)."""
    shape, values = _rows_shape(feed, viewer, params, key, trending_cursor)
    return _rows_template(feed).sql(shape, values)


def feed_rows(
    *,
    feed: str,
    viewer,
    params: PageParams,
    key: str | None = None,
    trending_cursor: TrendingCursor | None = None,
) -> Page:
    """A page of ``feed`` for the API as plain rows (dicts keyed by ``POST_COLUMNS`` plus
    ``viewer_kinds``, the kinds the viewer gave each post), in one query on PostgreSQL (two
    elsewhere: the reactions come apart).

    ``key``: the tag of ``tag``, the username of ``user`` (an unknown or suspended one: 404).
    ``trending`` pages by ``trending_cursor`` and ignores ``params.cursor`` and ``since``.
    """
    shape, values = _rows_shape(feed, viewer, params, key, trending_cursor)
    items = _rows_template(feed).rows(shape, values)
    more = len(items) > params.limit
    items = items[: params.limit]
    if not items and feed == "user":
        from apps.accounts.selectors import user_get_by_username

        user_get_by_username(username=key or "")  # no such account: 404, not an empty page
    if items and "viewer_kinds" not in items[0]:
        reacted = viewer_reactions(viewer=viewer, post_ids=[item["id"] for item in items])
        for item in items:
            item["viewer_kinds"] = reacted[item["id"]]
    next_cursor = None
    if more and feed == "trending":
        next_cursor = str(TrendingCursor(items[-1]["trend_score"], items[-1]["id"]))
    elif more:
        next_cursor = str(items[-1]["id"])
    return Page(items=items, next_cursor=next_cursor)


def feed_home_rows(*, viewer, params: PageParams) -> Page:
    """``feed_home`` for the API as rows (see ``feed_rows``)."""
    return feed_rows(feed="home", viewer=viewer, params=params)


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


def remixes_of(*, post_id: int, viewer, params: PageParams, checked: bool = False) -> Page:
    """Remixes of a post the viewer may see (``checked``: the caller has just read the post for
    this viewer, so it is not read again)."""
    if not checked:
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

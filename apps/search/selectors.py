"""Search: posts by caption, tags and prompt; people by name; tags by prefix.

Every result goes through the one visibility rule: posts through ``Post.objects.visible_to``
with the viewer's blocks and mutes (as feeds), people are active accounts with no block between
them and the viewer (muting someone does not hide their profile, as on profiles). Matching and
the text part of ranking come from the backend (``apps.search.backends``); the rest is here and
is the same for every backend.

Posts are ranked by ``trend_score`` (reactions and remixes with freshness, stored on the post)
+ ``RANK_WEIGHT`` * the text rank (in [0, 1): caption and tags weigh more than a prompt) +
``COMMENT_WEIGHT`` * log10(1 + comments). The ranking is computed over the newest
``SEARCH_CANDIDATES`` visible matches: a common word matches a good part of a million posts, and
ranking every one of them would cost far more than the page (docs/search.md has the figures).

Pages are keyset-paginated on (score, id) (tags: (count, tag)); a cursor is opaque to clients.
Each page is a constant number of queries: posts four (the viewer's hidden set, the ranking,
the page's posts, the viewer's reactions), people two (the page's matches, within a savepoint on
PostgreSQL, then their profiles' counts), tags one.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Ln

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from apps.posts.models import Post
from apps.search.backends import get_backend
from apps.search.models import TagCount
from apps.social.models import Block, Follow, FollowRequest, Mute
from apps.social.selectors import hidden_author_ids

TYPES = ("posts", "people", "tags")
Q_MAX_CHARS = 200
CURSOR_MAX_CHARS = 200
# Ten times the text rank's range is worth this much trending score (one unit of the score is
# about 12.5 hours of freshness): a caption match outranks a prompt-only match of the same day.
RANK_WEIGHT = 4.0
COMMENT_WEIGHT = 0.5
_SEP = "\x1f"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class SearchParams:
    """A search request's parameters, checked: every one bounded, bad ones a 400 ``invalid``."""

    q: str
    type: str = "posts"
    limit: int = DEFAULT_LIMIT
    cursor: tuple[Any, Any] | None = None

    @classmethod
    def from_query(cls, query: Any) -> SearchParams:
        fields: dict[str, list[str]] = {}
        # Control characters (a NUL among them) are dropped: no database stores them in text.
        raw_q = query.get("q") or ""
        q = " ".join(_CONTROL.sub(" ", raw_q).split())
        if not q:
            fields["q"] = ["Type something to search for."]
        elif len(q) > Q_MAX_CHARS:
            fields["q"] = [f"At most {Q_MAX_CHARS} characters."]
        kind = query.get("type") or "posts"
        if kind not in TYPES:
            fields["type"] = [f"Choose from {', '.join(TYPES)}."]
        limit = DEFAULT_LIMIT
        raw_limit = query.get("limit")
        if raw_limit not in (None, ""):
            if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
                fields["limit"] = [f"A whole number between 1 and {MAX_LIMIT}."]
            else:
                limit = int(raw_limit)
        cursor = None
        raw_cursor = query.get("cursor")
        if raw_cursor not in (None, "") and kind in TYPES:
            cursor = _cursor_decode(raw_cursor, kind)
            if cursor is None:
                fields["cursor"] = ["Not a valid cursor."]
        if fields:
            raise ApplicationError("invalid", "Some query parameters are not valid.", fields=fields)
        return cls(q=q, type=kind, limit=limit, cursor=cursor)


def _cursor_encode(a: Any, b: Any) -> str:
    raw = f"{a!r}{_SEP}{b}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(raw: str, kind: str) -> tuple[Any, Any] | None:
    if len(raw) > CURSOR_MAX_CHARS:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        a, b = text.split(_SEP)
        if kind == "tags":
            return int(a), b
        score = float(a)
        if score != score or score in (float("inf"), float("-inf")):  # NaN or infinite
            return None
        return score, int(b)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _viewer_id(viewer) -> int | None:
    return viewer.pk if viewer is not None and viewer.is_authenticated else None


def _tag_prefix(q: str) -> str:
    return "".join(ch for ch in q.lower() if ch.isalnum() or ch == "_")


# --- posts --------------------------------------------------------------------------------------


def search_posts(*, viewer, q: str, limit: int, cursor: tuple[float, int] | None = None) -> Page:
    """Posts the viewer may see whose caption, tags or prompt match ``q``, best first.

    A hidden prompt finds its post for its creator only; posts of people the viewer blocks, is
    blocked by or mutes are left out, and so are sensitive posts when the viewer hides them.
    Items are ``Post`` objects with author and asset joined (as feeds), ``search_score`` set.
    """
    viewer_id = _viewer_id(viewer)
    backend = get_backend()
    # The hidden set fetched first (one query, as feeds do), not as a subquery: with a
    # subquery PostgreSQL misjudged how many posts it leaves and hashed all of them (0.3 s).
    hidden = hidden_author_ids(viewer_id=viewer_id)
    visible = Post.objects.visible_to(viewer, hidden_author_ids=hidden)
    if getattr(viewer, "sensitive_media", None) == "hide":
        visible = visible.exclude(Q(sensitive=True) & ~Q(author_id=viewer_id))
    candidates = (
        visible.filter(backend.post_match(q, viewer_id))
        .order_by("-id")
        .values("id")[: settings.SEARCH_CANDIDATES]
    )
    score = (
        F("trend_score")
        + Value(RANK_WEIGHT) * backend.post_rank(q, viewer_id)
        # log10(1 + comments) as ln / ln 10: a one-argument function, in floating point on
        # every database (PostgreSQL's two-argument LOG works in slow NUMERIC).
        + Value(COMMENT_WEIGHT / math.log(10)) * Ln(F("comments_count") + Value(1.0))
    )
    ranked = Post.objects.filter(id__in=candidates).annotate(search_score=score)
    if cursor is not None:
        ranked = ranked.filter(
            Q(search_score__lt=cursor[0]) | Q(search_score=cursor[0], id__lt=cursor[1])
        )
    top = list(
        ranked.order_by("-search_score", "-id").values_list("id", "search_score")[: limit + 1]
    )
    more = len(top) > limit
    top = top[:limit]
    # The page's posts with what a feed item shows, apart: joined before the ranking, every
    # candidate would be joined to its author, asset and record and most of them thrown away.
    page = (
        Post.objects.filter(id__in=[pk for pk, _ in top])
        .select_related("author", "asset")
        .annotate(
            asset_provenance_id=F("asset__provenance__id"),
            remix_of_deleted_at=F("remix_of__author__deletion_requested_at"),
        )
        .in_bulk()
    )
    rows = []
    for pk, post_score in top:
        if pk in page:  # deleted between the two queries: left out
            page[pk].search_score = post_score
            rows.append(page[pk])
    last = top[-1] if top else None
    next_cursor = _cursor_encode(last[1], last[0]) if more and last else None  # (score, id)
    return Page(items=rows, next_cursor=next_cursor)


# --- people -------------------------------------------------------------------------------------


def search_people(*, viewer, q: str, limit: int, cursor: tuple[float, int] | None = None) -> Page:
    """Active people whose username or display name match ``q`` (typo-tolerant where the
    backend can), best match first, with what a profile shows (``apps.accounts.ProfileOut``):
    follower, following and visible post counts and the viewer's follow and mute state.

    Nobody finds someone with a block between them; suspended and deleted accounts are never
    found.
    """
    viewer_id = _viewer_id(viewer)
    users = User.objects.filter(is_active=True, deletion_requested_at__isnull=True)
    if viewer_id:
        blocked = (
            Block.objects.filter(blocker_id=viewer_id)
            .values("blocked_id")
            .union(Block.objects.filter(blocked_id=viewer_id).values("blocker_id"), all=True)
        )
        users = users.exclude(id__in=blocked)

    def count(rows, key: str):
        counted = rows.filter(**{key: OuterRef("pk")}).order_by().values(key)
        return Coalesce(Subquery(counted.annotate(n=Count("*")).values("n")[:1]), 0)

    # Blocks are already out of ``users``: the post count needs no block test of its own.
    visible_posts = Post.objects.visible_to(viewer, hidden_author_ids=set())
    # Follows of inactive accounts do not count (as on profiles). Said as "not one of the few
    # inactive accounts" (hashed once) rather than joined per follow: a popular account's
    # hundred thousand followers are then counted from the index alone (0.5 s -> ms).
    inactive = User.objects.filter(is_active=False).values("id")
    annotations: dict[str, Any] = {
        "followers_count": count(Follow.objects.exclude(follower_id__in=inactive), "followee"),
        "following_count": count(Follow.objects.exclude(followee_id__in=inactive), "follower"),
        "posts_count": count(visible_posts, "author"),
    }
    if viewer_id:
        annotations |= {
            "viewer_follows": Exists(
                Follow.objects.filter(follower_id=viewer_id, followee_id=OuterRef("pk"))
            ),
            "viewer_requested": Exists(
                FollowRequest.objects.filter(requester_id=viewer_id, target_id=OuterRef("pk"))
            ),
            "viewer_mutes": Exists(
                Mute.objects.filter(muter_id=viewer_id, muted_id=OuterRef("pk"))
            ),
        }
    with transaction.atomic():  # the backend may set a matching threshold for this query
        found = get_backend().people_filter(users, q)
        if cursor is not None:
            found = found.filter(Q(score__lt=cursor[0]) | Q(score=cursor[0], id__lt=cursor[1]))
        scored = list(found.order_by("-score", "-id").values_list("id", "score")[: limit + 1])
    more = len(scored) > limit
    scored = scored[:limit]
    # The counts for the page's people only (a second query): counted in the first, they would
    # be counted for every match before the sort (a popular name: 0.7 s at 10,000 people).
    profiles = User.objects.filter(id__in=[pk for pk, _ in scored]).annotate(**annotations)
    by_id = {user.pk: user for user in profiles}
    rows = []
    for pk, score in scored:
        if pk in by_id:  # gone between the two queries: left out
            by_id[pk].score = score
            rows.append(by_id[pk])
    for user in rows:
        if not viewer_id or user.pk == viewer_id:
            user.viewer_follows = user.viewer_mutes = False
            user.follow_state = "none"
        else:
            user.follow_state = (
                "following"
                if user.viewer_follows
                else ("requested" if user.viewer_requested else "none")
            )
    last = rows[-1] if rows else None
    return Page(
        items=rows, next_cursor=_cursor_encode(last.score, last.id) if more and last else None
    )


# --- tags ---------------------------------------------------------------------------------------


def search_tags(*, viewer, q: str, limit: int, cursor: tuple[int, str] | None = None) -> Page:
    """Hashtags starting with ``q`` (a leading ``#`` ignored), most used first, each with the
    number of posts anyone may see that carry it (``TagCount``, recounted every few minutes):
    a tag only on posts some people cannot see is not listed. Items are ``{"tag",
    "posts_count"}``. The same for every viewer: the counts say how much of the public site
    uses a tag, and which posts the viewer gets is the tag page's business (its own rule)."""
    prefix = _tag_prefix(q)
    if not prefix:  # nothing a tag could start with (punctuation only)
        return Page(items=[], next_cursor=None)
    # A range on the key rather than LIKE: the primary key's index serves it whatever the
    # database's collation.
    rows = TagCount.objects.filter(
        tag__gte=prefix, tag__lt=prefix + "\U0010ffff", posts_count__gt=0
    ).values("tag", "posts_count")
    if cursor is not None:
        rows = rows.filter(
            Q(posts_count__lt=cursor[0]) | Q(posts_count=cursor[0], tag__gt=cursor[1])
        )
    items = list(rows.order_by("-posts_count", "tag")[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if items else None
    return Page(
        items=items,
        next_cursor=_cursor_encode(last["posts_count"], last["tag"]) if more and last else None,
    )

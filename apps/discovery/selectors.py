"""Explore and "more like this": what to look at next, through the one visibility rule.

Every list here is bounded and costs a constant number of queries whatever the size of the
site: trending is the public feed's ``sort=trending`` (one index scan on the stored score);
rising creators and popular tags aggregate only a recent window of rows, found by id range
(ids are time-sortable, so "the last 7 days" is a primary-key range, never a table scan); similar
posts take an index-backed candidate set of at most a few hundred posts (shared #tags through
the tag index, shared prompt words through the search index on PostgreSQL, the trending head
for colour) in one query and score them in Python. On SQLite (the embedded default, a small
site) there is no prompt-word candidate query: prompt words are scored among the tagged and
trending candidates.

Blocks and mutes hide people everywhere here, as on feeds; removals, suspensions and private
accounts are the visibility rule's. A hidden prompt never contributes a word, except to its
creator's own "more like this".
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Q

from apps.accounts.models import User
from apps.core.ids import id_for_time
from apps.posts.models import Post, PostTag, Reaction
from apps.posts.selectors import feed_trending, post_get_visible
from apps.posts.text import hashtags
from apps.social.models import Follow
from apps.social.selectors import hidden_author_ids

WINDOW_S = 7 * 24 * 3600  # "recently": rising creators and popular tags
SIMILAR_MAX = 12
CANDIDATES_PER_SOURCE = 200  # per kind of candidate (tags, prompt words)
COLOUR_CANDIDATES = 100  # the trending head, scored by colour alone
AGGREGATE_MAX = 300  # people considered for "rising", per signal

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# Words that say nothing about a picture (English and Indonesian), left out of prompt terms.
_STOP = frozenset(
    [
        "the",
        "and",
        "with",
        "for",
        "from",
        "into",
        "over",
        "under",
        "this",
        "that",
        "these",
        "those",
        "very",
        "some",
        "more",
        "most",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "by",
        "or",
        "as",
        "is",
        "are",
        "was",
        "be",
        "its",
        "it",
        "their",
        "there",
        "here",
        "high",
        "quality",
        "detailed",
        "style",
        "image",
        "picture",
        "photo",
        "render",
        "art",
        "artwork",
        "dan",
        "yang",
        "di",
        "ke",
        "dari",
        "untuk",
        "dengan",
        "pada",
        "ini",
        "itu",
        "atau",
        "sebuah",
        "para",
        "sangat",
        "lebih",
    ]
)


def _viewer_id(viewer) -> int | None:
    return viewer.pk if viewer is not None and viewer.is_authenticated else None


def _window_start_id() -> int:
    return id_for_time(int((time.time() - WINDOW_S) * 1000))


# --- explore ------------------------------------------------------------------------------------


def explore_trending(*, viewer, limit: int = 12):
    """The public feed's trending head (``sort=trending``): its page, with its next cursor."""
    return feed_trending(viewer=viewer, limit=limit, cursor=None)


@dataclass
class RisingCreator:
    user: User
    new_followers: int
    recent_reactions: int
    followers_count: int
    score: float


def explore_creators(*, viewer, limit: int = 12) -> list[RisingCreator]:
    """People gaining followers and reactions fastest in the last week relative to their size.

    Score: (3 * new followers + reactions received on public posts) / (followers they had
    before + 10), so a newcomer whose first posts catch on rises above a large account's steady
    trickle. Public, active accounts only; never the viewer, nor anyone with a block between
    them or whom the viewer mutes. Five queries, each over the window's rows at most.
    """
    start = _window_start_id()
    viewer_id = _viewer_id(viewer)
    hidden = hidden_author_ids(viewer_id=viewer_id)
    follows = dict(
        Follow.objects.filter(id__gte=start, follower__is_active=True)
        .values("followee_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("followee_id", "n")[:AGGREGATE_MAX]
    )
    reactions = dict(
        Reaction.objects.filter(
            id__gte=start,
            user__is_active=True,
            post__visibility=Post.Visibility.PUBLIC,
            post__removed_at__isnull=True,
        )
        .exclude(user_id=F("post__author_id"))  # one's own reactions do not lift one
        .values("post__author_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("post__author_id", "n")[:AGGREGATE_MAX]
    )
    ids = (set(follows) | set(reactions)) - hidden - {viewer_id}
    if not ids:
        return []
    users = User.objects.filter(
        id__in=ids, is_active=True, is_private=False, deletion_requested_at__isnull=True
    )
    totals = dict(
        Follow.objects.filter(followee_id__in=ids, follower__is_active=True)
        .values("followee_id")
        .annotate(n=Count("id"))
        .values_list("followee_id", "n")
    )
    out = []
    for user in users:
        nf, rr = follows.get(user.id, 0), reactions.get(user.id, 0)
        total = totals.get(user.id, 0)
        before = max(total - nf, 0)
        out.append(RisingCreator(user, nf, rr, total, (3 * nf + rr) / (before + 10)))
    out.sort(key=lambda c: (-c.score, -c.user.id))
    return out[:limit]


def explore_tags(*, viewer, limit: int = 20) -> list[dict]:
    """The #tags of the most public posts in the last week that the viewer may see (blocks and
    mutes left out), with those counts: ``[{tag, posts_count}]``, most used first."""
    hidden = hidden_author_ids(viewer_id=_viewer_id(viewer))
    visible = (
        Post.objects.visible_to(viewer, hidden_author_ids=hidden)
        .filter(visibility=Post.Visibility.PUBLIC, id__gte=_window_start_id())
        .values("id")
    )
    rows = (
        PostTag.objects.filter(post_id__in=visible)
        .values("tag")
        .annotate(posts_count=Count("post_id"))
        .order_by("-posts_count", "tag")[:limit]
    )
    return [{"tag": r["tag"], "posts_count": r["posts_count"]} for r in rows]


# --- more like this -----------------------------------------------------------------------------


def prompt_terms(text: str, *, limit: int = 16) -> list[str]:
    """The words of a prompt that describe its picture (lower case, distinct, in order)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall((text or "").lower()):
        if word not in _STOP:
            seen.setdefault(word, None)
        if len(seen) >= limit:
            break
    return list(seen)


def _rgb(colour: str) -> tuple[int, int, int] | None:
    if not colour or len(colour) != 7 or colour[0] != "#":
        return None
    try:
        return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
    except ValueError:
        return None


def colour_closeness(a: str, b: str) -> float:
    """1 for the same colour, 0 at a quarter of the RGB cube's diagonal apart or more."""
    x, y = _rgb(a), _rgb(b)
    if x is None or y is None:
        return 0.0
    distance = math.dist(x, y)
    return max(0.0, 1.0 - distance / (0.25 * math.dist((0, 0, 0), (255, 255, 255))))


def _prompt_shown(post: Post, prompt: str | None, viewer_id: int | None) -> str:
    if not prompt or (post.hide_prompt and post.author_id != viewer_id):
        return ""
    return prompt


# Weights of the three likenesses; colour alone must be close to count (COLOUR_ONLY_MIN).
TERM_WEIGHT, TAG_WEIGHT, COLOUR_WEIGHT = 3.0, 2.0, 1.0
COLOUR_ONLY_MIN = 0.85


def posts_similar(*, post_id: int, viewer, limit: int = SIMILAR_MAX) -> list[Post]:
    """Posts like ``post_id`` that the viewer may see: shared prompt words, #tags and colour.

    404 when the viewer may not see the post itself. The post, and posts of anyone the viewer
    blocks, is blocked by or mutes, are never in it. A hidden prompt (the source's or a
    candidate's) adds no word unless the viewer made it. Four queries.
    """
    limit = max(1, min(limit, SIMILAR_MAX))
    viewer_id = _viewer_id(viewer)
    source = post_get_visible(post_id=post_id, viewer=viewer)
    source_prompt = (
        Post.objects.filter(id=source.id).values_list("asset__job__prompt", flat=True).first()
    )
    terms = set(prompt_terms(_prompt_shown(source, source_prompt, viewer_id)))
    tags = set(hashtags(source.caption))
    colour = source.asset.placeholder
    hidden = hidden_author_ids(viewer_id=viewer_id)

    # The candidates: bounded, index-backed subqueries, fetched in the one query below.
    candidates = Q(
        id__in=Post.objects.filter(visibility=Post.Visibility.PUBLIC)
        .order_by("-trend_score", "-id")
        .values("id")[:COLOUR_CANDIDATES]
    )
    if tags:
        candidates |= Q(
            id__in=PostTag.objects.filter(tag__in=tags)
            .order_by("-post_id")
            .values("post_id")[:CANDIDATES_PER_SOURCE]
        )
    if terms and connection.vendor == "postgresql":
        from apps.search.backends import get_backend

        # The search index's public vector (and the viewer's own hidden prompts, nobody
        # else's): a hidden prompt's words cannot make a post a candidate for others.
        match = get_backend().post_match(" or ".join(sorted(terms)), viewer_id)
        candidates |= Q(
            id__in=Post.objects.filter(match).order_by("-id").values("id")[:CANDIDATES_PER_SOURCE]
        )
    posts = (
        Post.objects.visible_to(viewer, hidden_author_ids=hidden)
        .filter(candidates)
        .exclude(id=source.id)
        .select_related("author", "asset")
        .annotate(
            prompt_text=F("asset__job__prompt"),
            asset_provenance_id=F("asset__provenance__id"),
            remix_of_deleted_at=F("remix_of__author__deletion_requested_at"),
        )
    )
    if getattr(viewer, "sensitive_media", None) == "hide":
        posts = posts.exclude(Q(sensitive=True) & ~Q(author_id=viewer_id))

    scored = []
    for post in posts[: COLOUR_CANDIDATES + 2 * CANDIDATES_PER_SOURCE]:
        words = set(prompt_terms(_prompt_shown(post, post.prompt_text, viewer_id)))
        shared_terms = len(terms & words) / len(terms | words) if terms and words else 0.0
        their_tags = set(hashtags(post.caption))
        shared_tags = len(tags & their_tags) / len(tags | their_tags) if tags else 0.0
        closeness = colour_closeness(colour, post.asset.placeholder)
        if not shared_terms and not shared_tags and closeness < COLOUR_ONLY_MIN:
            continue
        score = TERM_WEIGHT * shared_terms + TAG_WEIGHT * shared_tags + COLOUR_WEIGHT * closeness
        post.similarity = round(score, 4)
        scored.append(post)
    scored.sort(key=lambda p: (-p.similarity, -p.id))
    return scored[:limit]

"""Reads of posts and feeds, every one through ``Post.objects.visible_to``."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams, paginate
from apps.posts.models import Post, Reaction
from apps.social.models import Follow


def _posts(viewer) -> QuerySet[Post]:
    return Post.objects.visible_to(viewer).select_related("author", "asset")


def post_get_visible(*, post_id: int, viewer) -> Post:
    """A post the viewer may see; one they may not answers exactly like a missing one."""
    post = _posts(viewer).filter(id=post_id).first()
    if post is None:
        raise ApplicationError("not_found", "Not found.")
    return post


def feed_home(*, viewer, params: PageParams) -> Page:
    """Posts of the people the viewer follows, and their own, newest first."""
    following = Follow.objects.filter(follower_id=viewer.pk).values("followee_id")
    posts = _posts(viewer).filter(Q(author_id=viewer.pk) | Q(author_id__in=following))
    return paginate(posts, params)


def feed_public(*, viewer, params: PageParams) -> Page:
    return paginate(_posts(viewer).filter(visibility=Post.Visibility.PUBLIC), params)


def feed_user(*, author, viewer, params: PageParams) -> Page:
    return paginate(_posts(viewer).filter(author=author), params)


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

"""Reads of collections, every post in them through ``Post.objects.visible_to(viewer)``.

A list of collections is two queries whatever its length: the collections with each one's
count and cover (the first post the viewer may see) as subqueries, then the cover posts with
their assets. One collection's page of posts is one query, ordered by the owner's positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.collections.models import Collection, CollectionItem
from apps.core.exceptions import ApplicationError
from apps.core.pagination import Page, PageParams
from apps.media.serializers import asset_url
from apps.posts.models import Post


def _viewer_id(viewer) -> int | None:
    return viewer.pk if viewer is not None and viewer.is_authenticated else None


def _visible_items(viewer) -> QuerySet[CollectionItem]:
    return CollectionItem.objects.filter(post_id__in=Post.objects.visible_to(viewer).values("id"))


def _annotated(collections: QuerySet[Collection], viewer) -> QuerySet[Collection]:
    visible = _visible_items(viewer).filter(collection_id=OuterRef("pk"))
    count = visible.order_by().values("collection_id").annotate(n=Count("id")).values("n")
    cover = visible.order_by("position").values("post_id")[:1]
    return collections.select_related("owner").annotate(
        posts_count=Coalesce(Subquery(count, output_field=IntegerField()), Value(0)),
        cover_post_id=Subquery(cover),
    )


@dataclass(frozen=True)
class Cover:
    post_id: int
    url: str
    placeholder: str
    alt: str


def _with_covers(collections: list[Collection]) -> list[Collection]:
    ids = [c.cover_post_id for c in collections if c.cover_post_id]
    rows = Post.objects.filter(id__in=ids).select_related("asset") if ids else []
    posts = {p.id: p for p in rows}
    for collection in collections:
        post = posts.get(collection.cover_post_id)
        collection.cover = None
        if post is not None:
            asset = post.asset
            variant = "thumb" if asset.variants.get("thumb") else "original"
            if asset.kind == "video":
                variant = "poster" if asset.variants.get("poster") else None
            collection.cover = Cover(
                post_id=post.id,
                url=asset_url(asset, variant) if variant else "",
                placeholder=asset.placeholder or "#222222",
                alt=(post.alt_text or post.caption or "A saved post")[:120],
            )
    return collections


def collection_list_mine(*, owner, params: PageParams) -> Page:
    """The owner's collections, newest first, with counts and covers as the owner sees them."""
    rows = _annotated(Collection.objects.filter(owner_id=owner.pk), owner)
    if params.cursor is not None:
        rows = rows.filter(id__lt=params.cursor)
    if params.since is not None:
        rows = rows.filter(id__gt=params.since)
    items = list(rows.order_by("-id")[: params.limit + 1])
    more = len(items) > params.limit
    items = _with_covers(items[: params.limit])
    return Page(items=items, next_cursor=str(items[-1].id) if more else None)


def _shelf_open(*, owner, viewer_id: int | None) -> bool:
    """Whether ``owner``'s public collections show to this viewer: a private account's only to
    its followers (and itself), as its posts are."""
    if not owner.is_private or owner.pk == viewer_id:
        return True
    from apps.social.models import Follow

    return (
        bool(viewer_id)
        and Follow.objects.filter(follower_id=viewer_id, followee_id=owner.pk).exists()
    )


def collection_list_public(*, owner, viewer, params: PageParams) -> Page:
    """``owner``'s public collections as ``viewer`` sees them (counts through their eyes);
    with a block between them, as if the owner did not exist."""
    from apps.social.selectors import blocked_either_way

    viewer_id = _viewer_id(viewer)
    if viewer_id and blocked_either_way(a_id=viewer_id, b_id=owner.pk):
        raise ApplicationError("not_found", "Not found.")
    if not _shelf_open(owner=owner, viewer_id=viewer_id):
        return Page(items=[], next_cursor=None)
    rows = _annotated(
        Collection.objects.filter(owner_id=owner.pk, visibility=Collection.Visibility.PUBLIC),
        viewer,
    )
    if params.cursor is not None:
        rows = rows.filter(id__lt=params.cursor)
    items = list(rows.order_by("-id")[: params.limit + 1])
    more = len(items) > params.limit
    items = _with_covers(items[: params.limit])
    return Page(items=items, next_cursor=str(items[-1].id) if more else None)


def collection_get(*, collection_id: int, viewer) -> Collection:
    """A collection the viewer may see: their own, or someone's public one whose owner is
    active and not blocked either way. Any other answers exactly like a missing one."""
    from apps.social.selectors import blocked_either_way

    viewer_id = _viewer_id(viewer)
    rows = _annotated(Collection.objects.filter(id=collection_id), viewer)
    collection = rows.first()
    if collection is None:
        raise ApplicationError("not_found", "Not found.")
    if collection.owner_id != viewer_id and (
        collection.visibility != Collection.Visibility.PUBLIC
        or not collection.owner.is_active
        or (viewer_id and blocked_either_way(a_id=viewer_id, b_id=collection.owner_id))
        or not _shelf_open(owner=collection.owner, viewer_id=viewer_id)
    ):
        raise ApplicationError("not_found", "Not found.")
    return _with_covers([collection])[0]


def collection_posts(*, collection: Collection, viewer, params: PageParams) -> Page:
    """The posts of a collection the viewer may see, in the owner's order. The cursor is the
    last item's position (``collection_position``)."""
    # One filter() call, so the position condition and the annotation use the one join.
    where = {"collection_items__collection_id": collection.id}
    if params.cursor is not None:
        where["collection_items__position__gt"] = params.cursor
    posts = (
        Post.objects.visible_to(viewer)
        .filter(**where)
        .select_related("author", "asset")
        .annotate(
            collection_position=F("collection_items__position"),
            asset_provenance_id=F("asset__provenance__id"),
            remix_of_deleted_at=F("remix_of__author__deletion_requested_at"),
        )
    )
    items = list(posts.order_by("collection_position", "id")[: params.limit + 1])
    more = len(items) > params.limit
    items = items[: params.limit]
    return Page(items=items, next_cursor=str(items[-1].collection_position) if more else None)


def collection_visible_post_ids(*, collection: Collection, viewer) -> list[int]:
    """Every post id of the collection the viewer sees, in order (for moving one)."""
    return list(
        _visible_items(viewer)
        .filter(collection=collection)
        .order_by("position", "id")
        .values_list("post_id", flat=True)
    )


def collections_saving(*, owner, post_id: int) -> set[int]:
    """Ids of the owner's collections that hold ``post_id`` (the save menu's ticks)."""
    return set(
        CollectionItem.objects.filter(collection__owner_id=owner.pk, post_id=post_id).values_list(
            "collection_id", flat=True
        )
    )

"""Writes of collections. Each service checks first (ownership, visibility, limits), then
writes; a collection that is not the caller's answers exactly like a missing one (404)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.accounts.models import User
from apps.collections.models import (
    COLLECTIONS_MAX,
    NAME_MAX,
    POSTS_MAX,
    Collection,
    CollectionItem,
)
from apps.core.exceptions import ApplicationError
from apps.posts.models import Post


def _not_found() -> ApplicationError:
    return ApplicationError("not_found", "Not found.")


def _name_clean(name: str) -> str:
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= NAME_MAX:
        raise ApplicationError(
            "invalid",
            "Some fields are not valid.",
            fields={"name": [f"A name of 1 to {NAME_MAX} characters is required."]},
        )
    return name


def _visibility_clean(visibility: str) -> str:
    if visibility not in Collection.Visibility.values:
        raise ApplicationError(
            "invalid",
            "Some fields are not valid.",
            fields={"visibility": ['Either "private" or "public".']},
        )
    return visibility


def _name_taken() -> ApplicationError:
    return ApplicationError(
        "conflict",
        "You already have a collection with that name.",
        fields={"name": ["You already have a collection with that name."]},
    )


def _own_locked(*, user: User, collection_id: int) -> Collection:
    """The caller's collection, locked for the rest of the transaction (positions, counts)."""
    collection = (
        Collection.objects.select_for_update().filter(id=collection_id, owner_id=user.pk).first()
    )
    if collection is None:
        raise _not_found()
    return collection


def collection_create(*, owner: User, name: str, visibility: str = "private") -> Collection:
    """A new, empty collection (private unless asked otherwise); at most ``COLLECTIONS_MAX``
    per person and one name once per person (409)."""
    name = _name_clean(name)
    visibility = _visibility_clean(visibility)
    with transaction.atomic():
        # The owner's row serialises concurrent creates, so the limit holds exactly.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        if Collection.objects.filter(owner_id=owner.pk).count() >= COLLECTIONS_MAX:
            raise ApplicationError(
                "conflict", f"You have {COLLECTIONS_MAX} collections, the most one can keep."
            )
        try:
            with transaction.atomic():
                return Collection.objects.create(owner=owner, name=name, visibility=visibility)
        except IntegrityError as e:
            raise _name_taken() from e


def collection_update(
    *,
    user: User,
    collection_id: int,
    name: str | None = None,
    visibility: str | None = None,
) -> Collection:
    """Rename a collection or change who sees it."""
    if name is not None:
        name = _name_clean(name)
    if visibility is not None:
        visibility = _visibility_clean(visibility)
    with transaction.atomic():
        collection = _own_locked(user=user, collection_id=collection_id)
        if name is not None:
            collection.name = name
        if visibility is not None:
            collection.visibility = visibility
        try:
            with transaction.atomic():
                collection.save(update_fields=["name", "visibility", "updated_at"])
        except IntegrityError as e:
            raise _name_taken() from e
    return collection


def collection_delete(*, user: User, collection_id: int) -> None:
    """Delete a collection (the posts in it stay where they are)."""
    deleted, _ = Collection.objects.filter(id=collection_id, owner_id=user.pk).delete()
    if not deleted:
        raise _not_found()


def collection_post_add(*, user: User, collection_id: int, post_id: int) -> None:
    """Save a post the caller may see at the end of their collection; saving it again changes
    nothing. A post they may not see answers 404, like a missing one."""
    with transaction.atomic():
        collection = _own_locked(user=user, collection_id=collection_id)
        if not Post.objects.visible_to(user).filter(id=post_id).exists():
            raise _not_found()
        items = CollectionItem.objects.filter(collection=collection)
        if items.filter(post_id=post_id).exists():
            return
        if items.count() >= POSTS_MAX:
            raise ApplicationError(
                "conflict", f"A collection holds at most {POSTS_MAX} posts; this one is full."
            )
        last = items.aggregate(last=Max("position"))["last"] or 0
        CollectionItem.objects.create(collection=collection, post_id=post_id, position=last + 1)
        collection.save(update_fields=["updated_at"])


def collection_post_remove(*, user: User, collection_id: int, post_id: int) -> None:
    """Take a post out of the caller's collection (also one they can no longer see)."""
    with transaction.atomic():
        collection = _own_locked(user=user, collection_id=collection_id)
        deleted, _ = CollectionItem.objects.filter(collection=collection, post_id=post_id).delete()
        if not deleted:
            raise _not_found()
        collection.save(update_fields=["updated_at"])


def collection_order_set(*, user: User, collection_id: int, post_ids: list[int]) -> None:
    """Put the listed posts first, in that order; the others follow in their current order
    (so a client may send only the posts it shows). Every id must be in the collection, once."""
    if len(set(post_ids)) != len(post_ids):
        raise ApplicationError(
            "invalid", "Some fields are not valid.", fields={"post_ids": ["Each post once."]}
        )
    with transaction.atomic():
        collection = _own_locked(user=user, collection_id=collection_id)
        items = list(CollectionItem.objects.filter(collection=collection).order_by("position"))
        by_post = {item.post_id: item for item in items}
        unknown = [pid for pid in post_ids if pid not in by_post]
        if unknown:
            raise ApplicationError(
                "invalid",
                "Some fields are not valid.",
                fields={"post_ids": [f"Not in this collection: {', '.join(map(str, unknown))}."]},
            )
        listed = set(post_ids)
        order = [by_post[pid] for pid in post_ids] + [i for i in items if i.post_id not in listed]
        changed = []
        for position, item in enumerate(order, start=1):
            if item.position != position:
                item.position = position
                changed.append(item)
        CollectionItem.objects.bulk_update(changed, ["position"], batch_size=500)
        collection.save(update_fields=["updated_at"])


def collection_post_move(*, user: User, collection_id: int, post_id: int, offset: int) -> None:
    """Move a post ``offset`` places among the posts the caller sees (-1: up, +1: down), for
    the page's up and down buttons. Past either end it stays where it is. Saved posts the
    caller can no longer see move behind the others (they are shown to nobody in that order)."""
    from apps.collections.selectors import collection_visible_post_ids

    with transaction.atomic():
        collection = _own_locked(user=user, collection_id=collection_id)
        shown = collection_visible_post_ids(collection=collection, viewer=user)
        if post_id not in shown:
            raise _not_found()
        index = shown.index(post_id)
        target = min(max(index + offset, 0), len(shown) - 1)
        shown.insert(target, shown.pop(index))
        collection_order_set(user=user, collection_id=collection.id, post_ids=shown)

"""Writes of posts and reactions."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError
from apps.media.models import Asset
from apps.posts.models import REACTION_KINDS, Post, Reaction
from apps.posts.selectors import post_get_visible
from apps.realtime import groups


def post_publish(
    *,
    author: User,
    asset_id: int,
    caption: str = "",
    visibility: str,
    remix_of: int | None = None,
    allow_remix: bool = True,
    training_use: bool = False,
    sensitive: bool = False,
    hide_prompt: bool = False,
) -> Post:
    """Publish one of the author's own assets. Followers get it live after commit (feed queue)."""
    asset = Asset.objects.filter(id=asset_id, owner=author).first()
    if asset is None:  # someone else's asset answers like a missing one
        raise ApplicationError(
            "not_found", "No such asset in your Library.", fields={"asset_id": ["Not found."]}
        )
    if visibility not in Post.Visibility.values:
        raise ApplicationError(
            "invalid", "Some fields are not valid.", fields={"visibility": ["?"]}
        )
    parent = None
    if remix_of is not None:
        parent = Post.objects.visible_to(author).filter(id=remix_of).first()
        if parent is None:
            raise ApplicationError(
                "not_found",
                "The post you remix was not found.",
                fields={"remix_of": ["Not found."]},
            )
        if not parent.allow_remix:
            raise ApplicationError("forbidden", "The author does not allow remixes of that post.")
    with transaction.atomic():
        post = Post.objects.create(
            author=author,
            asset=asset,
            caption=caption.strip(),
            visibility=visibility,
            remix_of=parent,
            allow_remix=allow_remix,
            training_use=training_use,
            sensitive=sensitive,
            hide_prompt=hide_prompt,
        )
        if parent is not None:
            Post.objects.filter(id=parent.id).update(remix_count=F("remix_count") + 1)
        from apps.posts.tasks import fanout_post_created

        transaction.on_commit(lambda: fanout_post_created.delay(post.id))
    return post


def post_delete(*, user: User, post_id: int) -> None:
    """Delete one's own post; it disappears from every feed and open page at once."""
    post = post_get_visible(post_id=post_id, viewer=user)
    if post.author_id != user.pk:
        raise ApplicationError("forbidden", "Only the author can delete a post.")
    with transaction.atomic():
        if post.remix_of_id:
            Post.objects.filter(id=post.remix_of_id, remix_count__gt=0).update(
                remix_count=F("remix_count") - 1
            )
        post.delete()
        from apps.posts.tasks import fanout_post_deleted

        transaction.on_commit(
            lambda: fanout_post_deleted.delay(post_id, post.author_id, post.visibility)
        )


def _check_kind(kind: str) -> None:
    if kind not in REACTION_KINDS:
        raise ApplicationError(
            "invalid",
            "Some fields are not valid.",
            fields={"kind": [f"Choose from {', '.join(REACTION_KINDS)}."]},
        )


def reaction_add(*, user: User, post_id: int, kind: str) -> Post:
    """React to a post the user may see. Reacting again with the same kind changes nothing."""
    _check_kind(kind)
    post = post_get_visible(post_id=post_id, viewer=user)
    try:
        with transaction.atomic():
            Reaction.objects.create(user=user, post=post, kind=kind)
            Post.objects.filter(id=post.id).update(**{f"{kind}_count": F(f"{kind}_count") + 1})
            _announce_reactions(post.id)
    except IntegrityError:
        pass  # already reacted: a no-op
    post.refresh_from_db()
    return post


def reaction_remove(*, user: User, post_id: int, kind: str) -> Post:
    _check_kind(kind)
    post = post_get_visible(post_id=post_id, viewer=user)
    with transaction.atomic():
        deleted, _ = Reaction.objects.filter(user=user, post=post, kind=kind).delete()
        if deleted:
            Post.objects.filter(id=post.id).update(**{f"{kind}_count": F(f"{kind}_count") - 1})
            _announce_reactions(post.id)
    post.refresh_from_db()
    return post


def _announce_reactions(post_id: int) -> None:
    """Send the post's fresh counts, read after commit so concurrent reactions all show."""

    def send() -> None:
        post = Post.objects.filter(id=post_id).only(*(f"{k}_count" for k in REACTION_KINDS)).first()
        if post is None:
            return
        from apps.realtime.events import event_message, send_now

        send_now(
            groups.post_group(post_id),
            event_message(
                "reactions.updated",
                f"post:{post_id}",
                {"post_id": str(post_id), "reactions": post.reactions},
            ),
        )

    transaction.on_commit(send)

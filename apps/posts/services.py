"""Writes of posts, reactions and comments."""

from __future__ import annotations

import logging

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest, Log
from django.utils.translation import gettext_lazy

from apps.accounts.models import User
from apps.core import outbox
from apps.core.exceptions import ApplicationError
from apps.core.ids import EPOCH_MS, new_id
from apps.media.models import Asset
from apps.posts.alt import (
    alt_text_check_hidden,
    alt_text_clean,
    alt_texts_clear_quoting,
    prompt_of,
)
from apps.posts.models import REACTION_KINDS, Comment, Post, PostTag, Reaction
from apps.posts.selectors import comment_get, post_get_visible, remix_parent_check
from apps.posts.text import hashtags, mentions
from apps.realtime import groups
from apps.realtime.events import publish_on_commit
from apps.search import services as search

logger = logging.getLogger(__name__)

# Trending: ten times the engagement is worth this many seconds of freshness.
TREND_DECAY_S = 45_000
REMIX_WEIGHT = 3


def trend_base(post_id: int) -> float:
    """The time part of a post's trending score, from its time-sortable id."""
    return ((post_id >> 22) + EPOCH_MS) / 1000 / TREND_DECAY_S


def trend_score(post: Post) -> float:
    """The trending score from a post's counts (used at creation and by the seed command)."""
    import math

    engagement = sum(post.reactions.values()) + REMIX_WEIGHT * post.remix_count
    return math.log10(1 + engagement) + trend_base(post.id)


def _counts_update(post_id: int, **deltas: int) -> None:
    """Change counts by ``deltas`` and the trending score with them, in one UPDATE.

    Every expression reads the row's old values under the row lock the UPDATE takes, so
    concurrent reactions each count exactly once and the score matches the counts.
    """
    fields = [f"{kind}_count" for kind in REACTION_KINDS] + ["remix_count"]
    engagement = Value(1)
    for name in fields:
        weight = REMIX_WEIGHT if name == "remix_count" else 1
        engagement = engagement + (F(name) + deltas.get(name, 0)) * weight
    changes = {name: F(name) + delta for name, delta in deltas.items()}
    changes["trend_score"] = Log(10, engagement) + Value(trend_base(post_id))
    Post.objects.filter(id=post_id).update(**changes)


def post_publish(
    *,
    author: User,
    asset_id: int,
    caption: str = "",
    visibility: str,
    remix_of: int | None = None,
    allow_remix: bool = True,
    training_use: bool | None = None,
    sensitive: bool = False,
    hide_prompt: bool = False,
    alt_text: str = "",
) -> Post:
    """Publish one of the author's own assets. Followers get it live after commit (feed queue).

    A remix names its parent in ``remix_of``, or inherits it from the generation that made the
    asset; the parent must be visible to the author and allow remixes (403 otherwise). Tags in the
    caption feed the hashtag pages; mentioned people who can see the post are notified.
    """
    asset = (
        Asset.objects.filter(id=asset_id, owner=author, removed_at__isnull=True)
        .select_related("job")
        .first()
    )
    if asset is None:  # someone else's asset answers like a missing one
        raise ApplicationError(
            "not_found",
            gettext_lazy("No such asset in your Library."),
            fields={"asset_id": ["Not found."]},
        )
    if visibility not in Post.Visibility.values:
        raise ApplicationError(
            "invalid", gettext_lazy("Some fields are not valid."), fields={"visibility": ["?"]}
        )
    alt_text = alt_text_clean(alt_text)  # 400 before anything is written
    alt_text_check_hidden(
        alt_text=alt_text, prompt=prompt_of(asset), author_id=author.pk, hide_prompt=hide_prompt
    )
    from apps.moderation.services import publish_check

    publish_check(asset=asset)  # protected names: refused, or held until a moderator clears it
    parent = None
    if remix_of is None and asset.job is not None:
        inherited = (asset.job.params or {}).get("remix_of")
        remix_of = int(inherited) if inherited else None
    if remix_of is not None:
        parent = remix_parent_check(post_id=remix_of, viewer=author)
    from apps.consent import services as consent
    from apps.notifications import services as notifications

    # Omitted: the author's account default; a remix never allows more than its parent does.
    training_use = consent.training_use_for_post(
        author=author, requested=training_use, parent=parent
    )
    with transaction.atomic():
        post_id = new_id()
        post = Post.objects.create(
            id=post_id,
            trend_score=trend_base(post_id),
            author=author,
            asset=asset,
            caption=caption.strip(),
            alt_text=alt_text,
            visibility=visibility,
            remix_of=parent,
            allow_remix=allow_remix,
            training_use=training_use,
            sensitive=sensitive,
            hide_prompt=hide_prompt,
        )
        from apps.posts import fanout

        # Live delivery starts reading the audience now, on its own thread; it sends only
        # after commit (``fanout``).
        prepared = fanout.post_created_prepare(post=post)
        consent.post_published(post=post)  # likenesses re-checked (422), people depicted told
        PostTag.objects.bulk_create(
            [PostTag(post=post, tag=tag) for tag in hashtags(post.caption)], ignore_conflicts=True
        )
        search.post_index(post_id=post.id)  # caption, tags and prompt become searchable
        if parent is not None:
            _counts_update(parent.id, remix_count=1)
            notifications.notification_add(
                recipient=parent.author, actor=author, kind="remix", post=parent
            )
        _notify_mentions(post, author, post.caption)
        from apps.posts.tasks import fanout_post_created

        # Owed in this transaction; after commit a small audience is served from this process
        # and the row marked done, anything else goes to the feed queue (``fanout``).
        owed = outbox.record(fanout_post_created, post.id)
        transaction.on_commit(
            lambda: fanout.post_created_after_commit(prepared=prepared, owed=owed)
        )
    return post


def post_update(
    *,
    user: User,
    post_id: int,
    hide_prompt: bool | None = None,
    alt_text: str | None = None,
) -> Post:
    """The author changes a published post's settings: whether its prompt is hidden, and its
    alt text (``None``: unchanged; ``""``: cleared, viewers then get the generic alternative).

    A post the user may not see is not found (404); one they see but did not write is refused
    (403), as for deleting. Bad alt text is refused (400) and nothing changes. Both take effect at
    the next read everywhere (no page, feed item or event carries the prompt to anyone but the
    author), so nothing needs announcing.
    """
    post = post_get_visible(post_id=post_id, viewer=user)
    if post.author_id != user.pk:
        raise ApplicationError("forbidden", gettext_lazy("Only the author can change a post."))
    changed = []
    prompt = prompt_of(post.asset)
    hiding = hide_prompt is True and not post.hide_prompt
    if alt_text is not None:
        alt_text = alt_text_clean(alt_text)
        if alt_text != post.alt_text:
            alt_text_check_hidden(
                alt_text=alt_text,
                prompt=prompt,
                author_id=user.pk,
                hide_prompt=post.hide_prompt if hide_prompt is None else hide_prompt,
            )
            post.alt_text = alt_text
            changed.append("alt_text")
    if hide_prompt is not None and hide_prompt != post.hide_prompt:
        post.hide_prompt = hide_prompt
        changed.append("hide_prompt")
    if changed:
        with transaction.atomic():
            post.save(update_fields=changed)
            # Alt texts repeating the prompt would show it: the generic alternative instead.
            if hiding and post.id in alt_texts_clear_quoting(author_id=user.pk, prompt=prompt):
                post.alt_text = ""
            search.post_index(post_id=post.id)  # a hidden prompt leaves the public vector
    return post


def post_delete(*, user: User, post_id: int) -> None:
    """Delete one's own post; it disappears from every feed and open page at once."""
    post = post_get_visible(post_id=post_id, viewer=user)
    if post.author_id != user.pk:
        raise ApplicationError("forbidden", gettext_lazy("Only the author can delete a post."))
    with transaction.atomic():
        if (
            post.remix_of_id
            and Post.objects.filter(id=post.remix_of_id, remix_count__gt=0).exists()
        ):
            _counts_update(post.remix_of_id, remix_count=-1)
        search.post_unindex(post_id=post.id)
        post.delete()
        from apps.posts.tasks import fanout_post_deleted

        outbox.send_on_commit(fanout_post_deleted, post_id, post.author_id, post.visibility)


def _check_kind(kind: str) -> None:
    if kind not in REACTION_KINDS:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Some fields are not valid."),
            fields={"kind": [f"Choose from {', '.join(REACTION_KINDS)}."]},
        )


def reaction_add(*, user: User, post_id: int, kind: str) -> Post:
    """React to a post the user may see. Reacting again with the same kind changes nothing.

    The post's author is notified (coalesced per post while unread). Reaction, counts and
    notification commit together, and the counts are read before the commit: once the reaction
    has committed, nothing is left that could fail the request.
    """
    from apps.notifications import services as notifications

    _check_kind(kind)
    post = post_get_visible(post_id=post_id, viewer=user)
    with transaction.atomic():
        try:
            with transaction.atomic():
                Reaction.objects.create(user=user, post=post, kind=kind)
        except IntegrityError:
            pass  # already reacted: a no-op
        else:
            _counts_update(post.id, **{f"{kind}_count": 1})
            _announce_reactions(post.id)
            notifications.notification_add(
                recipient=post.author, actor=user, kind="reaction", post=post
            )
        post.refresh_from_db()
    return post


def reaction_remove(*, user: User, post_id: int, kind: str) -> Post:
    _check_kind(kind)
    post = post_get_visible(post_id=post_id, viewer=user)
    with transaction.atomic():
        deleted, _ = Reaction.objects.filter(user=user, post=post, kind=kind).delete()
        if deleted:
            _counts_update(post.id, **{f"{kind}_count": -1})
            _announce_reactions(post.id)
    post.refresh_from_db()
    return post


def _announce_reactions(post_id: int) -> None:
    """Send the post's fresh counts, read after commit so concurrent reactions all show."""

    def send() -> None:
        try:
            counts = (f"{k}_count" for k in REACTION_KINDS)
            post = Post.objects.filter(id=post_id).only(*counts).first()
        except DatabaseError as e:  # gone since the commit: the next reaction or a reload shows
            logger.warning("reaction counts of post %s not sent live, no database: %s", post_id, e)
            return
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

    transaction.on_commit(send, robust=True)  # a hint: its failure must not fail the write


def _notify_mentions(post: Post, actor: User, text: str, *, comment: bool = False) -> None:
    """Notify the people named with @ who may see the post (others are not told it exists)."""
    from apps.notifications import services as notifications

    names = [n for n in mentions(text) if n != actor.username.lower()][:20]
    if not names:
        return
    named = Q()
    for name in names:
        named |= Q(username__iexact=name)
    people = User.objects.filter(named, is_active=True)
    for person in people:
        if Post.objects.visible_to(person).filter(id=post.id).exists():
            notifications.notification_add(
                recipient=person, actor=actor, kind="mention", post=post, text=text[:200]
            )


def comment_create(*, user: User, post_id: int, body: str, parent_id: int | None = None) -> Comment:
    """Comment on a post one may see, or reply to a comment on it (replies stay one level deep).

    Nobody comments across a block: on the post of someone with a block between them, the post
    is not found; a reply to a comment by such a person is refused the same way. Sends
    ``comment.created`` to the post's watchers and notifies the post's author and mentions.
    """
    from apps.notifications import services as notifications
    from apps.posts.serializers import CommentOut

    post = post_get_visible(post_id=post_id, viewer=user)
    body = body.strip()
    if not body:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Some fields are not valid."),
            fields={"body": ["Write something."]},
        )
    # The bound lives here, not only in the API's serializer: the site's form and any other
    # caller are held to it too, refused rather than cut short.
    most = Comment._meta.get_field("body").max_length
    if len(body) > most:
        raise ApplicationError(
            "invalid",
            gettext_lazy("Some fields are not valid."),
            fields={"body": [f"Ensure this field has no more than {most} characters."]},
        )
    parent = None
    if parent_id is not None:
        try:
            parent = comment_get(post=post, comment_id=parent_id, viewer=user)
        except ApplicationError as e:
            raise ApplicationError(
                "invalid",
                gettext_lazy("Some fields are not valid."),
                fields={"parent_id": ["Not found."]},
            ) from e
        if parent.parent_id is not None:  # a reply to a reply joins its thread
            parent = Comment.objects.get(id=parent.parent_id)
    with transaction.atomic():
        comment = Comment.objects.create(post=post, author=user, parent=parent, body=body)
        Post.objects.filter(id=post.id).update(comments_count=F("comments_count") + 1)
        comment.reply_list = []
        publish_on_commit(
            groups.post_group(post.id),
            "comment.created",
            f"post:{post.id}",
            {"post_id": str(post.id), "comment": CommentOut(comment).data},
        )
        notifications.notification_add(
            recipient=post.author, actor=user, kind="comment", post=post, text=body[:200]
        )
        _notify_mentions(post, user, body)
    return comment


def comment_delete(*, user: User, post_id: int, comment_id: int) -> None:
    """The comment's author or the post's author deletes a comment (its replies go with it)."""
    post = post_get_visible(post_id=post_id, viewer=user)
    comment = comment_get(post=post, comment_id=comment_id, viewer=user)
    if user.pk not in (comment.author_id, post.author_id):
        raise ApplicationError(
            "forbidden", gettext_lazy("Only its author or the post's author can delete it.")
        )
    with transaction.atomic():
        removed = 1 + Comment.objects.filter(parent=comment).count()
        comment.delete()
        Post.objects.filter(id=post.id).update(
            comments_count=Greatest(F("comments_count") - removed, 0)
        )
        publish_on_commit(
            groups.post_group(post.id),
            "comment.deleted",
            f"post:{post.id}",
            {"post_id": str(post.id), "comment_id": str(comment_id)},
        )

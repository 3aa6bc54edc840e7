"""Live delivery of feed changes to open sockets (run by the ``feed`` queue's tasks).

A new post goes to the ``public`` group when it is public, and to the ``user.<id>`` group of the
author and of each follower the visibility rule lets see it (stream ``home``), but only to those
who are online right now (``apps.realtime.presence``): a creator with 100k followers of whom 1k
have a socket open sends 1k messages, not 100k. Followers are read from the database and asked
about in batches. The event is serialised to JSON once and the same text goes to every group;
each socket only checks the author against its owner's blocks and mutes before forwarding it.

Events are hints: the feed API is the truth, and a client that missed one catches up with
``since=``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from django.conf import settings

from apps.posts.models import Post
from apps.realtime import groups, presence
from apps.realtime.events import prepared_message, send_many, send_now, send_to_users
from apps.social.models import Follow

logger = logging.getLogger(__name__)

BATCH = 5000
# Above this many people online, big creators' followers are checked batch by batch instead.
ONLINE_SIDE_MAX = 50_000


def _followers(author_id: int) -> Iterator[list[int]]:
    """The author's followers in batches, by keyset on the (followee, follower) index."""
    after = 0
    while True:
        batch = list(
            Follow.objects.filter(followee_id=author_id, follower_id__gt=after)
            .order_by("follower_id")
            .values_list("follower_id", flat=True)[:BATCH]
        )
        if not batch:
            return
        yield batch
        if len(batch) < BATCH:
            return
        after = batch[-1]


def _online_followers(author_id: int) -> Iterator[list[int]]:
    """The author's followers who are online, in batches, from whichever side is smaller.

    Most authors have fewer followers than there are people online: their followers are read
    in batches and Redis is asked which are online. A creator with more followers than one
    batch, while fewer than ``ONLINE_SIDE_MAX`` people are online at all, is intersected from the
    other side: the online people are read from Redis and the database keeps those who follow
    (100k followers with 1k online: one Redis read and one query instead of 20 of each).
    """
    batches = _followers(author_id)
    first = next(batches, [])
    if len(first) == BATCH and presence.online_count() <= ONLINE_SIDE_MAX:
        online = presence.online_users()
        for start in range(0, len(online), BATCH):
            found = list(
                Follow.objects.filter(
                    followee_id=author_id, follower_id__in=online[start : start + BATCH]
                ).values_list("follower_id", flat=True)
            )
            if found:
                yield found
        return
    for batch in [first, *batches] if first else []:
        online = presence.online_among(batch)
        if online:
            yield online


def _home_recipients_online(author_id: int, visibility: str) -> Iterator[list[int]]:
    """Batches of the online people whose home feed shows the post: the author, and followers
    unless it is private."""
    yield presence.online_among([author_id])
    if visibility in (Post.Visibility.PUBLIC, Post.Visibility.FOLLOWERS):
        yield from _online_followers(author_id)


def _send_home(author_id: int, visibility: str, message: dict) -> int:
    """To the online recipients: by default one multicast per batch (what every ``user.<id>``
    group would get, as one Redis message); ``REALTIME_FANOUT = "groups"`` sends to each
    group through the channel layer instead (the benchmark compares both)."""
    per_group = getattr(settings, "REALTIME_FANOUT", "multicast") == "groups"
    sent = 0
    for online in _home_recipients_online(author_id, visibility):
        if per_group:
            sent += send_many([groups.user_group(user_id) for user_id in online], message)
        else:
            sent += send_to_users(online, message)
    return sent


def post_created(*, post_id: int) -> int:
    """Send ``post.created``; returns how many groups it went to."""
    from apps.posts.serializers import PostOut

    started = time.monotonic()
    post = (
        Post.objects.select_related("author", "asset")
        .filter(id=post_id, removed_at__isnull=True)
        .first()
    )
    if post is None:  # deleted or taken down before fan-out ran
        return 0
    presence.prune()
    payload = {"post": PostOut(post).data, "cursor": str(post.id)}
    meta = {"author_id": post.author_id}
    sent = 0
    # The public stream carries what anyone may see: public posts of public accounts.
    if post.visibility == Post.Visibility.PUBLIC and not post.author.is_private:
        send_now(groups.PUBLIC, prepared_message("post.created", "public", payload, **meta))
        sent += 1
    home = prepared_message("post.created", "home", payload, **meta)
    sent += _send_home(post.author_id, post.visibility, home)
    logger.info(
        "post.created %s: %d recipients in %.0f ms, %.0f ms after the post was created",
        post_id,
        sent,
        (time.monotonic() - started) * 1000,
        (time.time() - post.created_at.timestamp()) * 1000,
    )
    presence.rebuilding()  # after a Redis restart: once more for the pages still coming back
    return sent


def post_deleted(*, post_id: int, author_id: int, visibility: str) -> int:
    """Send ``post.deleted`` wherever the post could have been shown (also when it is hidden)."""
    payload = {"post_id": str(post_id)}
    sent = 0
    if visibility == Post.Visibility.PUBLIC:
        send_now(groups.PUBLIC, prepared_message("post.deleted", "public", payload))
        sent += 1
    send_now(
        groups.post_group(post_id), prepared_message("post.deleted", f"post:{post_id}", payload)
    )
    sent += 1
    sent += _send_home(author_id, visibility, prepared_message("post.deleted", "home", payload))
    return sent

"""Live delivery of feed changes to open sockets.

A new post goes to the ``public`` group when it is public, and to the ``user.<id>`` group of the
author and of every follower the visibility rule lets see it (stream ``home``). The event is
serialised once and the same message is sent to each group. Events are hints: the feed API is the
truth, and a client that missed one catches up with ``since=``.
"""

from __future__ import annotations

from apps.posts.models import Post
from apps.realtime import groups
from apps.realtime.events import event_message, send_now
from apps.social.models import Follow


def _home_recipients(author_id: int, visibility: str) -> list[int]:
    ids = [author_id]
    if visibility in (Post.Visibility.PUBLIC, Post.Visibility.FOLLOWERS):
        ids += list(
            Follow.objects.filter(followee_id=author_id).values_list("follower_id", flat=True)
        )
    return ids


def post_created(*, post_id: int) -> int:
    """Send ``post.created``; returns how many groups it went to."""
    from apps.posts.serializers import PostOut

    post = Post.objects.select_related("author", "asset").filter(id=post_id).first()
    if post is None:  # deleted before fan-out ran
        return 0
    payload = {"post": PostOut(post).data, "cursor": str(post.id)}
    sent = 0
    if post.visibility == Post.Visibility.PUBLIC:
        send_now(groups.PUBLIC, event_message("post.created", "public", payload))
        sent += 1
    home = event_message("post.created", "home", payload)
    for user_id in _home_recipients(post.author_id, post.visibility):
        send_now(groups.user_group(user_id), home)
        sent += 1
    return sent


def post_deleted(*, post_id: int, author_id: int, visibility: str) -> int:
    payload = {"post_id": str(post_id)}
    sent = 0
    if visibility == Post.Visibility.PUBLIC:
        send_now(groups.PUBLIC, event_message("post.deleted", "public", payload))
        sent += 1
    send_now(groups.post_group(post_id), event_message("post.deleted", f"post:{post_id}", payload))
    home = event_message("post.deleted", "home", payload)
    for user_id in _home_recipients(author_id, visibility):
        send_now(groups.user_group(user_id), home)
        sent += 1
    return sent

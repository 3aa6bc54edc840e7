"""Writes of the search storage. The posts app calls these where a post's searchable text
changes (publishing, a caption or hide-prompt change, deletion); no signals."""

from __future__ import annotations

from collections.abc import Callable

from apps.search.backends import get_backend


def post_index(*, post_id: int) -> None:
    """Write (or rewrite) one post's searchable text: caption, tags and prompt, the prompt in a
    column only its creator's searches read when the post hides it. Call it inside the write's
    transaction, after the post and its tags are saved."""
    get_backend().post_index([post_id])


def post_unindex(*, post_id: int) -> None:
    """Drop a deleted post's searchable text (PostgreSQL's row also goes with the post)."""
    get_backend().post_unindex([post_id])


def index_rebuild(*, batch: int = 1000, progress: Callable[[int], None] | None = None) -> int:
    """Index every post, oldest first, ``batch`` at a time (each batch one statement on
    PostgreSQL); ``progress(n)`` after each batch. Safe to run again and while people post."""
    backend = get_backend()
    done, after = 0, 0
    while True:
        step = backend.post_index_range(after=after, limit=batch)
        if step is None:
            return done
        after, count = step
        done += count
        if progress is not None:
            progress(count)

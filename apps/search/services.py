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


def tag_counts_refresh() -> int:
    """Count, for every #tag, the posts anyone may see that carry it (``TagCount``), replacing
    the previous counts in one transaction. One grouped query over the tags; every few minutes
    (Celery beat) and after ``search_reindex``. Returns how many tags were counted."""
    from django.db import transaction
    from django.db.models import Count

    from apps.posts.models import Post, PostTag
    from apps.search.models import TagCount

    counted = (
        PostTag.objects.filter(post__in=Post.objects.visible_to(None))
        .values("tag")
        .annotate(n=Count("post_id"))
        .values_list("tag", "n")
    )
    rows = [TagCount(tag=tag, posts_count=n) for tag, n in counted]
    with transaction.atomic():
        TagCount.objects.all().delete()
        TagCount.objects.bulk_create(rows, batch_size=5000)
    return len(rows)

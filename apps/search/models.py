"""What search reads: one row per post with its text prepared for matching.

The row is kept beside the post rather than in the posts table so that the search storage can
change (or move to a dedicated engine, see ``apps.search.backends``) without touching the feeds'
table and its covering indexes.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models


class PostSearch(models.Model):
    """A post's search vectors (PostgreSQL; the SQLite backend keeps an FTS5 table instead).

    ``document`` is what everyone's query matches: caption and tags (weight A) and the prompt
    (weight B) unless the creator hides it. ``private_document`` is set only when the prompt is
    hidden: the same text with the prompt, matched for the creator alone. So a hidden prompt is
    in no column anyone else's query reads.
    """

    post = models.OneToOneField(
        "posts.Post", on_delete=models.CASCADE, primary_key=True, related_name="search"
    )
    # The post's author, copied so that "anyone's match, or the viewer's own hidden prompt" is
    # a condition on this table alone (a bitmap OR of two indexes, no join first).
    author_id = models.BigIntegerField(db_index=True)
    document = SearchVectorField(null=True)
    private_document = SearchVectorField(null=True)


class TagCount(models.Model):
    """How many posts anyone may see carry each #tag: what tag search lists and orders by.

    Counted over every post at once (``apps.search.services.tag_counts_refresh``, every few
    minutes and after ``search_reindex``) rather than per query: a tag on a tenth of a million
    posts would otherwise cost a visibility test per post (3 s at 1,000,000 posts). A tag only
    on posts some people cannot see (followers-only, private accounts, removed) is not listed.
    """

    tag = models.CharField(max_length=64, primary_key=True)
    posts_count = models.PositiveIntegerField()

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

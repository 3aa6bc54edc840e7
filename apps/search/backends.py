"""Search backends: how the text of posts is stored, matched and ranked.

Everything around matching (the visibility rule, blocks and mutes, paging, serialising) lives in
``apps.search.selectors`` and is the same for every backend. A backend answers four questions:

- ``post_index(post_ids)`` / ``post_unindex(post_ids)``: write or drop the stored text of posts;
- ``post_match(q, viewer)``: a condition on ``Post`` for "this post matches the query" (anyone's
  match, or the viewer's own hidden prompt);
- ``post_rank(q, viewer)``: an expression on ``Post`` in [0, 1), the text part of the ranking;
- ``people_filter(users, q)``: people whose username or display name match, with a ``score``.

Two are built in, chosen by the database vendor unless ``SEARCH_BACKEND`` names one (a dotted
path, like the generation backends): PostgreSQL full-text search (``PostgresSearchBackend``)
and SQLite FTS5 (``SQLiteSearchBackend``) for the embedded default. A dedicated engine
(OpenSearch, Meilisearch) would implement the same methods, answering ``post_match`` with the
ids it found (``Q(id__in=[...])``); docs/search.md says when that pays off.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    F,
    FloatField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Greatest, Upper
from django.utils.module_loading import import_string

# Similarity (pg_trgm) above which a name counts as a match: low enough that one swapped or
# missing letter in a short name still finds it ("alcie" and "alice" share 2 of 10 trigrams).
NAME_SIMILARITY = 0.2

# The prompt text a post is found by: its generation's prompt (an edit keeps its source's).
# One statement for one post and for a batch of a thousand, so both index alike.
_SOURCE_SQL = """
    SELECT p.id AS post_id, p.author_id, p.caption, p.hide_prompt,
           COALESCE(j.prompt, '') AS prompt,
           COALESCE((SELECT {tags_agg}(t.tag, ' ') FROM posts_posttag t WHERE t.post_id = p.id),
                    '') AS tags
    FROM posts_post p
    JOIN media_asset a ON a.id = p.asset_id
    LEFT JOIN generation_generationjob j ON j.id = a.job_id
"""


class SearchBackend:
    """The small interface every search backend implements (see the module docstring)."""

    vendor = ""

    def post_index(self, post_ids: list[int]) -> None:
        raise NotImplementedError

    def post_index_range(self, *, after: int, limit: int) -> tuple[int, int] | None:
        """Index up to ``limit`` posts with ids above ``after``: (last id, how many), or None
        when none is left."""
        from apps.posts.models import Post

        ids = list(
            Post.objects.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:limit]
        )
        if not ids:
            return None
        self.post_index(ids)
        return ids[-1], len(ids)

    def post_unindex(self, post_ids: list[int]) -> None:
        raise NotImplementedError

    def post_match(self, q: str, viewer_id: int | None) -> Q:
        raise NotImplementedError

    def post_rank(self, q: str, viewer_id: int | None):
        raise NotImplementedError

    def people_filter(self, users: QuerySet, q: str) -> QuerySet:
        """Active people whose names match ``q``, annotated with ``score`` (higher is better)."""
        prefix = Q(username__istartswith=q)
        return users.filter(prefix | Q(display_name__icontains=q)).annotate(
            score=Case(When(prefix, then=Value(1.0)), default=Value(0.5), output_field=FloatField())
        )


def strip_accents(text: str) -> str:
    """``text`` without diacritics ("café" → "cafe"), as PostgreSQL's ``unaccent`` does to the
    indexed text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# --- PostgreSQL ---------------------------------------------------------------------------------


class PostgresSearchBackend(SearchBackend):
    """Full-text search in PostgreSQL: stored ``tsvector`` columns with a GIN index.

    Text is matched in English and in Indonesian (both stemmers; a query is parsed by both and
    either may match), accents removed (``unaccent``), tags also as written (``simple``).
    Names are matched with ``pg_trgm`` (GIN trigram indexes on username and display name), so a
    typo still finds the person.
    """

    vendor = "postgresql"
    CONFIGS = ("english", "indonesian")

    def _vector(self, text: str, weight: str) -> str:
        return " || ".join(
            f"setweight(to_tsvector('{config}', unaccent({text})), '{weight}')"
            for config in self.CONFIGS
        )

    def _upsert_sql(self, where: str) -> str:
        public = (
            f"{self._vector('s.caption', 'A')} || setweight(to_tsvector('simple', s.tags), 'A')"
        )
        prompt = self._vector("s.prompt", "B")
        return f"""
            INSERT INTO search_postsearch (post_id, author_id, document, private_document)
            SELECT s.post_id, s.author_id,
                   CASE WHEN s.hide_prompt THEN {public} ELSE {public} || {prompt} END,
                   CASE WHEN s.hide_prompt THEN {public} || {prompt} END
            FROM ({_SOURCE_SQL.format(tags_agg="string_agg")} {where}) s
            ON CONFLICT (post_id) DO UPDATE SET
                author_id = EXCLUDED.author_id,
                document = EXCLUDED.document,
                private_document = EXCLUDED.private_document
        """

    def post_index(self, post_ids: list[int]) -> None:
        if not post_ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(self._upsert_sql("WHERE p.id = ANY(%s)"), [list(post_ids)])

    def post_index_range(self, *, after: int, limit: int) -> tuple[int, int] | None:
        # One statement per batch: the ids are chosen inside it, no round trip for them.
        with connection.cursor() as cursor:
            cursor.execute(
                self._upsert_sql(
                    "WHERE p.id IN (SELECT id FROM posts_post WHERE id > %s ORDER BY id LIMIT %s)"
                )
                + " RETURNING post_id",
                [after, limit],
            )
            done = [row[0] for row in cursor.fetchall()]
        return (max(done), len(done)) if done else None

    def post_unindex(self, post_ids: list[int]) -> None:
        from apps.search.models import PostSearch

        PostSearch.objects.filter(post_id__in=post_ids).delete()

    def _query(self, q: str):
        from django.contrib.postgres.search import SearchQuery

        # Accents are stripped here rather than with ``unaccent()`` in SQL: ``unaccent`` is only
        # STABLE, so PostgreSQL would parse the query again for every row it tests and could not
        # estimate how many rows match (it chose a sequential scan for a rare word); a query of
        # constants is folded once at planning and its selectivity read from the statistics.
        plain = strip_accents(q)
        query = SearchQuery(q, config="simple", search_type="websearch")
        for config in self.CONFIGS:
            query = query | SearchQuery(plain, config=config, search_type="websearch")
        return query

    def post_match(self, q: str, viewer_id: int | None) -> Q:
        from apps.search.models import PostSearch

        query = self._query(q)
        match = Q(document=query)
        if viewer_id:
            match |= Q(author_id=viewer_id, private_document=query)
        # The newest matches, found on this table alone and capped (twice the ranked candidates,
        # room for what the visibility rule then leaves out). A separate plan: a rare word reads
        # the GIN index, a common one walks the newest rows until the cap; joined to the posts
        # first, PostgreSQL chose to hash all million posts for a rare word (0.3 s).
        newest = (
            PostSearch.objects.filter(match)
            .order_by("-post_id")
            .values("post_id")[: 2 * settings.SEARCH_CANDIDATES]
        )
        return Q(id__in=newest)

    def post_rank(self, q: str, viewer_id: int | None):
        from django.contrib.postgres.search import SearchRank, SearchVectorField

        vector = F("search__document")
        if viewer_id:
            vector = Case(
                When(
                    Q(author_id=viewer_id, search__private_document__isnull=False),
                    then=F("search__private_document"),
                ),
                default=F("search__document"),
                output_field=SearchVectorField(),
            )
        # Normalisation 32: rank / (rank + 1), so the text part stays below 1.
        return SearchRank(vector, self._query(q), normalization=Value(32))

    def people_filter(self, users: QuerySet, q: str) -> QuerySet:
        from django.contrib.postgres.search import TrigramSimilarity

        with connection.cursor() as cursor:  # ``%`` below uses this threshold (this transaction)
            cursor.execute(
                "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
                [str(NAME_SIMILARITY)],
            )

        def upper(name: str) -> Upper:  # the indexed expression (migration 0001)
            return Upper(Cast(name, TextField()))

        prefix = Q(username__istartswith=q)
        similar = Greatest(TrigramSimilarity("username", q), TrigramSimilarity("display_name", q))
        return (
            users.alias(upper_username=upper("username"), upper_display=upper("display_name"))
            .filter(
                Q(upper_username__trigram_similar=q)
                | Q(upper_display__trigram_similar=q)
                | prefix
                | Q(display_name__icontains=q)
            )
            .annotate(score=similar + Case(When(prefix, then=Value(1.0)), default=Value(0.0)))
        )


# --- SQLite -------------------------------------------------------------------------------------

_FTS_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(q: str) -> str | None:
    """An FTS5 query from a person's words: each word quoted (no operator of theirs reaches
    FTS5's syntax), all required, the last one also as a prefix (found while typing)."""
    words = _FTS_WORD.findall(q)[:32]
    if not words:
        return None
    terms = [f'"{w}"' for w in words]
    terms[-1] = f'("{words[-1]}" OR "{words[-1]}"*)'
    return " AND ".join(terms)


class SQLiteSearchBackend(SearchBackend):
    """FTS5 for the embedded SQLite default: a virtual table ``search_post_fts`` (made by a
    migration that runs only on SQLite) keyed by the post id.

    Columns: ``body`` (caption and tags), ``prompt`` (the prompt, unless hidden) and
    ``hidden_prompt`` (a hidden prompt, matched for its creator only). English stemming (the
    Porter tokenizer) with accents removed; SQLite has no Indonesian stemmer, so Indonesian
    words match as written (and by prefix). Names match by prefix and substring, without typo
    tolerance (no trigram module in SQLite).
    """

    vendor = "sqlite"
    # bm25 weights of body, prompt, hidden_prompt (caption and tags count more than a prompt).
    WEIGHTS = (10.0, 4.0, 4.0)

    def post_index(self, post_ids: list[int]) -> None:
        if not post_ids:
            return
        ids = [int(i) for i in post_ids]
        marks = ",".join("%s" for _ in ids)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM search_post_fts WHERE rowid IN ({marks})", ids)
            cursor.execute(
                f"""
                INSERT INTO search_post_fts (rowid, author_id, body, prompt, hidden_prompt)
                SELECT s.post_id, s.author_id, s.caption || ' ' || s.tags,
                       CASE WHEN s.hide_prompt THEN '' ELSE s.prompt END,
                       CASE WHEN s.hide_prompt THEN s.prompt ELSE '' END
                FROM ({_SOURCE_SQL.format(tags_agg="group_concat")} WHERE p.id IN ({marks})) s
                """,
                ids,
            )

    def post_unindex(self, post_ids: list[int]) -> None:
        ids = [int(i) for i in post_ids]
        if ids:
            marks = ",".join("%s" for _ in ids)
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM search_post_fts WHERE rowid IN ({marks})", ids)

    def post_match(self, q: str, viewer_id: int | None) -> Q:
        query = fts5_query(q)
        if query is None:
            return Q(pk__in=[])
        public = RawSQL(
            "SELECT rowid FROM search_post_fts WHERE search_post_fts MATCH %s",
            [f"{{body prompt}} : ({query})"],
        )
        match = Q(id__in=public)
        if viewer_id:
            own = RawSQL(
                "SELECT rowid FROM search_post_fts WHERE search_post_fts MATCH %s "
                "AND author_id = %s",
                [f"{{body prompt hidden_prompt}} : ({query})", int(viewer_id)],
            )
            match |= Q(author_id=viewer_id, id__in=own)
        return match

    def post_rank(self, q: str, viewer_id: int | None):
        query = fts5_query(q) or '""'

        def rank(columns: str, weights: tuple[float, ...]) -> str:
            w = ", ".join(str(x) for x in weights)
            # bm25 is negative, lower is better: -bm25 / (1 - bm25) is in [0, 1), like
            # PostgreSQL's normalised rank.
            return (
                f"(SELECT -bm25(search_post_fts, {w}) / (1 - bm25(search_post_fts, {w})) "
                "FROM search_post_fts WHERE search_post_fts MATCH "
                f"'{columns} : ' || %s AND search_post_fts.rowid = posts_post.id)"
            )

        public = rank("{body prompt}", (*self.WEIGHTS[:2], 0.0))
        if not viewer_id:
            return RawSQL(f"COALESCE({public}, 0.0)", [f"({query})"], output_field=FloatField())
        # The creator's own hidden prompt ranks only their own posts.
        own = rank("{body prompt hidden_prompt}", self.WEIGHTS)
        return RawSQL(
            f"COALESCE(CASE WHEN posts_post.author_id = %s THEN {own} ELSE {public} END, 0.0)",
            [int(viewer_id), f"({query})", f"({query})"],
            output_field=FloatField(),
        )


@cache
def _backend_for(path: str) -> SearchBackend:
    return import_string(path)()


def get_backend() -> SearchBackend:
    """The configured backend: ``SEARCH_BACKEND`` (a dotted path), else the database's own."""
    path = getattr(settings, "SEARCH_BACKEND", "") or (
        "apps.search.backends.PostgresSearchBackend"
        if connection.vendor == "postgresql"
        else "apps.search.backends.SQLiteSearchBackend"
    )
    return _backend_for(path)

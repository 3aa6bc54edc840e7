"""Search storage: PostgreSQL's vectors and trigram indexes, or SQLite's FTS5 table.

Each half runs only on its own database (``schema_editor.connection.vendor``); the extensions
are created only on PostgreSQL (Django's operations skip other databases). ``search_reindex``
fills the storage for posts published before it existed.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations, models

POSTGRES_FORWARD = [
    "CREATE INDEX search_post_document ON search_postsearch USING gin (document)",
    # People by name, typo-tolerant (``%``) and by prefix or substring (``LIKE``), case-blind:
    # the expressions are exactly the ones Django's case-insensitive lookups write.
    "CREATE INDEX search_user_username_trgm ON accounts_user "
    "USING gin ((UPPER(username::text)) gin_trgm_ops)",
    "CREATE INDEX search_user_display_name_trgm ON accounts_user "
    "USING gin ((UPPER(display_name::text)) gin_trgm_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_user_display_name_trgm",
    "DROP INDEX IF EXISTS search_user_username_trgm",
    "DROP INDEX IF EXISTS search_post_document",
]
# rowid is the post's id. Porter stemming over unicode61 (accents removed).
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE search_post_fts USING fts5(author_id UNINDEXED, body, prompt, "
    "hidden_prompt, tokenize = 'porter unicode61 remove_diacritics 2')",
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS search_post_fts"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0003_lifecycle"),
        ("posts", "0005_post_alt_text"),
    ]

    operations = [
        TrigramExtension(),
        UnaccentExtension(),
        migrations.CreateModel(
            name="PostSearch",
            fields=[
                (
                    "post",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search",
                        serialize=False,
                        to="posts.post",
                    ),
                ),
                ("author_id", models.BigIntegerField(db_index=True)),
                ("document", django.contrib.postgres.search.SearchVectorField(null=True)),
                (
                    "private_document",
                    django.contrib.postgres.search.SearchVectorField(null=True),
                ),
            ],
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]

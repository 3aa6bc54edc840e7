"""``manage.py search_reindex [--batch N]``: fill the search storage for every post, then
recount the tags.

For posts published before search existed, after restoring a backup, or after changing how
text is indexed. Batched (one statement per batch on PostgreSQL), safe to run again and while
people post (each post's row is written whole).
"""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.posts.models import Post
from apps.search.services import index_rebuild, tag_counts_refresh


class Command(BaseCommand):
    help = "Index every post for search (batched, with a progress bar)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=2000, help="posts per batch")

    def handle(self, *args, batch: int, **options):
        total = Post.objects.count()
        with tqdm(total=total, unit="post", file=self.stderr, disable=None) as bar:
            done = index_rebuild(batch=max(1, batch), progress=bar.update)
        tags = tag_counts_refresh()
        self.stdout.write(f"indexed {done} posts, counted {tags} tags")

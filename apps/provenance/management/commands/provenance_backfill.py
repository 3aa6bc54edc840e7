"""``manage.py provenance_backfill``: records for assets stored before provenance existed."""

from django.core.management.base import BaseCommand

from apps.provenance.services import records_backfill


class Command(BaseCommand):
    help = (
        "Write a provenance record (marked backfilled) for every generated, edited or published "
        "asset that has none. Safe to run again and while the site runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        written = records_backfill(progress=not options["no_progress"])
        self.stdout.write(f"{written} provenance record(s) backfilled.")

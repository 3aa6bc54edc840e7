"""``manage.py export_training_set DIR``: the posts whose authors allow training use, with their
provenance and checksums (see apps.consent.export for what goes in and the folder's layout)."""

from django.core.management.base import BaseCommand

from apps.consent.export import training_set_export


class Command(BaseCommand):
    help = "Write the consented training set (originals, provenance JSONL, SHA256SUMS) to DIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, directory: str, no_progress: bool, **options) -> None:
        counts = training_set_export(directory=directory, progress=not no_progress)
        self.stdout.write(
            f"{counts['items']} items written to {directory} "
            f"({counts['skipped']} left out: a remix family withdrew consent, or a file is missing)"
        )

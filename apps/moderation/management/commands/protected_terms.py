"""``manage.py protected_terms``: the operator's side of the protected names and marks list.

protected_terms add "Example Star" --action review --note "public figure"
protected_terms remove "Example Star"
protected_terms list [--action refuse|review]
protected_terms load platform/protected_terms.example.txt
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.moderation import selectors, services


def _why(e: ApplicationError) -> str:
    details = "; ".join(m for msgs in (e.fields or {}).values() for m in msgs)
    return details or e.message


class Command(BaseCommand):
    help = "Add, remove, list or load protected names and marks (refused or held for review)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        add = sub.add_parser("add", help="Add a term, or change the action of a listed one.")
        add.add_argument("term")
        add.add_argument("--action", choices=services.ACTIONS, default="refuse")
        add.add_argument("--note", help="Why it is listed (shown to moderators).")
        remove = sub.add_parser("remove", help="Remove a term (any spelling of it).")
        remove.add_argument("term")
        listing = sub.add_parser("list", help="Print the list: term, action, note (tab-separated).")
        listing.add_argument("--action", choices=services.ACTIONS)
        load = sub.add_parser("load", help="Add every term of a file (see the example file).")
        load.add_argument("file")

    def handle(self, *args, verb: str, **options) -> None:
        try:
            getattr(self, f"_{verb}")(**options)
        except ApplicationError as e:
            raise CommandError(_why(e)) from e

    def _add(self, *, term: str, action: str, note: str | None, **_) -> None:
        row, created = services.term_add(term=term, action=action, note=note)
        verb = "Added" if created else "Updated"
        self.stdout.write(f"{verb} “{row.term}” ({row.action}).")

    def _remove(self, *, term: str, **_) -> None:
        services.term_remove(term=term)
        self.stdout.write(f"Removed “{term}”.")

    def _list(self, *, action: str | None = None, **_) -> None:
        terms = selectors.term_list()
        if action:
            terms = terms.filter(action=action)
        for row in terms.iterator():
            self.stdout.write("\t".join(filter(None, (row.term, row.action, row.note))))

    def _load(self, *, file: str, **_) -> None:
        try:
            with open(file, encoding="utf-8") as f:
                counts = services.terms_load(lines=f)
        except OSError as e:
            raise CommandError(f"Cannot read {file}: {e.strerror}") from e
        self.stdout.write(f"Loaded {file}: {counts['added']} added, {counts['updated']} updated.")

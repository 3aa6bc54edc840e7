"""``manage.py provenance_verify``: walk every signed log and name what is broken.

Every log registered with ``apps.core.ledger`` is walked (provenance records, consent events,
checkpoints, and any added later), each chain from its first row: the first broken link, edited
row, bad or unknown signature, missing row or dropped tail of each chain is reported. The exit
status is 1 when anything is wrong, so a cron job or CI step can alert on it.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.core import ledger


class Command(BaseCommand):
    help = "Verify the hash chains and signatures of every append-only log; exit 1 on any break."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--log",
            action="append",
            dest="logs",
            metavar="NAME",
            help=f"Only this log (repeatable): {', '.join(sorted(ledger.registered()))}.",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        logs = options["logs"]
        known = ledger.registered()
        unknown = sorted(set(logs or ()) - set(known))
        if unknown:
            raise CommandError(f"Unknown log(s): {', '.join(unknown)}.")
        problems = ledger.verify_all(progress=not options["no_progress"], logs=logs)
        walked = ", ".join(sorted(logs or known))
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"All chains intact ({walked})."))
            return
        for problem in problems:
            self.stdout.write(self.style.ERROR(str(problem)))
        raise CommandError(f"{len(problems)} problem(s) found in {walked}.", returncode=1)

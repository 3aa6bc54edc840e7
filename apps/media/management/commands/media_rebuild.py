"""``manage.py media_rebuild``: make every variant the current settings ask for.

It also records the perceptual hash and frame rate of assets stored before those were recorded.

Run it after changing a variant's size or encoding (each spec's tag changes, so affected variants
count as missing), after moving media to another store (``--verify`` also checks each file is
there), or to fill in variants a failed worker never made. Assets are visited in id order and
the last one finished is remembered, so an interrupted run picks up where it stopped; a run over
assets that are complete changes nothing.
"""

from __future__ import annotations

import sys
import time

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError

from apps.media.models import Asset
from apps.media.services import (
    IMAGE_VARIANTS,
    VIDEO_VARIANTS,
    asset_fill_facts,
    asset_make_variants,
    variants_missing,
)

CHECKPOINT_KEY = "media:rebuild:after"


class Command(BaseCommand):
    help = "Make missing or outdated media variants (resumable, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--only", default="", help="comma-separated variant names")
        parser.add_argument("--kind", choices=["image", "video"], help="only images or videos")
        parser.add_argument(
            "--verify", action="store_true", help="also remake variants missing from storage"
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand each asset to the media queue instead of working here",
        )
        parser.add_argument(
            "--restart", action="store_true", help="ignore where an interrupted run stopped"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, **options):
        only = {n.strip() for n in options["only"].split(",") if n.strip()} or None
        if only and not only <= set(IMAGE_VARIANTS) | set(VIDEO_VARIANTS):
            raise CommandError(f"Unknown variant in --only: {', '.join(sorted(only))}")
        assets = Asset.objects.order_by("id")
        if options["kind"]:
            assets = assets.filter(kind=options["kind"])
        after = None if options["restart"] else cache.get(CHECKPOINT_KEY)
        if after:
            assets = assets.filter(id__gt=after)
            self.stdout.write(f"Resuming after asset {after} (--restart to begin again).")
        total = assets.count()
        bar = _Progress(total, self.stdout if options["verbosity"] else None)
        remade = assets_changed = 0
        for asset in assets.iterator(chunk_size=200):
            if not options["dry_run"]:
                asset_fill_facts(asset=asset)  # assets stored before hashes were recorded
            missing = variants_missing(asset, verify=options["verify"])
            if only is not None:
                missing = {n: s for n, s in missing.items() if n in only}
            if missing:
                assets_changed += 1
                remade += len(missing)
                if options["dry_run"]:
                    pass
                elif options["queue"]:
                    from apps.media.tasks import make_variants

                    make_variants.delay(asset.id, verify=options["verify"])
                else:
                    asset_make_variants(asset=asset, verify=options["verify"], only=only)
            if not options["dry_run"]:
                cache.set(CHECKPOINT_KEY, asset.id, None)
            bar.step(f"{assets_changed} assets, {remade} variants")
        bar.done()
        if not options["dry_run"]:
            cache.delete(CHECKPOINT_KEY)
        verb = (
            "would remake" if options["dry_run"] else ("queued" if options["queue"] else "remade")
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{total} assets checked; {verb} {remade} variants of {assets_changed} assets."
            )
        )


class _Progress:
    """A one-line progress bar on a terminal, a line per 10 % otherwise."""

    def __init__(self, total: int, out) -> None:
        self.total, self.out, self.n = total, out, 0
        self.tty = out is not None and getattr(sys.stdout, "isatty", lambda: False)()
        self.start, self.last_tenth = time.monotonic(), -1

    def step(self, note: str) -> None:
        self.n += 1
        if self.out is None:
            return
        share = self.n / self.total if self.total else 1.0
        filled = int(share * 30)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {self.n}/{self.total} {note}"
        elapsed = time.monotonic() - self.start
        if self.n < self.total and elapsed > 0:
            line += f", about {elapsed / self.n * (self.total - self.n):.0f} s left"
        if self.tty:
            self.out.write("\r" + line.ljust(100), ending="")
            self.out.flush()
        elif int(share * 10) != self.last_tenth:
            self.last_tenth = int(share * 10)
            self.out.write(line)

    def done(self) -> None:
        if self.tty:
            self.out.write("")

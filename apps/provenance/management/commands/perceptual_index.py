"""``manage.py perceptual_index``: put assets stored before the near-copy index existed in it."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from apps.media.services import asset_fill_facts
from apps.provenance import matching


class Command(BaseCommand):
    help = (
        "Index the perceptual hashes (clips: poster and keyframes) of every asset that is not in "
        "the near-copy index of /verify yet; --all re-indexes every asset. Safe to run again and "
        "while the site runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="Re-index every asset.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, **options) -> None:
        from apps.media.models import Asset

        if options["all"]:
            assets = Asset.objects.order_by("id").only(
                "id", "kind", "phash", "fps", "original", "duration_s", "placeholder"
            )
        else:
            assets = matching.assets_unindexed()
        total = assets.count()
        indexed = frames = failed = 0
        for asset in tqdm(
            assets.iterator(chunk_size=500),
            total=total,
            unit="asset",
            disable=options["no_progress"],
        ):
            try:
                if not asset.phash:
                    asset_fill_facts(asset=asset)  # indexes it as well
                    frames += asset.perceptual_keys.count() // matching.BANDS
                else:
                    frames += matching.asset_index(asset=asset)
                indexed += 1
            except Exception as e:  # one unreadable original must not stop the rest
                failed += 1
                self.stderr.write(f"asset {asset.id}: {e}")
        self.stdout.write(f"{indexed} asset(s) indexed ({frames} frames), {failed} failed.")

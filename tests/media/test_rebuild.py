"""``manage.py media_rebuild``: remakes what settings ask for, resumes, and is idempotent."""

from __future__ import annotations

import dataclasses
import io

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from apps.media import images, services
from apps.media.management.commands.media_rebuild import CHECKPOINT_KEY
from apps.media.models import Asset


def _rebuild(*args) -> str:
    out = io.StringIO()
    call_command("media_rebuild", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_checkpoint():
    cache.delete(CHECKPOINT_KEY)
    yield
    cache.delete(CHECKPOINT_KEY)


def test_rebuild_makes_missing_variants_then_changes_nothing(alice, make_asset):
    assets = [make_asset(alice) for _ in range(3)]
    output = _rebuild()
    assert "3 assets checked; remade 12 variants of 3 assets." in output
    assert "[" in output and "3/3" in output  # the progress bar
    made = {a.id: Asset.objects.get(id=a.id).variants for a in assets}
    assert all(set(v) == set(services.IMAGE_VARIANTS) for v in made.values())

    assert "remade 0 variants of 0 assets" in _rebuild()
    assert {a.id: Asset.objects.get(id=a.id).variants for a in assets} == made


def test_a_size_change_remakes_only_that_variant(alice, make_asset, monkeypatch):
    asset = make_asset(alice)
    _rebuild()
    before = Asset.objects.get(id=asset.id).variants
    monkeypatch.setitem(services.IMAGE_VARIANTS, "thumb", services.StillSpec(4, images.WEBP))
    assert "would remake 1 variants of 1 assets" in _rebuild("--dry-run")
    assert "remade 1 variants of 1 assets" in _rebuild()
    after = Asset.objects.get(id=asset.id).variants
    assert after["thumb"] != before["thumb"] and after["preview"] == before["preview"]
    with default_storage.open(after["thumb"], "rb") as f, Image.open(f) as thumb:
        assert max(thumb.size) == 4


def test_a_new_sharpness_target_remakes_the_previews_only(alice, make_asset, monkeypatch):
    asset = make_asset(alice)
    _rebuild()
    before = Asset.objects.get(id=asset.id).variants
    spec = services.IMAGE_VARIANTS["preview"]
    looser = dataclasses.replace(spec.encoding.fit, ssim=0.95)
    monkeypatch.setitem(
        services.IMAGE_VARIANTS,
        "preview",
        services.StillSpec(spec.longest, dataclasses.replace(spec.encoding, fit=looser)),
    )
    assert "would remake 1 variants of 1 assets" in _rebuild("--dry-run")
    assert "remade 1 variants of 1 assets" in _rebuild()
    after = Asset.objects.get(id=asset.id).variants
    assert after["preview"] != before["preview"]
    assert {n: p for n, p in after.items() if n != "preview"} == {
        n: p for n, p in before.items() if n != "preview"
    }
    assert "remade 0 variants" in _rebuild()


def test_an_interrupted_rebuild_resumes_where_it_stopped(alice, make_asset):
    first, second = make_asset(alice), make_asset(alice)
    cache.set(CHECKPOINT_KEY, first.id, None)  # a run died after finishing the first asset
    output = _rebuild()
    assert f"Resuming after asset {first.id}" in output
    assert "1 assets checked" in output
    assert Asset.objects.get(id=first.id).variants == {}
    assert set(Asset.objects.get(id=second.id).variants) == set(services.IMAGE_VARIANTS)
    assert cache.get(CHECKPOINT_KEY) is None  # finished: the next run starts from the top
    assert "2 assets checked" in _rebuild("--restart")


def test_verify_remakes_files_lost_from_storage(alice, make_asset):
    asset = make_asset(alice)
    _rebuild()
    variants = Asset.objects.get(id=asset.id).variants
    default_storage.delete(variants["preview_avif"])
    assert "remade 0 variants" in _rebuild()
    assert "remade 1 variants of 1 assets" in _rebuild("--verify")
    assert default_storage.exists(variants["preview_avif"])


def test_rebuild_fills_in_facts_of_older_assets(alice, make_asset, make_video_asset):
    image, clip = make_asset(alice), make_video_asset(alice, seconds=0.5)
    expected = {a.id: (a.phash, a.fps) for a in (image, clip)}
    Asset.objects.update(phash="", fps=None)
    _rebuild()
    assert {a.id: (a.phash, a.fps) for a in Asset.objects.all()} == expected

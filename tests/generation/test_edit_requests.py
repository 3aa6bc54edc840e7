"""Edits are checked before anything is queued or charged."""

import pytest

from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_usage
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def edit(client, **body):
    return client.post("/api/v1/edits", body, format="json")


@pytest.fixture
def clip(alice, make_video_asset):
    return make_video_asset(alice, seconds=2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"op": "trim", "start_s": 0.5, "end_s": 3.0}, "end_s"),
        ({"op": "trim", "start_s": 1.5, "end_s": 1.0}, "end_s"),
        ({"op": "trim", "start_s": 0.5}, "end_s"),
        ({"op": "stitch"}, "assets"),
        ({"op": "extend", "duration_s": 5}, "assets"),  # not generated here
        ({"op": "extend", "duration_s": 30}, "duration_s"),
        ({"op": "spin"}, "op"),
    ],
)
def test_bad_edits_are_field_errors_and_queue_nothing(api, alice, clip, body, field):
    error = assert_error(edit(api(alice), assets=[clip.id], **body), 400, "invalid")
    assert field in error["fields"]
    assert not GenerationJob.objects.exists()
    assert quota_usage(user_id=alice.pk)["used_today"] == 0


def test_stitching_an_image_is_refused(api, alice, clip, make_asset):
    image = make_asset(alice)
    error = assert_error(edit(api(alice), op="stitch", assets=[clip.id, image.id]), 400, "invalid")
    assert "image" in error["fields"]["assets"][0]


def test_upscaling_a_1080p_clip_is_refused(api, alice, make_video_asset):
    big = make_video_asset(alice, seconds=1, size=(1920, 1080))
    assert_error(edit(api(alice), op="upscale", assets=[big.id]), 400, "invalid")


def test_someone_elses_asset_is_not_found(api, alice, bob, clip):
    assert_error(edit(api(bob), op="trim", assets=[clip.id], start_s=0, end_s=1), 404, "not_found")
    assert not GenerationJob.objects.exists()


def test_a_good_edit_is_queued_with_its_inputs(api, alice, clip, make_video_asset):
    other = make_video_asset(alice, seconds=1, size=(640, 360))
    response = edit(api(alice), op="stitch", assets=[clip.id, other.id])
    assert response.status_code == 202
    job = response.json()
    assert job["op"] == "stitch" and job["kind"] == "video" and job["status"] == "queued"
    assert job["inputs"] == [str(clip.id), str(other.id)]
    assert job["params"]["width"] == 320 and job["params"]["duration_s"] == pytest.approx(
        3, abs=0.1
    )


def test_a_clip_gets_a_poster_and_a_thumb(alice, clip):
    from django.core.files.storage import default_storage
    from PIL import Image

    from apps.media.services import asset_make_variants

    variants = asset_make_variants(asset=clip)
    # A 320x180 clip: no renditions (they would not be smaller), a grid loop, WebP and AVIF stills.
    assert set(variants) == {"thumb", "thumb_avif", "poster", "poster_avif", "loop"}
    with default_storage.open(variants["poster"], "rb") as f, Image.open(f) as poster:
        assert poster.format == "WEBP" and poster.size == (320, 180)
    assert asset_make_variants(asset=clip) == variants  # running again changes nothing
    clip.refresh_from_db()
    assert clip.placeholder.startswith("#")

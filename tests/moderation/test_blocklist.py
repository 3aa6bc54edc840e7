"""Media the moderators removed stays out: a re-encoded, resized copy uploaded as a new asset
is refused at publish and flags its publisher; unrelated media is not."""

from __future__ import annotations

import io
import random

import pytest
from django.db import transaction
from PIL import Image, ImageDraw

from apps.media import images
from apps.media.services import asset_create
from apps.moderation import actions, cases
from apps.moderation.models import Case, MediaBlock, ModerationAction
from apps.moderation.roles import role_set
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


def scene(seed: int, size: int = 320) -> Image.Image:
    """A picture with shapes and colours (a flat one has no meaningful perceptual hash)."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (size, size), (rnd.randrange(256),) * 3)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rnd.randrange(size), rnd.randrange(size)
        box = (x0, y0, x0 + rnd.randrange(30, 160), y0 + rnd.randrange(30, 160))
        fill = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return im


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def reencoded(im: Image.Image, size: int = 224, quality: int = 55) -> bytes:
    """What a re-uploader does: resize, save as a lossy JPEG, open it again (stored as PNG, the
    Library's format for stills)."""
    out = io.BytesIO()
    im.resize((size, size), Image.Resampling.BILINEAR).save(out, "JPEG", quality=quality)
    with Image.open(io.BytesIO(out.getvalue())) as jpeg:
        return png(jpeg.convert("RGB"))


def store(owner, data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
    return asset_create(owner=owner, data=data, mime="image/png", width=width, height=height)


def publish_asset(user, asset):
    return client_for(user).post(
        "/api/v1/posts", {"asset_id": str(asset.id), "visibility": "public"}, format="json"
    )


def remove(reporter, moderator, post_id) -> ModerationAction:
    cases.report_create(reporter=reporter, target_type="post", target_id=post_id, reason="sexual")
    case = Case.objects.get(target_type="post", target_id=int(post_id), status="open")
    return actions.action_take(
        moderator=moderator, case_id=case.id, action="remove", reason_code="sexual"
    )


def test_a_reencoded_resized_copy_is_refused_and_flags_its_publisher(alice, bob, carol, moderator):
    picture = scene(1)
    original = store(alice, png(picture))
    post = publish_asset(alice, original)
    assert post.status_code == 201
    remove(bob, moderator, post.json()["id"])
    block = MediaBlock.objects.get()
    assert block.phash == original.phash

    copy = store(carol, reencoded(picture))
    assert copy.sha256 != original.sha256 and copy.width == 224
    assert images.hamming(copy.phash, original.phash) <= 10
    answer = publish_asset(carol, copy)
    assert answer.status_code == 422, answer.content
    assert answer.json()["error"]["code"] == "policy_violation"
    case = Case.objects.get(target_type="user", subject=carol, status="open")
    flag = case.flags.get(source="media_blocklist")
    assert flag.detail["asset_id"] == str(copy.id) and flag.detail["block_id"] == str(block.id)
    assert case.reason == "sexual"

    # Something else by the same person is published as usual.
    unrelated = store(carol, png(scene(2)))
    assert images.hamming(unrelated.phash, original.phash) > 10
    assert publish_asset(carol, unrelated).status_code == 201


def test_a_reversed_removal_lets_copies_through_again(alice, bob, carol, make_user, moderator):
    picture = scene(3)
    post = publish_asset(alice, store(alice, png(picture)))
    action = remove(bob, moderator, post.json()["id"])
    copy = store(carol, reencoded(picture, size=256, quality=70))
    assert publish_asset(carol, copy).status_code == 422
    second = make_user("mod2")
    role_set(user=second, role="moderator")
    with transaction.atomic():
        actions.restore(moderator=second, action=action, note="appeal")
    assert publish_asset(carol, copy).status_code == 201


def test_a_flat_picture_is_blocked_by_its_exact_bytes_only(alice, bob, carol, moderator):
    flat = store(alice, png(Image.new("RGB", (64, 64), (40, 90, 200))))
    post = publish_asset(alice, flat)
    remove(bob, moderator, post.json()["id"])
    assert MediaBlock.objects.get().phash == ""
    # Another plain background is not "a copy" of it…
    other = store(carol, png(Image.new("RGB", (64, 64), (200, 60, 20))))
    assert publish_asset(carol, other).status_code == 201
    # …while the same file is.
    assert publish_asset(alice, flat).status_code == 422

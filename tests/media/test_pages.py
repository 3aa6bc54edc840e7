"""Pages show pictures with AVIF and WebP sources, and the placeholder colour until they load."""

from __future__ import annotations

import re

from apps.media.services import asset_create, asset_make_variants
from apps.posts.services import post_publish
from tests.media.conftest import picture, png_of


def test_a_card_offers_avif_and_webp_in_two_sizes_over_its_placeholder(client, alice):
    asset = asset_create(
        owner=alice, data=png_of(picture((1600, 1200))), mime="image/png", width=1600, height=1200
    )
    post = post_publish(
        author=alice, asset_id=asset.id, visibility="public", caption="look", alt_text="hills"
    )
    before = client.get(f"/p/{post.id}/card").content.decode()
    # The placeholder colour, applied by page.js (the policy refuses inline style attributes).
    assert f'data-bg="{asset.placeholder}"' in before
    assert f'src="/media/assets/{asset.id}/original"' in before and "<source" not in before

    asset_make_variants(asset=asset)
    html = client.get(f"/p/{post.id}/card").content.decode()
    avif = re.search(r'<source type="image/avif" srcset="([^"]+)"', html).group(1)
    webp = re.search(r'<source type="image/webp" srcset="([^"]+)"', html).group(1)
    assert re.fullmatch(
        rf"/media/assets/{asset.id}/thumb_avif\?v=\w+ 320w, "
        rf"/media/assets/{asset.id}/preview_avif\?v=\w+ 1080w",
        avif,
    )
    assert "/thumb?v=" in webp and "/preview?v=" in webp
    img = re.search(r"<img [^>]+>", html).group(0)
    assert f'src="/media/assets/{asset.id}/preview?v=' in img
    assert 'width="1600" height="1200"' in img and 'alt="hills"' in img
    for url in re.findall(r"(/media/assets/[^ \"]+)", avif + " " + webp):
        assert client.get(url).status_code == 200


def test_a_video_card_plays_the_short_loop_in_grids(client, alice, make_video_asset):
    clip = make_video_asset(alice, seconds=1.0)
    post = post_publish(author=alice, asset_id=clip.id, visibility="public")
    asset_make_variants(asset=clip)
    video = re.search(r"<video[^>]*>", client.get(f"/p/{post.id}/card").content.decode()).group(0)
    assert f'src="/media/assets/{clip.id}/loop?v=' in video
    assert "muted" in video and "loop" in video

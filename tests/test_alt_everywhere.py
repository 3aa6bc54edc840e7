"""Every image and video on every page has a text alternative.

Every page route of the site (found from the URL configuration, so a page added later is read
too) is rendered with seeded content: images, a video post, a remix, an avatar, a collection, a
reported post in a moderation case, comments and notifications. Read as the creator, a follower,
a moderator and a visitor, every ``<img>`` must carry an ``alt`` attribute (``alt=""`` is right
for decoration beside a visible name) and every ``<video>`` an accessible name.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from apps.accounts import services as account_services
from apps.collections import services as collections
from apps.moderation import cases
from apps.moderation.roles import role_set
from apps.posts import fanout
from apps.posts.models import Post
from tests.conftest import png_bytes
from tests.posts.test_hidden_prompt import body_of, build_scene, client_for, site_for, urls


class Media(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.missing: list[str] = []
        self.imgs = 0
        self.videos = 0

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "img":
            self.imgs += 1
            if "alt" not in names:
                self.missing.append(f"<img src={names.get('src')!r}> without alt")
        elif tag == "video":
            self.videos += 1
            label = (names.get("aria-label") or "").strip() or names.get("aria-labelledby")
            if not label:
                self.missing.append(f"<video src={names.get('src')!r}> without aria-label")


def is_page(url: str) -> bool:
    return not url.startswith(("/api/", "/media/", "/static/", "/admin", "/accounts/"))


@pytest.mark.django_db(transaction=True)
def test_every_img_has_alt_and_every_video_a_label(make_user, make_video_asset):
    scene = build_scene(make_user)
    alice, bob, carol = scene.alice, scene.bob, scene.carol
    account_services.user_avatar_set(user=alice, data=png_bytes((64, 64)))
    account_services.user_avatar_set(user=bob, data=png_bytes((64, 64)))
    video = make_video_asset(alice, seconds=1.0)
    response = client_for(alice).post(
        "/api/v1/posts",
        {"asset_id": str(video.id), "caption": "a clip", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 201, response.content
    clip = Post.objects.get(id=int(response.json()["id"]))
    fanout.post_created(post_id=clip.id)
    saved = collections.collection_create(owner=bob, name="Harbours", visibility="public")
    for post in (scene.post, clip, scene.remix):
        collections.collection_post_add(user=bob, collection_id=saved.id, post_id=post.id)
    report = cases.report_create(
        reporter=bob, target_type="post", target_id=str(clip.id), reason="spam"
    )
    role_set(user=carol, role="moderator")
    scene.values["post_id"].append(str(clip.id))
    scene.values["collection_id"] = [str(saved.id)]
    scene.values["case_id"] = [str(report.case_id)]

    problems: list[str] = []
    seen = {"img": 0, "video": 0, "pages": 0}
    pages = [u for u in urls(scene) if is_page(u)]
    for viewer, label in ((alice, "alice"), (bob, "bob"), (carol, "a moderator"), (None, "anon")):
        site = site_for(viewer)
        for url in pages:
            response = site.get(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            parser = Media()
            parser.feed(body_of(response))
            seen["pages"] += 1
            seen["img"] += parser.imgs
            seen["video"] += parser.videos
            problems += [f"GET {url} as {label}: {m}" for m in parser.missing]
    assert not problems, "\n".join(sorted(set(problems)))
    # The scan reached pages with pictures and clips (it would see a missing alt).
    assert seen["pages"] > 30 and seen["img"] > 50 and seen["video"] >= 3, seen

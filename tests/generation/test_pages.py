"""The Create and Library pages, through Django's test client: what a signed-in creator sees."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.generation.models import GenerationJob
from apps.media.services import asset_create
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


def make_job(owner, *, prompt: str, kind: str = "image", status: str = "succeeded", **fields):
    job = GenerationJob.objects.create(
        owner=owner,
        kind=kind,
        prompt=prompt,
        backend="procedural",
        seed=42,
        status=status,
        params={"aspect_ratio": "1:1", "quality": "draft", "count": 1, "width": 8, "height": 8},
        **fields,
    )
    if status == "succeeded" and kind == "image":
        asset_create(owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job)
    return job


@pytest.fixture
def browser_of():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def item_ids(html: str) -> list[str]:
    return re.findall(r'<article class="lib-item" id="job-(\d+)"', html)


def test_the_library_needs_an_account(client):
    response = client.get("/library")
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/library")
    assert client.get("/library/items").status_code == 302


def test_the_library_is_in_the_nav(browser_of, alice):
    html = browser_of(alice).get("/create").content.decode()
    assert 'href="/library"' in html


def test_the_library_lists_only_my_jobs_newest_first(browser_of, alice, bob):
    older = make_job(alice, prompt="a lighthouse on a rocky coast")
    newer = make_job(alice, prompt="misty mountains at dawn", status="running", progress=0.42)
    theirs = make_job(bob, prompt="bob's secret volcano")

    response = browser_of(alice).get("/library")

    assert response.status_code == 200
    html = response.content.decode()
    assert item_ids(html) == [str(newer.id), str(older.id)]
    assert "a lighthouse on a rocky coast" in html
    assert "42%" in html  # a running job shows its progress
    assert "secret volcano" not in html and str(theirs.id) not in html


def test_someone_elses_job_never_shows(browser_of, alice, bob):
    theirs = make_job(bob, prompt="bob's secret volcano", status="failed", error="Bob's reason")
    me = browser_of(alice)

    assert me.get(f"/library/items/{theirs.id}").status_code == 404
    paths = ("/library", "/library?status=failed", "/library/items", "/library/items?limit=100")
    for path in paths:
        html = me.get(path).content.decode()
        assert "secret volcano" not in html and "Bob's reason" not in html, path
    assert str(theirs.id) in browser_of(bob).get(f"/library/items/{theirs.id}").content.decode()


def test_a_failed_job_shows_its_reason(browser_of, alice):
    make_job(
        alice,
        prompt="a storm at sea",
        status="failed",
        error="The openai backend refused the prompt.",
    )
    html = browser_of(alice).get("/library").content.decode()
    assert "The openai backend refused the prompt." in html
    assert 'data-status="failed"' in html


def test_the_library_filters_by_status_and_kind(browser_of, alice):
    done_image = make_job(alice, prompt="done image")
    failed_image = make_job(alice, prompt="failed image", status="failed", error="no")
    running_video = make_job(alice, prompt="running video", kind="video", status="running")
    failed_video = make_job(alice, prompt="failed video", kind="video", status="failed", error="no")
    me = browser_of(alice)

    def shown(query: str) -> set[str]:
        return set(item_ids(me.get(f"/library?{query}").content.decode()))

    assert shown("status=failed") == {str(failed_image.id), str(failed_video.id)}
    assert shown("kind=video") == {str(running_video.id), str(failed_video.id)}
    assert shown("kind=image&status=succeeded") == {str(done_image.id)}
    assert shown("kind=video&status=succeeded") == set()
    # An unknown filter value shows everything rather than an error.
    assert len(shown("status=bogus&kind=audio")) == 4
    # The active filter is marked, and the other filter's links keep it.
    html = me.get("/library?status=failed").content.decode()
    assert 'href="/library?kind=video&amp;status=failed"' in html
    empty = me.get("/library?kind=video&status=succeeded").content.decode()
    assert "Nothing matches these filters" in empty


def test_load_more_pages_by_cursor_with_the_same_filters(browser_of, alice):
    jobs = [make_job(alice, prompt=f"failed {i}", status="failed", error="no") for i in range(25)]
    make_job(alice, prompt="done", status="succeeded")
    me = browser_of(alice)

    first = me.get("/library?status=failed").content.decode()
    ids = item_ids(first)
    assert ids == [str(j.id) for j in reversed(jobs)][:20]
    more = re.search(r'hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "status=failed" in more and f"cursor={ids[-1]}" in more

    rest = me.get(more).content.decode()
    assert item_ids(rest) == [str(j.id) for j in reversed(jobs)][20:]
    assert "hx-get" not in rest  # the last page


def test_a_succeeded_item_offers_its_actions(browser_of, alice, make_video_asset):
    image_job = make_job(alice, prompt="golden hour", negative_prompt="people")
    clip_job = make_job(alice, prompt="waves at night", kind="video")
    clip = make_video_asset(alice, seconds=1.0)
    clip.job = clip_job
    clip.save()
    me = browser_of(alice)

    image = me.get(f"/library/items/{image_job.id}").content.decode()
    assert "Publish" in image and "Upscale" in image and "Trim" not in image
    remix = re.search(r'<a class="button" href="([^"]+)">Remix</a>', image).group(1)
    assert remix.startswith("/create?") and "prompt=golden+hour" in remix
    assert "negative_prompt=people" in remix and "seed=42" in remix

    video = me.get(f"/library/items/{clip_job.id}").content.decode()
    for action in ("Trim", "Extend", "Stitch", "Trim start", "Trim end"):
        assert action in video, action
    assert f'data-asset-id="{clip.id}"' in video
    assert 'data-role="duration"' in video and "1.0 s" in video


def test_create_is_prefilled_from_a_remix_link(browser_of, alice, bob, publish):
    post = publish(bob, caption="the original")
    html = (
        browser_of(alice)
        .get(
            "/create",
            {
                "prompt": "a red fox in snow",
                "negative_prompt": "blur",
                "kind": "video",
                "aspect_ratio": "16:9",
                "seed": "1234",
                "remix_of": post["id"],
            },
        )
        .content.decode()
    )
    assert ">a red fox in snow</textarea>" in html
    assert 'value="blur"' in html
    assert re.search(r'value="video"\s+checked', html)
    assert re.search(r'<option value="16:9"\s+selected', html)
    assert 'value="1234"' in html and re.search(r'name="lock_seed"\s+checked', html)
    assert f'name="remix_of" value="{post["id"]}"' in html and "@bob" in html


def test_create_ignores_a_remix_of_a_post_i_may_not_see(browser_of, alice, bob, publish):
    post = publish(bob, visibility="private")
    html = browser_of(alice).get("/create", {"remix_of": post["id"], "seed": "-3"}).content.decode()
    assert "remix_of" not in html
    assert not re.search(r'name="lock_seed"\s+checked', html)


def test_a_video_card_in_the_feed_shows_its_poster(client, alice, make_video_asset):
    from apps.media.services import asset_make_variants
    from apps.posts.services import post_publish

    clip = make_video_asset(alice, seconds=1.0)
    post = post_publish(author=alice, asset_id=clip.id, caption="waves", visibility="public")
    before = client.get("/?tab=public").content.decode()
    video = re.search(r"<video[^>]*>", before).group(0)
    assert 'preload="metadata"' in video and "poster=" not in video  # no poster made yet

    asset_make_variants(asset=clip)
    video = re.search(r"<video[^>]*>", client.get(f"/p/{post.id}/card").content.decode()).group(0)
    assert f'poster="/media/assets/{clip.id}/poster?v=' in video
    assert 'preload="metadata"' in video and "muted" in video

"""Explore and "more like this": what each person is shown, and what they never are."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.ids import id_for_time
from apps.generation.models import GenerationJob
from apps.media.models import Asset
from apps.media.services import asset_create
from apps.posts import services as post_services
from apps.posts.models import Post
from apps.social import services as social
from apps.social.models import Follow
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


def post_with(author, *, prompt: str = "", caption: str = "", colour: str = "", **extra) -> Post:
    """A published picture made from ``prompt``, its placeholder colour set to ``colour``."""
    job = GenerationJob.objects.create(
        owner=author,
        kind="image",
        prompt=prompt,
        backend="procedural",
        seed=1,
        status="succeeded",
        params={"width": 8, "height": 8, "quality": "draft", "count": 1},
    )
    asset = asset_create(
        owner=author, data=png_bytes(), mime="image/png", width=8, height=8, job=job
    )
    # Distinct colours by default, so that only what a test names makes posts alike.
    Asset.objects.filter(id=asset.id).update(placeholder=colour or f"#{asset.id % 0xFFFFFF:06x}")
    return post_services.post_publish(
        author=author,
        asset_id=asset.id,
        caption=caption,
        visibility=extra.pop("visibility", "public"),
        **extra,
    )


def similar(client, post) -> list[str]:
    response = client.get(f"/api/v1/posts/{post.id}/similar")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- more like this -----------------------------------------------------------------------------


def test_similar_by_prompt_words_tags_and_colour(api, alice, bob):
    source = post_with(alice, prompt="a lighthouse in a violent storm at night", colour="#102030")
    by_words = post_with(bob, prompt="storm over the lighthouse", colour="#f0e0d0")
    by_tag_source = post_with(alice, prompt="", caption="dawn #harbour", colour="#00ff00")
    by_tag = post_with(bob, prompt="", caption="#harbour boats", colour="#ff00ff")
    by_colour = post_with(bob, prompt="a bowl of fruit", colour="#112233")
    unrelated = post_with(bob, prompt="a bowl of fruit", colour="#ffffff")

    found = similar(api(bob), source)
    assert str(by_words.id) in found
    assert str(by_colour.id) in found
    assert str(unrelated.id) not in found
    assert str(source.id) not in found  # never the post itself
    assert found.index(str(by_words.id)) < found.index(str(by_colour.id))
    assert str(by_tag.id) in similar(api(bob), by_tag_source)
    # The items are the feeds' items.
    item = api(bob).get(f"/api/v1/posts/{source.id}/similar").json()["items"][0]
    assert item == api(bob).get(f"/api/v1/posts/{item['id']}").json()


def test_similar_never_by_a_hidden_prompts_words(api, alice, bob, carol, monkeypatch):
    # Only word candidates: a trending post may also come in by a close placeholder colour (the
    # test pictures' colours depend on how many were made before), which says nothing of words.
    monkeypatch.setattr("apps.discovery.selectors.COLOUR_CANDIDATES", 0)
    source = post_with(alice, prompt="zebra carousel midnight")
    hidden = post_with(bob, prompt="zebra carousel midnight", hide_prompt=True)
    shown = post_with(bob, prompt="zebra carousel at midnight")
    assert similar(api(carol), source) == [str(shown.id)]
    # Its creator's own hidden prompt does count for them.
    assert str(hidden.id) in similar(api(bob), source)
    # A source whose prompt is hidden lends no words to anyone else's "more like this".
    secret = post_with(carol, prompt="zebra carousel midnight", hide_prompt=True)
    assert similar(api(alice), secret) == []
    assert str(source.id) in similar(api(carol), secret)


def test_similar_finds_prompt_words_through_the_search_index(api, alice, bob, carol, monkeypatch):
    # No trending head to fall back on: prompt words alone must find the candidates.
    monkeypatch.setattr("apps.discovery.selectors.COLOUR_CANDIDATES", 0)
    source = post_with(alice, prompt="origami cranes drifting")
    match = post_with(bob, prompt="paper origami cranes")
    hidden = post_with(bob, prompt="origami cranes drifting", hide_prompt=True)
    assert similar(api(carol), source) == [str(match.id)]
    assert set(similar(api(bob), source)) == {str(match.id), str(hidden.id)}


def test_similar_respects_visibility_blocks_mutes_and_removals(api, make_user, alice, bob, carol):
    dave, erin = make_user("dave"), make_user("erin")
    viewer = make_user("viewer")
    source = post_with(alice, prompt="copper kettle steam")
    visible = post_with(bob, prompt="copper kettle steam")
    private = post_with(bob, prompt="copper kettle steam", visibility="private")
    muted = post_with(carol, prompt="copper kettle steam")
    blocked = post_with(dave, prompt="copper kettle steam")
    removed = post_with(erin, prompt="copper kettle steam")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now(), removed_reason="x")
    social.mute_create(muter=viewer, muted=carol)
    social.block_create(blocker=dave, blocked=viewer)
    assert similar(api(viewer), source) == [str(visible.id)]
    assert str(private.id) in similar(api(bob), source)  # its author sees it
    # Someone the viewer may not see answers 404, like a missing post.
    assert api(viewer).get(f"/api/v1/posts/{blocked.id}/similar").status_code == 404
    assert api(viewer).get(f"/api/v1/posts/{private.id}/similar").status_code == 404
    assert api(viewer).get("/api/v1/posts/123/similar").status_code == 404
    # Anonymous visitors get public posts only.
    assert set(similar(Client(), source)) == {str(p.id) for p in (visible, muted, blocked)}


def test_similar_has_at_most_12_and_constant_queries(api, alice, bob):
    source = post_with(alice, prompt="glass forest fog")
    post_with(bob, prompt="glass forest fog")
    client = api(bob)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/posts/{source.id}/similar").status_code == 200
        return len(ctx.captured_queries)

    queries()  # the first request of a token also notes its use
    few = queries()
    for i in range(20):
        post_with(bob, prompt=f"glass forest fog {i}", caption="#fog")
    assert len(similar(client, source)) == 12
    assert queries() == few


# --- explore ------------------------------------------------------------------------------------


def test_explore_lists_trending_creators_and_tags(api, make_user, alice, bob, carol):
    fans = [make_user(f"fan{i}") for i in range(4)]
    big = make_user("big")
    month_ago = id_for_time(int((time.time() - 30 * 86400) * 1000))
    for i in range(30):
        social.follow_create(follower=make_user(f"old{i}"), followee=big)
    # Those follows are a month old (ids are time-sortable: an old id is an old row).
    for i, follow in enumerate(Follow.objects.filter(followee=big)):
        Follow.objects.filter(pk=follow.pk).update(id=month_ago + i)
    rising = post_with(alice, caption="#sunrise first light")
    post_with(big, caption="#sunrise again")
    for fan in fans:
        social.follow_create(follower=fan, followee=alice)
        post_services.reaction_add(user=fan, post_id=rising.id, kind="fire")
    social.follow_create(follower=fans[0], followee=big)

    body = api(carol).get("/api/v1/explore").json()
    assert str(rising.id) in [p["id"] for p in body["trending"]]
    assert "trending_next_cursor" in body
    names = [c["user"]["username"] for c in body["creators"]]
    assert names[0] == "alice"  # four new followers on none beats one on thirty
    assert body["creators"][0]["new_followers"] == 4
    assert body["creators"][0]["recent_reactions"] == 4
    assert {"tag": "sunrise", "posts_count": 2} in body["tags"]


def test_explore_respects_blocks_mutes_privacy_suspension_and_removals(api, make_user):
    viewer = make_user("viewer")
    fan = make_user("fan")
    people = {
        name: make_user(name) for name in ("shown", "muted", "blocker", "private", "suspended")
    }
    posts = {}
    for name, person in people.items():
        posts[name] = post_with(person, caption=f"#{name}tag")
        social.follow_create(follower=fan, followee=person)
        post_services.reaction_add(user=fan, post_id=posts[name].id, kind="like")
    removed = post_with(people["shown"], caption="#removedtag")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now(), removed_reason="x")
    social.mute_create(muter=viewer, muted=people["muted"])
    social.block_create(blocker=people["blocker"], blocked=viewer)
    people["private"].is_private = True
    people["private"].save()
    people["suspended"].is_active = False
    people["suspended"].save()

    body = api(viewer).get("/api/v1/explore").json()
    assert [c["user"]["username"] for c in body["creators"]] == ["shown"]
    assert {t["tag"] for t in body["tags"]} == {"showntag"}
    assert [p["id"] for p in body["trending"]] == [str(posts["shown"].id)]
    # The viewer is never shown to themselves.
    own = post_with(viewer, caption="#mine")
    post_services.reaction_add(user=fan, post_id=own.id, kind="like")
    names = [c["user"]["username"] for c in api(viewer).get("/api/v1/explore").json()["creators"]]
    assert "viewer" not in names
    # Anonymous visitors see public accounts only.
    anon_body = Client().get("/api/v1/explore").json()
    assert {c["user"]["username"] for c in anon_body["creators"]} == {
        "shown",
        "muted",
        "blocker",
        "viewer",
    }


def test_explore_costs_constant_queries(api, make_user, alice):
    viewer = make_user("viewer")
    client = api(viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/explore").status_code == 200
        return len(ctx.captured_queries)

    first = post_with(alice, caption="#one")
    post_services.reaction_add(user=viewer, post_id=first.id, kind="like")
    social.follow_create(follower=viewer, followee=alice)
    queries()  # the first request of a token also notes its use
    few = queries()
    for i in range(15):
        author = make_user(f"author{i}")
        post = post_with(author, caption=f"#t{i} #shared")
        post_services.reaction_add(user=viewer, post_id=post.id, kind="like")
        social.follow_create(follower=alice, followee=author)
    assert queries() == few


def test_explore_page_and_more_like_this_on_post_pages(alice, bob):
    source = post_with(alice, prompt="amber desert dunes", caption="#dunes")
    other = post_with(bob, prompt="amber desert dunes at dusk", caption="dusk")
    page = Client().get("/explore")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="explore-trending"' in html and "#dunes" in html
    assert 'data-testid="explore-link"' in html
    detail = Client().get(f"/p/{source.id}").content.decode()
    assert 'data-testid="more-like-this"' in detail
    assert f'href="/p/{other.id}"' in detail

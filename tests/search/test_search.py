"""Search on PostgreSQL: what each person finds, in what order, and what they never find."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.generation.models import GenerationJob
from apps.media.services import asset_create
from apps.posts import services as post_services
from apps.posts.models import Post
from apps.search.services import tag_counts_refresh
from apps.social import services as social
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


def post_with_prompt(author, *, prompt: str, caption: str = "", **extra) -> Post:
    """A post of a generated picture, published through the posts service (which indexes it)."""
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
    return post_services.post_publish(
        author=author,
        asset_id=asset.id,
        caption=caption,
        visibility=extra.pop("visibility", "public"),
        **extra,
    )


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def search(client, q: str, type_: str = "posts", **params):
    return client.get("/api/v1/search", {"q": q, "type": type_, **params})


def test_posts_by_caption_tag_and_prompt_as_feed_items(api, alice, bob):
    by_caption = post_with_prompt(alice, prompt="a red barn", caption="Lighthouse at dawn")
    by_tag = post_with_prompt(alice, prompt="a red barn", caption="evening #lighthouses")
    by_prompt = post_with_prompt(alice, prompt="a lighthouse in the storm", caption="waves")
    post_with_prompt(alice, prompt="a quiet field", caption="nothing to see")

    response = search(api(bob), "lighthouse")
    assert set(ids(response)) == {str(by_caption.id), str(by_tag.id), str(by_prompt.id)}
    # Items are the feeds' items, field for field.
    feed = api(bob).get(f"/api/v1/posts/{by_caption.id}").json()
    item = next(i for i in response.json()["items"] if i["id"] == str(by_caption.id))
    assert set(item) == set(feed)
    assert item["author"]["username"] == "alice" and item["caption"] == "Lighthouse at dawn"


def test_accents_and_indonesian_words_are_found(api, alice, bob):
    cafe = post_with_prompt(alice, prompt="x", caption="Morning at the café")
    # Indonesian stemming: "pemandangan" (view) is found by its root "pandang".
    view = post_with_prompt(alice, prompt="pemandangan gunung berapi", caption="Merapi")
    assert ids(search(api(bob), "cafe")) == [str(cafe.id)]
    assert ids(search(api(bob), "pandang")) == [str(view.id)]


def test_a_better_match_ranks_first(api, make_user, alice, bob):
    in_caption = post_with_prompt(alice, prompt="ice", caption="Glacier lagoon at noon")
    newer_in_caption = post_with_prompt(alice, prompt="ice", caption="A glacier")
    prompt_only = post_with_prompt(alice, prompt="glacier lagoon", caption="blue")
    # The newest post matches only by its prompt: a caption match ranks above it.
    assert ids(search(api(bob), "glacier")) == [
        str(newer_in_caption.id),
        str(in_caption.id),
        str(prompt_only.id),
    ]
    # Engagement counts too: reactions lift a post above an equal, newer match.
    for i in range(10):
        post_services.reaction_add(user=make_user(f"fan{i}"), post_id=in_caption.id, kind="fire")
    assert ids(search(api(bob), "glacier"))[0] == str(in_caption.id)


def test_a_hidden_prompt_finds_its_post_for_its_creator_only(api, anon, alice, bob):
    post = post_with_prompt(alice, prompt="obsidian heron", caption="late", hide_prompt=True)
    social.follow_create(follower=bob, followee=alice)
    assert ids(search(api(alice), "heron")) == [str(post.id)]
    assert ids(search(api(bob), "heron")) == []
    assert ids(search(anon, "heron")) == []
    assert ids(search(api(bob), "late")) == [str(post.id)]  # the caption is public
    # Shown again: everyone finds it by the prompt; hidden again: nobody but her.
    post_services.post_update(user=alice, post_id=post.id, hide_prompt=False)
    assert ids(search(api(bob), "heron")) == [str(post.id)]
    post_services.post_update(user=alice, post_id=post.id, hide_prompt=True)
    assert ids(search(anon, "heron")) == []
    assert ids(search(api(alice), "heron")) == [str(post.id)]


def test_visibility_rules(api, anon, make_user, alice, bob, carol):
    dave = make_user("dave", is_private=True)
    public = post_with_prompt(alice, prompt="x", caption="kestrel public")
    followers = post_with_prompt(
        alice, prompt="x", caption="kestrel followers", visibility="followers"
    )
    private = post_with_prompt(alice, prompt="x", caption="kestrel private", visibility="private")
    of_private_account = post_with_prompt(dave, prompt="x", caption="kestrel dave")
    social.follow_create(follower=bob, followee=alice)

    assert set(ids(search(anon, "kestrel"))) == {str(public.id)}
    assert set(ids(search(api(carol), "kestrel"))) == {str(public.id)}
    assert set(ids(search(api(bob), "kestrel"))) == {str(public.id), str(followers.id)}
    assert set(ids(search(api(alice), "kestrel"))) == {
        str(public.id),
        str(followers.id),
        str(private.id),
    }
    assert set(ids(search(api(dave), "kestrel"))) == {str(public.id), str(of_private_account.id)}


def test_blocks_both_ways_and_mutes(api, make_user, alice, bob, carol):
    dave = make_user("dave")
    post_with_prompt(alice, prompt="x", caption="pelican")
    social.block_create(blocker=bob, blocked=alice)  # bob blocked alice
    social.block_create(blocker=alice, blocked=carol)  # alice blocked carol
    social.mute_create(muter=dave, muted=alice)
    for viewer in (bob, carol, dave):
        assert ids(search(api(viewer), "pelican")) == [], viewer.username
    # People: blocked people do not find each other, whoever blocked; muted ones still show.
    assert ids(search(api(bob), "alice", "people")) == []
    assert ids(search(api(carol), "alice", "people")) == []
    assert [p["username"] for p in search(api(alice), "bob", "people").json()["items"]] == []
    found = search(api(dave), "alice", "people").json()["items"]
    assert [p["username"] for p in found] == ["alice"] and found[0]["viewer_mutes"] is True


def test_removed_posts_and_suspended_or_deleted_authors_are_never_found(api, make_user, alice, bob):
    removed = post_with_prompt(alice, prompt="x", caption="ibis removed")
    kept = post_with_prompt(alice, prompt="x", caption="ibis kept")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now(), removed_reason="test")
    assert ids(search(api(bob), "ibis")) == [str(kept.id)]
    assert ids(search(api(alice), "ibis")) == [str(kept.id)]  # gone for its author too

    suspended = make_user("suzy")
    post_with_prompt(suspended, prompt="x", caption="ibis suzy")
    suspended.is_active = False
    suspended.save()
    assert ids(search(api(bob), "ibis")) == [str(kept.id)]
    assert ids(search(api(bob), "suzy", "people")) == []

    leaving = make_user("lena")
    leaving.deletion_requested_at = timezone.now()
    leaving.save()
    assert ids(search(api(bob), "lena", "people")) == []


def test_a_deleted_post_leaves_the_index(api, alice, bob):
    post = post_with_prompt(alice, prompt="x", caption="osprey")
    post_services.post_delete(user=alice, post_id=post.id)
    assert ids(search(api(bob), "osprey")) == []
    from apps.search.models import PostSearch

    assert not PostSearch.objects.filter(post_id=post.id).exists()


def test_people_by_name_typo_tolerant_as_profiles(api, make_user, alice, bob):
    make_user("alfred", display_name="Alfred Hitch")
    make_user("maria", display_name="María Alicia")
    social.follow_create(follower=bob, followee=alice)
    post_with_prompt(alice, prompt="x", caption="hi")
    response = search(api(bob), "alcie", "people")
    found = [p["username"] for p in response.json()["items"]]
    assert found[0] == "alice"
    first = response.json()["items"][0]
    profile = api(bob).get("/api/v1/users/alice").json()
    assert first == profile  # exactly what the profile endpoint gives
    assert first["viewer_follows"] is True and first["posts_count"] == 1
    # By display name, and by the start of a username.
    assert "alfred" in [p["username"] for p in search(api(bob), "hitch", "people").json()["items"]]
    by_prefix = search(api(bob), "alf", "people").json()["items"]
    assert by_prefix[0]["username"] == "alfred"


def test_tags_by_prefix_with_counts_of_what_anyone_may_see(api, anon, make_user, alice, bob):
    post_with_prompt(alice, prompt="x", caption="#sunset #sunrise")
    post_with_prompt(alice, prompt="x", caption="#sunset")
    post_with_prompt(bob, prompt="x", caption="#sundial #moon #sunrise")
    post_with_prompt(bob, prompt="x", caption="#sunsetclub", visibility="private")
    post_with_prompt(bob, prompt="x", caption="#sunsetclub #sunset", visibility="followers")
    post_with_prompt(make_user("pat", is_private=True), prompt="x", caption="#sunhat")
    removed = post_with_prompt(alice, prompt="x", caption="#sunsetgone")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now())
    assert search(anon, "#sun", "tags").json()["items"] == []  # not counted yet
    # Counted: sunset, sunrise, sundial and moon; not the tags only on a private or
    # followers-only post, on a private account's post or on a removed post.
    assert tag_counts_refresh() == 4
    items = search(anon, "#sun", "tags").json()["items"]
    assert items == [
        {"tag": "sunrise", "posts_count": 2},
        {"tag": "sunset", "posts_count": 2},
        {"tag": "sundial", "posts_count": 1},
    ]
    # The same for every viewer; pages follow the same order.
    first = search(api(bob), "SUN", "tags", limit=2).json()
    assert [i["tag"] for i in first["items"]] == ["sunrise", "sunset"]
    rest = search(api(bob), "sun", "tags", limit=2, cursor=first["next_cursor"]).json()
    assert rest == {"items": [{"tag": "sundial", "posts_count": 1}], "next_cursor": None}
    # Deleting a post lowers the count at the next recount.
    sunrise = Post.objects.filter(caption="#sunset #sunrise").get()
    post_services.post_delete(user=alice, post_id=sunrise.id)
    tag_counts_refresh()
    assert search(anon, "sunr", "tags").json()["items"] == [{"tag": "sunrise", "posts_count": 1}]


def test_pages_by_cursor_without_repeats(api, alice, bob):
    made = {str(post_with_prompt(alice, prompt="x", caption=f"heron {i}").id) for i in range(7)}
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = search(api(bob), "heron", **params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7 and set(seen) == made


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "cat", "type": "planets"}, "type"),
        ({"q": "cat", "limit": "0"}, "limit"),
        ({"q": "cat", "limit": "101"}, "limit"),
        ({"q": "cat", "limit": "many"}, "limit"),
        ({"q": "cat", "cursor": "not-a-cursor!"}, "cursor"),
        ({"q": "cat", "cursor": "x" * 300}, "cursor"),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape(anon, params, field):
    response = anon.get("/api/v1/search", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_odd_but_valid_queries_answer(anon, alice):
    post_with_prompt(alice, prompt="x", caption="hello")
    for q in ('"', "a & b | !c", "#", "\x00cat", "x" * 200, "(((", "'); drop table", "ÿ*"):
        for kind in ("posts", "people", "tags"):
            response = anon.get("/api/v1/search", {"q": q, "type": kind})
            assert response.status_code == 200, (q, kind, response.content)


@pytest.mark.parametrize("kind", ["posts", "people", "tags"])
def test_queries_per_page_do_not_grow_with_the_page(
    api, make_user, alice, bob, django_assert_max_num_queries, kind
):
    social.follow_create(follower=bob, followee=alice)
    for i in range(30):
        author = make_user(f"wren{i}", display_name="Wren")
        post_with_prompt(author, prompt="x", caption=f"wren #wren{i}")
    tag_counts_refresh()
    client = api(bob)
    search(client, "wren", kind)  # the token's first use is recorded once
    counts = []
    for limit in (5, 30):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            response = search(client, "wren", kind, limit=limit)
        assert len(response.json()["items"]) == limit
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(8):
        search(client, "wren", kind, limit=30)


def test_the_search_page(alice, bob):
    post = post_with_prompt(alice, prompt="x", caption="Puffin colony #puffins")
    site = Client()
    page = site.get("/search", {"q": "puffin"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="post-{post.id}"' in html and "Puffin colony" in html
    assert 'data-testid="search-tab-people"' in html
    people = site.get("/search", {"q": "alice", "type": "people"}).content.decode()
    assert "@alice" in people
    tag_counts_refresh()
    tags = site.get("/search", {"q": "puf", "type": "tags"}).content.decode()
    assert 'href="/tags/puffins"' in tags
    # The navigation carries the search box on every page.
    assert 'data-testid="nav-search"' in site.get("/").content.decode()
    assert site.get("/search", {"q": "x" * 300}).status_code == 400
    assert site.get("/search").status_code == 200
    bob_site = Client()
    bob_site.force_login(bob)
    social.block_create(blocker=bob, blocked=alice)
    assert f'id="post-{post.id}"' not in bob_site.get("/search", {"q": "puffin"}).content.decode()

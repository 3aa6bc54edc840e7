"""The post page, the profile page and the feed pages cost a fixed number of queries whatever
the number of comments, remixes, similar posts or posts; and the post page's "more like this",
whose candidates are kept for everyone a short while, still shows each viewer only what they
may see, right after it changes."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.posts import services as post_services
from apps.posts.models import Post
from apps.social import services as social
from tests.discovery.test_explore import post_with

pytestmark = pytest.mark.django_db

# Signed in, with a post that has comments, replies and remixes, and more like it.
POST_PAGE_MAX = 17
PROFILE_PAGE_MAX = 10
SCORING_QUERIES = 5  # the candidates of "more like this", once per post a while
FEED_PAGE_MAX = 7


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def similar_on_page(client, post) -> list[str]:
    response = client.get(f"/p/{post.id}")
    assert response.status_code == 200
    html = response.content.decode()
    return re.findall(r'data-testid="similar-post" data-post-id="(\d+)"', html)


def similar_by_api(api_client, post) -> list[str]:
    response = api_client.get(f"/api/v1/posts/{post.id}/similar")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["items"]]


def forget_similar(post) -> None:
    """Drop the candidates kept for ``post``'s "more like this" (as their time running out does)."""
    from django.core.cache import cache

    from apps.discovery.selectors import _pool_key

    cache.delete(_pool_key(post))


def test_post_page_queries_do_not_grow_with_comments_remixes_or_similar_posts(alice, bob):
    source = post_with(alice, prompt="amber tide pools at dusk", caption="#tides")
    client = signed_in(bob)
    page_queries(client, f"/p/{source.id}")  # the first request of a session
    post_services.comment_create(user=bob, post_id=source.id, body="Lovely", parent_id=None)
    post_with(bob, prompt="amber tide pools", remix_of=source.id)
    forget_similar(source)
    few_scored = page_queries(client, f"/p/{source.id}")  # candidates scored
    few = page_queries(client, f"/p/{source.id}")  # kept
    for i in range(8):
        comment = post_services.comment_create(
            user=bob, post_id=source.id, body=f"Comment {i}", parent_id=None
        )
        post_services.comment_create(
            user=alice, post_id=source.id, body=f"Reply {i}", parent_id=comment.id
        )
        post_with(bob, prompt=f"amber tide pools {i}", caption="#tides", remix_of=source.id)
    forget_similar(source)
    many_scored = page_queries(client, f"/p/{source.id}")
    many = page_queries(client, f"/p/{source.id}")
    assert (many, many_scored) == (few, few_scored)
    assert many <= POST_PAGE_MAX
    assert many_scored <= POST_PAGE_MAX + SCORING_QUERIES
    assert len(similar_on_page(client, source)) > 5


def test_profile_page_queries_do_not_grow_with_posts(alice, bob):
    client = signed_in(bob)
    post_with(alice, prompt="one")
    page_queries(client, f"/u/{alice.username}")
    few = page_queries(client, f"/u/{alice.username}")
    for i in range(12):
        post_with(alice, prompt=f"post {i}", caption=f"#tag{i}")
    many = page_queries(client, f"/u/{alice.username}")
    assert many == few
    assert many <= PROFILE_PAGE_MAX


def test_profile_page_counts_and_buttons_as_the_viewer_sees_them(make_user, alice, bob, carol):
    social.follow_create(follower=bob, followee=alice)
    social.follow_create(follower=carol, followee=alice)
    social.follow_create(follower=alice, followee=carol)
    post_with(alice, prompt="public")
    post_with(alice, prompt="for followers", visibility="followers")
    post_with(alice, prompt="mine", visibility="private")
    html = signed_in(bob).get(f"/u/{alice.username}").content.decode()
    assert "2 posts" in html and "2 followers" in html and "1 following" in html
    assert "Unfollow" in html or "Following" in html
    html = Client().get(f"/u/{alice.username}").content.decode()
    assert "1 posts" in html
    html = signed_in(alice).get(f"/u/{alice.username}").content.decode()
    assert "3 posts" in html
    social.block_create(blocker=alice, blocked=bob)
    assert signed_in(bob).get(f"/u/{alice.username}").status_code == 404
    assert signed_in(carol).get("/u/nobody-at-all").status_code == 404


@pytest.mark.parametrize("url", ["/", "/?tab=public"])
def test_feed_pages_queries_do_not_grow_with_posts(alice, bob, url):
    social.follow_create(follower=bob, followee=alice)
    client = signed_in(bob)
    post_with(alice, prompt="one")
    page_queries(client, url)
    few = page_queries(client, url)
    for i in range(12):
        post_with(alice, prompt=f"post {i}")
    many = page_queries(client, url)
    assert many == few
    assert many <= FEED_PAGE_MAX


# --- more like this, kept for everyone, filtered for each viewer ---------------------------------

# Colours far apart, so that a post said not to be alike is not alike by its colour either.
DARK, LIGHT = "#000000", "#ffffff"


@pytest.fixture(autouse=True)
def _no_trending_head(monkeypatch):
    """Only word and tag candidates: the trending head's colours say nothing of words."""
    monkeypatch.setattr("apps.discovery.selectors.COLOUR_CANDIDATES", 0)


def test_page_shows_what_the_api_shows_for_each_viewer(api, make_user, alice, bob, carol):
    viewer = make_user("viewer")
    source = post_with(alice, prompt="velvet moth lantern glow", colour=DARK)
    shown = post_with(bob, prompt="velvet moth lantern")
    followers = post_with(carol, prompt="velvet moth lantern", visibility="followers")
    social.follow_create(follower=viewer, followee=carol)
    hidden = post_with(bob, prompt="velvet moth lantern glow", hide_prompt=True, colour=LIGHT)
    for person in (viewer, alice, bob, carol):
        on_page = similar_on_page(signed_in(person), source)
        assert set(on_page) == set(similar_by_api(api(person), source)), person.username
    assert str(followers.id) in similar_on_page(signed_in(viewer), source)
    assert str(shown.id) in similar_on_page(Client(), source)
    assert str(followers.id) not in similar_on_page(Client(), source)
    # A hidden prompt's words make its post alike for its creator alone.
    assert str(hidden.id) in similar_on_page(signed_in(bob), source)
    assert str(hidden.id) not in similar_on_page(signed_in(viewer), source)


def test_kept_candidates_never_show_what_became_private_removed_blocked_or_muted(
    make_user, alice, bob, carol
):
    viewer = make_user("viewer")
    dave, erin = make_user("dave"), make_user("erin")
    source = post_with(alice, prompt="copper lantern harbour fog")
    made_private = post_with(bob, prompt="copper lantern harbour fog")
    removed = post_with(carol, prompt="copper lantern harbour fog")
    blocker = post_with(dave, prompt="copper lantern harbour fog")
    muted = post_with(erin, prompt="copper lantern harbour fog")
    everyone = {str(p.id) for p in (made_private, removed, blocker, muted)}
    # Kept for everyone now (the first view scores the candidates).
    assert set(similar_on_page(signed_in(viewer), source)) >= everyone
    assert set(similar_on_page(Client(), source)) >= everyone

    Post.objects.filter(id=made_private.id).update(visibility="private")
    Post.objects.filter(id=removed.id).update(removed_at=timezone.now(), removed_reason="x")
    social.block_create(blocker=dave, blocked=viewer)
    social.mute_create(muter=viewer, muted=erin)
    after = set(similar_on_page(signed_in(viewer), source))
    assert after.isdisjoint(everyone)
    anonymous = set(similar_on_page(Client(), source))
    assert str(made_private.id) not in anonymous
    assert str(removed.id) not in anonymous
    assert {str(blocker.id), str(muted.id)} <= anonymous  # blocks and mutes are the viewer's
    # The private post's author still finds it.
    assert str(made_private.id) in similar_on_page(signed_in(bob), source)


def test_a_prompt_hidden_after_its_post_was_scored_lends_no_words(api, make_user, alice, bob):
    viewer = make_user("viewer")
    source = post_with(alice, prompt="zircon owl cathedral", colour=DARK)
    by_words = post_with(bob, prompt="zircon owl cathedral", colour=LIGHT)
    assert str(by_words.id) in similar_on_page(signed_in(viewer), source)  # scored and kept
    post_services.post_update(user=bob, post_id=by_words.id, hide_prompt=True)
    assert str(by_words.id) not in similar_on_page(signed_in(viewer), source)
    assert str(by_words.id) not in similar_on_page(Client(), source)
    assert similar_on_page(signed_in(viewer), source) == similar_by_api(api(viewer), source)
    # Its creator still sees it alike by their own words.
    assert str(by_words.id) in similar_on_page(signed_in(bob), source)


def test_a_hidden_source_prompt_lends_no_words_but_to_its_creator(make_user, alice, bob):
    viewer = make_user("viewer")
    source = post_with(alice, prompt="quartz heron marsh", hide_prompt=True, colour=DARK)
    alike = post_with(bob, prompt="quartz heron marsh", colour=LIGHT)
    assert str(alike.id) not in similar_on_page(signed_in(viewer), source)
    assert str(alike.id) in similar_on_page(signed_in(alice), source)
    # Shown again: the page scores by its words from then on.
    post_services.post_update(user=alice, post_id=source.id, hide_prompt=False)
    assert str(alike.id) in similar_on_page(signed_in(viewer), source)

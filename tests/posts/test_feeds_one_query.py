"""Every feed (home, public, trending, a #hashtag, a profile) is one query a page, on the API
and on the pages and their htmx partials, whatever the page's size, and holds exactly the posts
the visibility rule allows: blocks both ways, mutes, private accounts, take-downs, suspended
authors and the viewer's sensitive-media setting, in the same order as before and page after
page, with the same JSON as ``PostOut``."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.services import user_suspend, user_update
from apps.media.services import asset_create
from apps.posts import selectors, services
from apps.posts.models import Post
from apps.social import services as social_services
from apps.social.models import Follow
from tests.conftest import client_for, png_bytes

pytestmark = pytest.mark.django_db

TAG = "glow"


@pytest.fixture
def world(make_user):
    """Twelve accounts around ``viewer``, 90 posts, reactions from the viewer and others."""
    viewer = make_user("viewer")
    friends = [make_user(f"friend{i}") for i in range(3)]  # followed
    strangers = [make_user(f"stranger{i}") for i in range(2)]  # public, not followed
    locked = make_user("locked", is_private=True)  # private, followed (approved)
    closed = make_user("closed", is_private=True)  # private, not followed
    muted, blocker, blocked, gone = (make_user(n) for n in ("muted", "blocker", "blocked", "gone"))
    for friend in (*friends, muted, blocker, blocked, gone):
        social_services.follow_create(follower=viewer, followee=friend)
    Follow.objects.create(follower=viewer, followee=locked)
    authors = [*friends, *strangers, locked, closed, muted, blocker, blocked, gone, viewer]
    fans = [make_user(f"fan{i}") for i in range(3)]
    visibilities = ("public", "public", "followers", "public", "private")
    posts = []
    for i in range(90):
        author = authors[i % len(authors)] if i % 3 else friends[0]  # friend0: a long profile
        asset = asset_create(owner=author, data=png_bytes(), mime="image/png", width=8, height=8)
        post = services.post_publish(
            author=author,
            asset_id=asset.id,
            caption=f"number {i}" + (f" #{TAG}" if i % 2 == 0 else ""),
            visibility=visibilities[i % len(visibilities)],
            sensitive=i % 7 == 0,
        )
        posts.append(post)
        reactions = [(fan, "love") for fan in fans[: i % 4]]
        reactions += [(viewer, "like")] * (i % 3 == 0) + [(viewer, "fire")] * (i % 4 == 0)
        for user, kind in reactions:
            if Post.objects.visible_to(user).filter(id=post.id).exists():
                services.reaction_add(user=user, post_id=post.id, kind=kind)
    social_services.mute_create(muter=viewer, muted=muted)
    social_services.block_create(blocker=blocker, blocked=viewer)
    social_services.block_create(blocker=viewer, blocked=blocked)
    user_suspend(user=gone)
    taken = [p for p in posts if p.author_id == friends[1].pk][:2]  # a moderation take-down
    Post.objects.filter(id__in=[p.id for p in taken]).update(
        removed_at=timezone.now(), removed_reason="rules"
    )
    return viewer


# --- what each feed must hold, worked out here from the rows themselves ---------------------


def _expected(feed: str, viewer, *, key: str | None = None) -> list[int]:
    """The ids ``feed`` must show ``viewer`` (None: signed out), in order, from first principles."""
    from apps.social.models import Block, Mute

    vid = viewer.pk if viewer else None
    follows = set(Follow.objects.filter(follower_id=vid).values_list("followee_id", flat=True))
    blocks = {
        b if a == vid else a
        for a, b in Block.objects.filter(blocker_id=vid).values_list("blocker_id", "blocked_id")
    } | set(Block.objects.filter(blocked_id=vid).values_list("blocker_id", flat=True))
    mutes = set(Mute.objects.filter(muter_id=vid).values_list("muted_id", flat=True))
    hide_sensitive = viewer is not None and viewer.sensitive_media == "hide"
    out = []
    for post in Post.objects.select_related("author").order_by("-id"):
        author = post.author
        if post.removed_at is not None or not author.is_active or author.pk in blocks:
            continue
        own = author.pk == vid
        sees = (
            own
            or (post.visibility == "public" and not author.is_private)
            or (post.visibility in ("public", "followers") and author.pk in follows)
        )
        if not sees:
            continue
        if feed != "user" and (
            author.pk in mutes or (hide_sensitive and post.sensitive and not own)
        ):
            continue
        if (
            (feed == "home" and (own or author.pk in follows))
            or (feed in ("public", "trending") and post.visibility == "public")
            or (feed == "tag" and f"#{key}" in post.caption)
            or (feed == "user" and author.username == key)
        ):
            out.append(post)
    if feed == "trending":
        out.sort(key=lambda p: (p.trend_score, p.id), reverse=True)
    return [p.id for p in out]


API = {
    "home": "/api/v1/feed/home",
    "public": "/api/v1/feed/public?sort=recent",
    "trending": "/api/v1/feed/public?sort=trending",
    "tag": f"/api/v1/tags/{TAG}/posts",
    "user": "/api/v1/users/friend0/posts",
}
KEYS = {"tag": TAG, "user": "friend0"}


def _join(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _all_pages(client, url: str, limit: int) -> list[int]:
    ids, cursor = [], None
    for _ in range(50):
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(_join(url, query)).json()
        ids += [int(item["id"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("endless paging")


def test_every_api_feed_shows_what_the_rule_allows_page_after_page(world):
    viewer_client = client_for(world)
    for feed, url in API.items():
        for who, client in (("viewer", viewer_client), ("signed out", Client())):
            if feed == "home" and who == "signed out":
                continue
            viewer = world if who == "viewer" else None
            expected = _expected(feed, viewer, key=KEYS.get(feed))
            assert len(expected) >= 8, (feed, who)  # enough to page through
            assert _all_pages(client, url, 3) == expected, (feed, who)
            assert _all_pages(client, url, 100) == expected, (feed, who)
    # The viewer hides sensitive media: gone from every feed but a profile, their own kept.
    user_update(user=world, sensitive_media="hide")
    world.refresh_from_db()
    for feed, url in API.items():
        expected = _expected(feed, world, key=KEYS.get(feed))
        assert _all_pages(viewer_client, url, 4) == expected, feed
    assert any(
        p.sensitive for p in Post.objects.filter(id__in=_expected("user", world, key="friend0"))
    )


def test_the_api_json_is_postout_of_the_same_posts(world):
    """The one-query rows answer exactly what ``PostOut`` makes of the posts the models give
    (reactions, the viewer's own, authors, assets, remix and sensitive labels)."""
    from apps.core.pagination import PageParams
    from apps.posts.serializers import PostOut

    client = client_for(world)
    params = PageParams(limit=30)
    pages = {
        "home": selectors.feed_home(viewer=world, params=params),
        "public": selectors.feed_public(viewer=world, params=params),
        "trending": selectors.feed_trending(viewer=world, limit=30, cursor=None),
        "tag": selectors.feed_tag(tag=TAG, viewer=world, params=params),
    }
    author = type(world).objects.get(username="friend0")
    pages["user"] = selectors.feed_user(author=author, viewer=world, params=params)
    for feed, page in pages.items():
        reacted = selectors.viewer_reactions(viewer=world, post_ids=[p.id for p in page.items])
        assert {p.id: sorted(p.viewer_reacted) for p in page.items} == {
            k: sorted(v) for k, v in reacted.items()
        }, feed
        slow = PostOut(page.items, many=True, context={"viewer_reactions": reacted}).data
        slow = json.loads(json.dumps(slow, default=str))
        fast = client.get(_join(API[feed], "limit=30")).json()
        for item in (*slow, *fast["items"]):
            item["viewer_reactions"] = sorted(item["viewer_reactions"])
        assert fast["items"] == slow, feed
        assert fast["next_cursor"] == page.next_cursor, feed
        assert any(item["viewer_reactions"] == ["fire", "like"] for item in fast["items"]), feed
        assert any(item["reactions"]["love"] for item in fast["items"]), feed


def _feed_queries(captured) -> dict[str, int]:
    """The queries of a request that read posts, reactions, blocks or mutes, by kind."""
    kinds = {"page": 0, "other feed reads": 0}
    for query in captured.captured_queries:
        sql = query["sql"]
        if sql.startswith('SELECT "posts_post"."id"'):
            kinds["page"] += 1
        elif re.match(r'^\(?SELECT "(posts_reaction|social_block|social_mute|posts_posttag)"', sql):
            kinds["other feed reads"] += 1
    return kinds


def test_api_feeds_are_one_query_a_page_whatever_its_size(world):
    client = client_for(world)
    client.get(API["home"])  # the token's first use is recorded once
    for who, c, most in (("viewer", client, 2), ("signed out", Client(), 1)):
        for feed, url in API.items():
            if feed == "home" and who == "signed out":
                continue
            counts = {}
            for limit in (3, 12):
                with CaptureQueriesContext(connection) as captured:
                    response = c.get(_join(url, f"limit={limit}"))
                assert response.status_code == 200, (feed, who)
                assert len(response.json()["items"]) == limit, (feed, who)
                counts[limit] = len(captured)
                sqls = [q["sql"][:120] for q in captured.captured_queries]
                assert len(captured) <= most, (feed, who, sqls)  # the token, the page
                assert _feed_queries(captured) == {"page": 1, "other feed reads": 0}, sqls
            assert counts[3] == counts[12], (feed, who, counts)
        # The next page by cursor costs the same.
        for feed, url in API.items():
            if feed == "home" and who == "signed out":
                continue
            cursor = c.get(_join(url, "limit=3")).json()["next_cursor"]
            with CaptureQueriesContext(connection) as captured:
                c.get(_join(url, f"limit=3&cursor={cursor}"))
            assert len(captured) <= most, (feed, who)


def test_a_profile_that_is_unknown_is_404_and_one_that_shows_nothing_is_empty(world, make_user):
    client = client_for(world)
    assert client.get("/api/v1/users/nobody_here/posts").status_code == 404
    assert client.get("/api/v1/users/gone/posts").status_code == 404  # suspended
    for name in ("closed", "blocker", "FRIEND0"):
        response = client.get(f"/api/v1/users/{name}/posts")
        assert response.status_code == 200, name
    assert client.get("/api/v1/users/closed/posts").json() == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/users/blocker/posts").json()["items"] == []
    assert [i["id"] for i in client.get("/api/v1/users/FRIEND0/posts").json()["items"]] == [
        i["id"] for i in client.get("/api/v1/users/friend0/posts").json()["items"]
    ]


SITE = {
    "home page": "/?tab=home",
    "public page": "/?tab=public",
    "trending page": "/?tab=trending",
    "tag page": f"/tags/{TAG}",
    "home cards": "/feed/cards?tab=home",
    "public cards": "/feed/cards?tab=public",
    "trending cards": "/feed/cards?tab=trending",
    "tag cards": f"/feed/cards?tab=tag&tag={TAG}",
}


def _card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article class="card[^"]*" id="post-(\d+)"', html)]


def test_site_feeds_are_one_query_a_page_whatever_its_size(world):
    """On the pages the feed is one query; the rest is the request's sign-in (session, user) and
    the page's frame, the same for a page of 3 cards or of 12."""
    browser = Client()
    browser.force_login(world)
    browser.get("/")  # warm: anything the first request records once
    for who, c in (("viewer", browser), ("signed out", Client())):
        for name, url in SITE.items():
            if name.startswith("home") and who == "signed out":
                continue
            counts = {}
            for limit in (3, 12):
                with CaptureQueriesContext(connection) as captured:
                    response = c.get(_join(url, f"limit={limit}"))
                assert response.status_code == 200, (name, who)
                assert len(_card_ids(response.content.decode())) == limit, (name, who)
                sqls = [q["sql"][:120] for q in captured.captured_queries]
                assert _feed_queries(captured) == {"page": 1, "other feed reads": 0}, sqls
                counts[limit] = len(captured)
                if "cards" in name:  # the partial: sign-in (session, user) and the page
                    assert len(captured) <= (3 if who == "viewer" else 1), (name, who, sqls)
            assert counts[3] == counts[12], (name, who, counts)


def test_site_feeds_show_the_same_cards_and_the_viewers_reactions(world):
    browser = Client()
    browser.force_login(world)
    feeds = {
        "home": "/?tab=home",
        "public": "/?tab=public",
        "trending": "/?tab=trending",
        "tag": f"/tags/{TAG}",
    }
    for feed, url in feeds.items():
        html = browser.get(_join(url, "limit=100")).content.decode()
        assert _card_ids(html) == _expected(feed, world, key=KEYS.get(feed)), feed
        # The viewer's own reactions are pressed on the cards they gave them to.
        ids = _card_ids(html)
        reacted = selectors.viewer_reactions(viewer=world, post_ids=ids)
        liked = {post_id for post_id, kinds in reacted.items() if "like" in kinds}
        pressed = set()
        for card in re.split(r'<article class="card', html)[1:]:
            post_id = int(re.search(r'id="post-(\d+)"', card).group(1))
            if re.search(r'data-kind="like"[^>]*aria-pressed="true"', card):
                pressed.add(post_id)
        assert liked and pressed == liked, feed
    # A profile page shows the posts its API does, with the viewer's reactions pressed too.
    html = browser.get("/u/friend0").content.decode()
    assert _card_ids(html) == _expected("user", world, key="friend0")[:30]
    assert 'aria-pressed="true"' in html

"""A feed page costs the same few queries whether it holds 10, 50 or 100 posts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.media.services import asset_create
from apps.posts import services
from apps.social import services as social_services
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db

FEEDS = [
    "/api/v1/feed/home",
    "/api/v1/feed/public",
    "/api/v1/feed/public?sort=trending",
    "/api/v1/tags/busy/posts",
    "/api/v1/users/author0/posts",
]


@pytest.fixture
def busy_world(make_user):
    viewer = make_user("viewer")
    authors = [make_user(f"author{i}") for i in range(5)]
    muted, blocker = make_user("muted"), make_user("blocker")
    social_services.mute_create(muter=viewer, muted=muted)
    social_services.block_create(blocker=blocker, blocked=viewer)
    for author in authors:
        social_services.follow_create(follower=viewer, followee=author)
    for i in range(210):
        author = authors[0] if i % 2 == 0 else authors[1 + i % 4]
        asset = asset_create(owner=author, data=png_bytes(), mime="image/png", width=8, height=8)
        post = services.post_publish(
            author=author,
            asset_id=asset.id,
            caption=f"#busy number {i}",
            visibility="followers" if i % 10 == 0 else "public",
        )
        if i % 3 == 0:
            services.reaction_add(user=viewer, post_id=post.id, kind="like")
    return viewer


def test_queries_per_page_are_constant(api, busy_world, publish, make_user):
    client = api(busy_world)
    client.get(FEEDS[0])  # warm: the token's first use is recorded once
    for url in FEEDS:
        _check(client, url)
    _fast_json_equals_the_serializer(busy_world, publish, make_user)


def _check(client, url):
    counts = {}
    for limit in (10, 50, 100):
        sep = "&" if "?" in url else "?"
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"{url}{sep}limit={limit}")
        assert response.status_code == 200, url
        items = response.json()["items"]
        assert len(items) == limit, url
        assert any(item["viewer_reactions"] == ["like"] for item in items)
        counts[limit] = len(queries)
    assert counts[10] == counts[50] == counts[100], (url, counts)
    assert counts[100] <= 5, [q["sql"] for q in queries.captured_queries]


def _fast_json_equals_the_serializer(busy_world, publish, make_user):
    """The feed's fast JSON is exactly what ``PostOut`` makes."""
    from apps.core.pagination import PageParams
    from apps.posts import selectors
    from apps.posts.serializers import PostOut, posts_data

    other = make_user()
    publish(other, caption="a remix #busy", sensitive=True)
    page = selectors.feed_public(viewer=busy_world, params=PageParams(limit=30))
    reacted = selectors.viewer_reactions(viewer=busy_world, post_ids=[p.id for p in page.items])
    slow = PostOut(page.items, many=True, context={"viewer_reactions": reacted}).data
    import json

    assert json.loads(json.dumps(posts_data(page.items, reacted))) == json.loads(
        json.dumps(slow, default=str)
    )


def test_home_feed_json_is_postout(api, make_user, make_asset, publish):
    """The home feed's one-query path answers exactly what ``PostOut`` makes of the same posts
    (variant URLs with their versions, the viewer's reactions, sensitive labels), leaves out
    blocked and muted authors, and pages by ``cursor`` and ``since`` like every feed."""
    import json

    from apps.accounts.services import user_update
    from apps.core.pagination import PageParams
    from apps.media.models import Asset
    from apps.posts import selectors
    from apps.posts.serializers import PostOut, posts_data

    viewer = make_user("homeviewer")
    friend, quiet, blocker, avatar_owner = (
        make_user(n) for n in ("friend", "quiet", "blocker", "avatarowner")
    )
    for other in (friend, quiet, blocker, avatar_owner):
        social_services.follow_create(follower=viewer, followee=other)
    posted = [
        publish(friend, caption="#one first"),
        publish(friend, "followers", caption="only followers", sensitive=True),
        publish(quiet, caption="muted soon"),
        publish(blocker, caption="blocked soon"),
        publish(avatar_owner, caption="with a face"),
        publish(viewer, "private", caption="mine #two"),
    ]
    Asset.objects.filter(id=int(posted[0]["asset"]["id"])).update(
        variants={
            "thumb": "variants/thumb/ab/cd/abcd-2b938826.webp",
            "preview": "p/x-90c7b43b.webp",
        }
    )
    avatar = make_asset(avatar_owner)
    type(avatar_owner).objects.filter(pk=avatar_owner.pk).update(avatar_id=avatar.id)
    services.reaction_add(user=viewer, post_id=int(posted[0]["id"]), kind="fire")
    services.reaction_add(user=viewer, post_id=int(posted[0]["id"]), kind="like")
    social_services.mute_create(muter=viewer, muted=quiet)
    social_services.block_create(blocker=blocker, blocked=viewer)

    client = api(viewer)
    items = client.get("/api/v1/feed/home?limit=100").json()["items"]
    expected_ids = [posted[i]["id"] for i in (5, 4, 1, 0)]
    assert [item["id"] for item in items] == expected_ids
    page = selectors.feed_home(viewer=viewer, params=PageParams(limit=100))
    reacted = selectors.viewer_reactions(viewer=viewer, post_ids=[p.id for p in page.items])
    context = {"viewer_reactions": reacted}
    slow = json.loads(json.dumps(PostOut(page.items, many=True, context=context).data, default=str))
    assert items == slow
    assert json.loads(json.dumps(posts_data(page.items, reacted))) == slow  # the other feeds' path
    assert sorted(items[3]["viewer_reactions"]) == ["fire", "like"]
    assert items[3]["asset"]["variants"]["thumb"].endswith("/thumb?v=2b938826")
    assert items[1]["author"]["avatar_url"].endswith(f"/{avatar.id}/thumb")

    first = client.get("/api/v1/feed/home?limit=2").json()
    assert [i["id"] for i in first["items"]] == expected_ids[:2]
    rest = client.get(f"/api/v1/feed/home?limit=2&cursor={first['next_cursor']}").json()
    assert [i["id"] for i in rest["items"]] == expected_ids[2:]
    assert rest["next_cursor"] is None
    newer = client.get(f"/api/v1/feed/home?since={expected_ids[2]}").json()["items"]
    assert [i["id"] for i in newer] == expected_ids[:2]

    user_update(user=viewer, sensitive_media="hide")
    hidden = client.get("/api/v1/feed/home").json()["items"]
    assert [i["id"] for i in hidden] == [expected_ids[0], expected_ids[1], expected_ids[3]]

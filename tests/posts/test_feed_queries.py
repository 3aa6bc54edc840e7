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

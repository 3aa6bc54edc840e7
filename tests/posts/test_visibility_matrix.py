"""The visibility matrix: public, followers and private posts against anonymous, stranger,
follower, blocked and owner viewers, over every read path: REST, pages, media and sockets.

``blocked`` followed the owner until the owner blocked them (which also ended the follow).
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from apps.posts import services as post_services
from apps.social import services as social_services
from tests.conftest import client_for
from tests.realtime.sockets import connect, publish, subscribe, token_socket

VISIBILITIES = ("public", "followers", "private")
VIEWERS = ("anonymous", "stranger", "follower", "blocked", "owner")
SEES = {
    "public": {"anonymous", "stranger", "follower", "owner"},
    "followers": {"follower", "owner"},
    "private": {"owner"},
}


def _world(make_user):
    owner = make_user("owner")
    people = {
        "owner": owner,
        "follower": make_user("follower"),
        "stranger": make_user("stranger"),
        "blocked": make_user("blocked"),
        "anonymous": None,
    }
    social_services.follow_create(follower=people["follower"], followee=owner)
    social_services.follow_create(follower=people["blocked"], followee=owner)
    social_services.block_create(blocker=owner, blocked=people["blocked"])
    return people


def _paths(post_id: str, asset_url: str, signed_in: bool) -> dict[str, tuple[str, object]]:
    """Each read path and how to tell that it showed the post."""
    in_items = ("items", post_id)
    paths = {
        "api detail": (f"/api/v1/posts/{post_id}", 200),
        "api comments": (f"/api/v1/posts/{post_id}/comments", 200),
        "api remixes": (f"/api/v1/posts/{post_id}/remixes", 200),
        "api profile posts": ("/api/v1/users/owner/posts", in_items),
        "api hashtag feed": ("/api/v1/tags/matrix/posts", in_items),
        "api public feed": ("/api/v1/feed/public", in_items),
        "api trending feed": ("/api/v1/feed/public?sort=trending", in_items),
        "media original": (asset_url, 200),
        "page detail": (f"/p/{post_id}", 200),
        "page card": (f"/p/{post_id}/card", 200),
        "page comments": (f"/p/{post_id}/comments", 200),
        "page public feed": ("/?tab=public", ("html", post_id)),
        "page hashtag": ("/tags/matrix", ("html", post_id)),
        "page profile": ("/u/owner", ("html", post_id)),
    }
    if signed_in:
        paths["api home feed"] = ("/api/v1/feed/home", in_items)
        paths["page home feed"] = ("/?tab=home", ("html", post_id))
    return paths


def _expected(path: str, visibility: str, viewer: str) -> bool:
    sees = viewer in SEES[visibility]
    if "public feed" in path or "trending" in path:
        return sees and visibility == "public"
    if "home feed" in path:
        return sees and viewer in ("owner", "follower")
    return sees


@pytest.mark.django_db
@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("viewer", VIEWERS)
def test_http_read_paths(make_user, publish, visibility, viewer):
    people = _world(make_user)
    post = publish(people["owner"], visibility, caption="matrix #matrix")
    user = people[viewer]
    api, page = client_for(user), Client()
    if user is not None:
        page.force_login(user)
    wrong = []
    for name, (url, shown) in _paths(post["id"], post["asset"]["original_url"], bool(user)).items():
        client = page if name.startswith("page") or name.startswith("media") else api
        response = client.get(url)
        if shown == 200:
            saw = response.status_code == 200
            if not saw and response.status_code != 404:
                wrong.append(f"{name}: status {response.status_code}")
        elif shown[0] == "items":
            assert response.status_code == 200, (name, response.content)
            saw = post["id"] in [i["id"] for i in response.json()["items"]]
        else:
            saw = response.status_code == 200 and f'id="post-{post["id"]}"' in response.text
        if saw != _expected(name, visibility, viewer):
            wrong.append(f"{name}: {'shown' if saw else 'hidden'}")
    # Writes that read the post first: reacting and commenting answer 404 when it is hidden.
    if user is not None:
        react = api.post(f"/api/v1/posts/{post['id']}/reactions", {"kind": "like"}, format="json")
        comment = api.post(f"/api/v1/posts/{post['id']}/comments", {"body": "hi"}, format="json")
        for name, response, ok in (("react", react, 200), ("comment", comment, 201)):
            saw = response.status_code == ok
            if saw != (viewer in SEES[visibility]):
                wrong.append(f"{name}: status {response.status_code}")
    assert not wrong, f"{visibility} post, {viewer} viewer: {wrong}"


# --- sockets ---------------------------------------------------------------------------------


async def _socket(user):
    return await connect() if user is None else await token_socket(user)


async def _drain(ws, wait: float = 0.6) -> list[dict]:
    frames = []
    while not await ws.receive_nothing(timeout=wait):
        frames.append(await ws.receive_json_from(timeout=5))
    return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("viewer", VIEWERS)
async def test_socket_read_paths(make_user, viewer):
    """``post:<id>`` subscriptions, and ``post.created`` on ``public`` and ``home``."""
    people = await sync_to_async(_world)(make_user)
    user = people[viewer]
    ws = await _socket(user)
    await subscribe(ws, "public", *(["home"] if user is not None else []))

    posts = {}
    for visibility in VISIBILITIES:
        posts[visibility] = await publish(people["owner"], visibility)
    received = {e["post"]["id"] for e in await _drain(ws) if e.get("type") == "post.created"}
    expected = {str(posts[v].id) for v in VISIBILITIES if viewer in SEES[v]}
    if user is None or viewer == "stranger":
        expected = {str(posts["public"].id)}
    assert received == expected, f"post.created to {viewer}"

    result = await subscribe(ws, *(f"post:{posts[v].id}" for v in VISIBILITIES))
    allowed = {f"post:{posts[v].id}" for v in VISIBILITIES if viewer in SEES[v]}
    assert set(result["subscribed"]) == allowed, f"post streams for {viewer}"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_socket_hides_blocked_actors_on_a_shared_post(make_user):
    """On a third person's public post, the blocked side sees neither comments nor reactions'
    actors from the other: ``comment.created`` from the blocker does not reach the blocked."""
    people = await sync_to_async(_world)(make_user)
    host = await sync_to_async(make_user)("host")
    post = await publish(host, "public")
    blocked_ws = await token_socket(people["blocked"])
    stranger_ws = await token_socket(people["stranger"])
    for ws in (blocked_ws, stranger_ws):
        assert (await subscribe(ws, f"post:{post.id}"))["subscribed"] == [f"post:{post.id}"]
    await sync_to_async(post_services.comment_create)(
        user=people["owner"], post_id=post.id, body="from the blocker"
    )
    seen_by_stranger = [e["type"] for e in await _drain(stranger_ws)]
    seen_by_blocked = [e["type"] for e in await _drain(blocked_ws)]
    assert "comment.created" in seen_by_stranger
    assert "comment.created" not in seen_by_blocked
    for ws in (blocked_ws, stranger_ws):
        await ws.disconnect()

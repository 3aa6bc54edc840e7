"""A hidden prompt reaches nobody but its creator: on no endpoint, page, feed, socket or file.

The routes are discovered from the URL configuration, so a path added later is read too: route
parameters get sample values below (a parameter not listed yet gets every id or name of the
scene).
Each route is read as a follower, as someone else and as a visitor, and nothing they get may
contain any distinctive word of the prompt or the negative prompt. Positive controls (the
creator sees the prompt; a post that does not hide it shows it) prove the scan can see a leak.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.generation import services as generation
from apps.generation.models import GenerationJob
from apps.media.models import Asset
from apps.posts import fanout
from apps.posts.models import Post
from apps.realtime import presence
from apps.social import services as social

PROMPT = "zebraquokka lanternfish 7731 over a quiet harbour"
NEGATIVE = "moonwhistle gravelcress"
# Any of these in an answer is a leak (a truncated, escaped or re-worded prompt still has them).
SECRET_WORDS = ("zebraquokka", "lanternfish", "moonwhistle", "gravelcress")
TAG = "quokkaland"


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in SECRET_WORDS if w in lowered]


def assert_no_leak(text: str, where: str) -> None:
    found = leaks(text)
    assert not found, f"{where} shows the hidden prompt ({', '.join(found)})"


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        _, raw = account_services.token_create(user=user, scopes=["read", "write"])
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def site_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("latin-1")
    return response.content.decode("utf-8", "replace")


def run_job(client: APIClient, body: dict) -> GenerationJob:
    """Request a job over the API and run it as the worker does (same service, this thread)."""
    response = client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 202, response.content
    job_id = int(response.json()["id"])
    generation.job_run(job_id=job_id)
    job = GenerationJob.objects.get(id=job_id)
    assert job.status == "succeeded", job.error
    return job


def make_variants(asset: Asset) -> None:
    """What the media queue does after a job, so served variants are read too."""
    from apps.media.services import asset_make_variants

    asset_make_variants(asset=Asset.objects.get(id=asset.id))


@dataclass
class Scene:
    alice: User  # the creator, who hides her prompt
    bob: User  # follows alice, remixes her post, is mentioned
    carol: User  # follows nobody
    job: GenerationJob
    asset: Asset
    post: Post
    remix_job: GenerationJob
    remix: Post
    upscaled: Post  # an edit of the same asset, followers only, prompt hidden too
    comment_id: int
    values: dict[str, list[str]] = field(default_factory=dict)


def build_scene(make_user, events=None) -> Scene:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    social.follow_create(follower=bob, followee=alice)
    if events is not None:  # bob has the site open: the fan-out addresses online followers
        async_to_sync(presence.join)(user_id=bob.pk, channel="hidden-prompt-test")
    a = client_for(alice)
    job = run_job(
        a,
        {
            "kind": "image",
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "quality": "draft",
            "seed": 4242,
        },
    )
    asset = job.assets.get()
    make_variants(asset)
    response = a.post(
        "/api/v1/posts",
        {
            "asset_id": str(asset.id),
            "caption": f"dawn #{TAG} with @bob",
            "visibility": "public",
            "hide_prompt": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    post = Post.objects.get(id=int(response.json()["id"]))
    assert post.hide_prompt
    fanout.post_created(post_id=post.id)  # what the feed queue runs after commit

    # An edit keeps its source's prompt: alice upscales and shares it with followers, hidden.
    response = a.post(
        "/api/v1/edits",
        {"op": "upscale", "assets": [str(asset.id)], "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    generation.job_run(job_id=int(response.json()["id"]))
    edit_job = GenerationJob.objects.get(id=int(response.json()["id"]))
    assert edit_job.status == "succeeded", edit_job.error
    assert "zebraquokka" in edit_job.prompt
    response = a.post(
        "/api/v1/posts",
        {
            "asset_id": str(edit_job.assets.get().id),
            "caption": f"bigger #{TAG}",
            "visibility": "followers",
            "hide_prompt": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    upscaled = Post.objects.get(id=int(response.json()["id"]))
    fanout.post_created(post_id=upscaled.id)

    b = client_for(bob)
    comment = b.post(f"/api/v1/posts/{post.id}/comments", {"body": "how?"}, format="json")
    assert comment.status_code == 201, comment.content
    reacted = b.post(f"/api/v1/posts/{post.id}/reactions", {"kind": "fire"}, format="json")
    assert reacted.status_code == 200, reacted.content
    # Bob remixes: the Create page he is sent to, then his own prompt.
    remix_page = site_for(bob).get(f"/create?remix_of={post.id}")
    assert remix_page.status_code == 200
    assert_no_leak(body_of(remix_page), "the Create page opened to remix")
    remix_job = run_job(
        b,
        {
            "kind": "image",
            "prompt": "a red kite above dunes",
            "quality": "draft",
            "remix_of": str(post.id),
        },
    )
    assert_no_leak(remix_job.prompt + remix_job.negative_prompt, "the remixer's job")
    remix_asset = remix_job.assets.get()
    response = b.post(
        "/api/v1/posts",
        {"asset_id": str(remix_asset.id), "caption": f"my take #{TAG}", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 201, response.content
    remix = Post.objects.get(id=int(response.json()["id"]))
    assert remix.remix_of_id == post.id
    fanout.post_created(post_id=remix.id)

    scene = Scene(
        alice=alice,
        bob=bob,
        carol=carol,
        job=job,
        asset=asset,
        post=post,
        remix_job=remix_job,
        remix=remix,
        upscaled=upscaled,
        comment_id=int(comment.json()["id"]),
    )
    scene.values = route_values(scene)
    return scene


def route_values(scene: Scene) -> dict[str, list[str]]:
    """Sample values of every route parameter: the hidden post and everything around it."""
    mine = client_for(scene.alice)
    record_ids = set()
    for post in (scene.post, scene.remix, scene.upscaled):
        data = mine.get(f"/api/v1/posts/{post.id}").json()
        for value in (data.get("provenance_id"), data["asset"].get("provenance_id")):
            if value:
                record_ids.add(str(value))
    asset = Asset.objects.get(id=scene.asset.id)
    from apps.media import signing

    return {
        "post_id": [str(p.id) for p in (scene.post, scene.remix, scene.upscaled)],
        "asset_id": [str(p.asset_id) for p in (scene.post, scene.remix, scene.upscaled)],
        "job_id": [str(scene.job.id), str(scene.remix_job.id), str(scene.upscaled.asset.job_id)],
        "record_id": sorted(record_ids) or ["1"],
        "username": ["alice", "bob"],
        "tag": [TAG],
        "comment_id": [str(scene.comment_id)],
        "kind": ["fire"],
        "variant": ["original", *sorted(asset.variants)],
        # Signed media links as the API hands them out (for a visitor and for bob).
        "token": [
            signing.sign(asset_id=asset.id, variant="original", viewer_id=viewer)
            for viewer in (None, scene.bob.pk)
        ],
        # Things of one's own, or for moderators: not about the post, read anyway.
        "token_id": ["1"],
        "term_id": ["1"],
        "hold_id": ["1"],
    }


# Extra query strings for routes whose answer depends on them.
QUERIES = {
    "": ["?tab=public", "?tab=home", "?tab=trending"],
    "feed/cards": ["?tab=public", "?tab=home", f"?tab=tag&tag={TAG}"],
    "create": ["?remix_of={post_id}"],
    "api/v1/feed/public": ["?sort=trending"],
    "api/v1/generations": ["?status=succeeded"],
    # Search (when it exists): a hidden prompt's words must not even find the post.
    "api/v1/search": ["?q=zebraquokka&type=posts", "?q=lanternfish", f"?q={TAG}&type=posts"],
    "search": ["?q=zebraquokka", "?q=lanternfish&type=posts", f"?q={TAG}"],
}
SEARCHES_FOR_THE_PROMPT = ("q=zebraquokka", "q=lanternfish")

_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def routes() -> list[str]:
    """Every route of the site and the API, as its template (``p/<int:post_id>``)."""

    def walk(patterns, prefix: str = ""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    found = list(walk(get_resolver().url_patterns))
    regex_routes = [r for r in found if r.startswith("^")]
    assert not regex_routes, f"regex routes this test cannot fill in: {regex_routes}"
    return found


def values_for(scene: Scene, converter: str | None, name: str) -> list[str]:
    """Sample values of a route parameter. One this test does not know yet (a route added
    later) gets every id of the scene (an int) or every name and tag (a string), so the new
    path is still read; give it proper values in ``route_values`` when adding it."""
    if name in scene.values:
        return scene.values[name]
    if converter == "int":
        ids = ("post_id", "asset_id", "job_id", "comment_id", "record_id")
        return sorted({v for key in ids for v in scene.values[key]})
    return [*scene.values["username"], *scene.values["tag"], *scene.values["post_id"]]


def urls(scene: Scene) -> list[str]:
    """Every route filled in with every combination of sample values, plus query variants."""
    out = []
    for template in routes():
        params = [(m["converter"], m["name"]) for m in _PARAM.finditer(template)]
        filled = [template]
        for converter, name in params:
            filled = [
                re.sub(rf"<(?:\w+:)?{name}>", quote(value), url, count=1)
                for url in filled
                for value in values_for(scene, converter, name)
            ]
        for url in filled:
            out.append("/" + url)
            for query in QUERIES.get(template, []):
                out.append("/" + url + query.format(post_id=scene.post.id))
    return out


def signed_links(text: str) -> list[str]:
    return sorted(set(re.findall(r"/media/s/[A-Za-z0-9_:.\-]+", text)))


def read_everything(scene: Scene, viewer: User | None, label: str) -> dict[str, int]:
    """GET every route as ``viewer`` (API by token, pages by session) and fail on any leak.

    Returns how many answers of each status were read (so the caller can check the scan reached
    the paths it meant to)."""
    api, site = client_for(viewer), site_for(viewer)
    statuses: dict[str, int] = {}
    links: set[str] = set()
    for url in urls(scene):
        client = api if url.startswith("/api/") else site
        response = client.get(url)
        text = body_of(response)
        assert_no_leak(text + json.dumps(dict(response.headers)), f"GET {url} as {label}")
        statuses[url] = response.status_code
        links.update(signed_links(text))
        if any(q in url for q in SEARCHES_FOR_THE_PROMPT):
            for post in (scene.post, scene.upscaled):
                assert str(post.id) not in text, (
                    f"GET {url} as {label} finds a post by its hidden prompt"
                )
    for link in links:  # signed media links handed out in answers, fetched without credentials
        response = Client().get(link)
        assert_no_leak(body_of(response), f"GET {link} (signed, from {label}'s answers)")
    return statuses


@pytest.mark.django_db(transaction=True)
def test_a_hidden_prompt_appears_nowhere_but_for_its_creator(make_user, events):
    scene = build_scene(make_user, events)
    post = scene.post

    # The creator still sees it: the post page and her own job (positive controls).
    page = site_for(scene.alice).get(f"/p/{post.id}")
    assert "zebraquokka" in body_of(page), "the creator no longer sees her own prompt"
    assert (
        PROMPT
        in client_for(scene.alice).get(f"/api/v1/generations/{scene.job.id}").content.decode()
    )
    # The alt text offered from the prompt: to the creator only (the scan below reads it too).
    suggestion = client_for(scene.alice).get(f"/api/v1/assets/{scene.asset.id}/alt-suggestion")
    assert "zebraquokka" in suggestion.json()["suggestion"]

    viewers = {"a follower": scene.bob, "someone else": scene.carol, "a visitor": None}
    for label, viewer in viewers.items():
        statuses = read_everything(scene, viewer, label)
        # The scan really read the post, not only 404s.
        assert statuses[f"/p/{post.id}"] == 200
        assert statuses[f"/p/{post.id}/card"] == 200
        assert statuses[f"/api/v1/posts/{post.id}"] == 200
        assert statuses[f"/media/assets/{scene.asset.id}/original"] == 200
        assert statuses[f"/tags/{TAG}"] == 200 and statuses["/u/alice"] == 200
        suggested = statuses[f"/api/v1/assets/{scene.asset.id}/alt-suggestion"]
        assert suggested == (401 if viewer is None else 404)
        follower_only = statuses[f"/p/{scene.upscaled.id}"]
        assert follower_only == (200 if viewer == scene.bob else 404)

    # What bob's own reads return after he acted on the post.
    b = client_for(scene.bob)
    notifications = b.get("/api/v1/notifications").json()["items"]
    assert any(n["type"] == "mention" for n in notifications), "the mention was not notified"
    assert_no_leak(json.dumps(notifications), "bob's notifications")
    assert_no_leak(
        b.post(
            f"/api/v1/posts/{post.id}/reactions", {"kind": "wow"}, format="json"
        ).content.decode(),
        "a reaction's answer",
    )

    # The files everyone may fetch: original and every variant, as a visitor.
    asset = Asset.objects.get(id=scene.asset.id)
    for variant in ["original", *asset.variants]:
        response = Client().get(f"/media/assets/{asset.id}/{variant}")
        assert response.status_code in (200, 304), (variant, response.status_code)
        assert_no_leak(body_of(response), f"the {variant} file")
    with default_storage.open(asset.original, "rb") as f:
        assert_no_leak(f.read().decode("latin-1"), "the stored original")

    # Verify: anyone may upload a copy and learn what the record shows them.
    with default_storage.open(asset.original, "rb") as f:
        data = f.read()
    from django.core.files.uploadedfile import SimpleUploadedFile

    for viewer in (scene.carol, None):
        upload = SimpleUploadedFile("copy.png", data, content_type="image/png")
        response = client_for(viewer).post(
            "/api/v1/provenance/verify", {"file": upload}, format="multipart"
        )
        assert_no_leak(body_of(response), "the verify answer")

    # Socket events: everything that went out, except the creator's own job updates.
    alice_group = f"user.{scene.alice.pk}"
    assert any(e["type"] == "post.created" for g, e in events.sent if g == f"user.{scene.bob.pk}")
    assert any(e["type"] == "post.created" for g, e in events.sent if g == "public")
    for group, event in events.sent:
        if group != alice_group:
            assert_no_leak(json.dumps(event), f"the {event['type']} event to {group}")


@pytest.mark.django_db(transaction=True)
def test_the_creator_can_hide_or_show_it_later(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    a, b = client_for(alice), client_for(bob)
    job = run_job(
        a, {"kind": "image", "prompt": PROMPT, "negative_prompt": NEGATIVE, "quality": "draft"}
    )
    response = a.post(
        "/api/v1/posts",
        {"asset_id": str(job.assets.get().id), "visibility": "public", "hide_prompt": True},
        format="json",
    )
    post = Post.objects.get(id=int(response.json()["id"]))
    assert_no_leak(body_of(site_for(bob).get(f"/p/{post.id}")), "the post page")
    assert (
        b.patch(f"/api/v1/posts/{post.id}", {"hide_prompt": False}, format="json").status_code
        == 403
    )
    assert Client().get(f"/p/{post.id}").status_code == 200

    shown = a.patch(f"/api/v1/posts/{post.id}", {"hide_prompt": False}, format="json")
    assert shown.status_code == 200 and shown.json()["hide_prompt"] is False
    # A prompt that is not hidden shows on the post page: the scan above can see a leak.
    page = body_of(site_for(bob).get(f"/p/{post.id}"))
    assert "zebraquokka lanternfish" in page and "moonwhistle" in page

    hidden = a.patch(f"/api/v1/posts/{post.id}", {"hide_prompt": True}, format="json")
    assert hidden.status_code == 200 and hidden.json()["hide_prompt"] is True
    assert_no_leak(body_of(site_for(bob).get(f"/p/{post.id}")), "the post page after hiding")
    assert_no_leak(body_of(Client().get(f"/p/{post.id}")), "the post page after hiding")

    # On the site: the author's button on the post page; nobody else's request changes it.
    alice_site = site_for(alice)
    assert 'data-testid="prompt-toggle"' in body_of(alice_site.get(f"/p/{post.id}"))
    assert 'data-testid="prompt-toggle"' not in body_of(site_for(bob).get(f"/p/{post.id}"))
    assert site_for(bob).post(f"/p/{post.id}/prompt", {"hide": "0"}).status_code == 404
    alice_site.post(f"/p/{post.id}/prompt", {"hide": "0"})
    assert "zebraquokka" in body_of(Client().get(f"/p/{post.id}"))
    alice_site.post(f"/p/{post.id}/prompt", {"hide": "1"})
    assert_no_leak(body_of(Client().get(f"/p/{post.id}")), "the post page hidden on the site")


@pytest.mark.django_db(transaction=True)
def test_publishing_from_the_library_can_hide_the_prompt(make_user):
    alice = make_user("alice")
    job = run_job(client_for(alice), {"kind": "image", "prompt": PROMPT, "quality": "draft"})
    page = body_of(site_for(alice).get(f"/library/items/{job.id}"))
    assert 'name="hide_prompt"' in page, "the Library's publish form has no hide-prompt choice"
    create = body_of(site_for(alice).get("/create"))
    assert 'name="hide_prompt"' in create, "Create's publish form has no hide-prompt choice"


# --- a real socket ------------------------------------------------------------------------------


@sync_to_async
def _hidden_post(author: User) -> Post:
    from apps.media.services import asset_create
    from apps.posts import services as post_services
    from tests.conftest import png_bytes

    job = GenerationJob.objects.create(
        owner=author,
        kind="image",
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        backend="procedural",
        seed=1,
        status="succeeded",
        params={"width": 8, "height": 8, "quality": "draft", "count": 1},
    )
    asset = asset_create(
        owner=author, data=png_bytes(), mime="image/png", width=8, height=8, job=job
    )
    post = post_services.post_publish(
        author=author, asset_id=asset.id, visibility="public", caption="look", hide_prompt=True
    )
    fanout.post_created(post_id=post.id)
    return post


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_no_socket_frame_carries_it(alice, bob, carol):
    from tests.realtime.sockets import connect, subscribe, token_socket

    await sync_to_async(social.follow_create)(follower=bob, followee=alice)
    bob_ws, carol_ws, anon_ws = await token_socket(bob), await token_socket(carol), await connect()
    await subscribe(bob_ws, "home", "public", "notifications")
    await subscribe(carol_ws, "public", "notifications")
    await subscribe(anon_ws, "public")

    post = await _hidden_post(alice)
    frames: dict[str, list[dict]] = {"bob": [], "carol": [], "a visitor": []}
    # Frames that arrive before the subscription is confirmed come back with it.
    frames["bob"] += (await subscribe(bob_ws, f"post:{post.id}"))["errors"]
    frames["carol"] += (await subscribe(carol_ws, f"post:{post.id}"))["errors"]
    from apps.posts import services as post_services

    await sync_to_async(post_services.reaction_add)(user=carol, post_id=post.id, kind="fire")
    await sync_to_async(post_services.comment_create)(user=carol, post_id=post.id, body="nice")

    for name, ws in (("bob", bob_ws), ("carol", carol_ws), ("a visitor", anon_ws)):
        while not await ws.receive_nothing(timeout=0.5):
            frames[name].append(await ws.receive_json_from(timeout=1))
        await ws.disconnect()
    types = {name: {f["type"] for f in got} for name, got in frames.items()}
    assert "post.created" in types["bob"] and "post.created" in types["a visitor"]
    assert {"reactions.updated", "comment.created"} <= types["bob"]
    for name, got in frames.items():
        for frame in got:
            assert_no_leak(json.dumps(frame), f"a {frame['type']} frame to {name}")

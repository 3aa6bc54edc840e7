"""Remix: the Create page prefilled, the link to the parent, the parent's remixes, permission."""

import pytest
from django.test import Client

from apps.generation.models import GenerationJob
from apps.posts.models import Post
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def test_remix_links_to_its_parent_and_is_listed(api, alice, bob, publish):
    parent = publish(alice, caption="original")
    remix = publish(bob, caption="my take", remix_of=parent["id"])
    assert remix["remix_of"] == parent["id"]
    body = api(None).get(f"/api/v1/posts/{parent['id']}").json()
    assert body["remix_count"] == 1
    remixes = api(None).get(f"/api/v1/posts/{parent['id']}/remixes").json()["items"]
    assert [p["id"] for p in remixes] == [remix["id"]]
    api(bob).delete(f"/api/v1/posts/{remix['id']}")
    assert api(None).get(f"/api/v1/posts/{parent['id']}").json()["remix_count"] == 0


def test_authors_may_disallow_remixes(api, alice, bob, make_asset, publish):
    parent = publish(alice, allow_remix=False)
    asset = make_asset(bob)
    body = {"asset_id": asset.id, "visibility": "public", "remix_of": parent["id"]}
    assert_error(api(bob).post("/api/v1/posts", body, format="json"), 403, "forbidden")
    job = {"kind": "image", "prompt": "a lake", "remix_of": parent["id"]}
    assert_error(api(bob).post("/api/v1/generations", job, format="json"), 403, "forbidden")
    # and the site shows no Remix button
    client = Client()
    client.force_login(bob)
    page = client.get(f"/p/{parent['id']}").content.decode()
    assert 'data-testid="remix-button"' not in page
    assert Post.objects.get(id=parent["id"]).remix_count == 0


def test_a_hidden_parent_cannot_be_remixed(api, alice, bob, publish, make_asset):
    parent = publish(alice, "followers")
    asset = make_asset(bob)
    body = {"asset_id": asset.id, "visibility": "public", "remix_of": parent["id"]}
    assert_error(api(bob).post("/api/v1/posts", body, format="json"), 404, "not_found")


def test_generation_remembers_the_parent_and_the_post_links_to_it(api, alice, bob, publish):
    parent = publish(alice)
    response = api(bob).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a lake", "remix_of": parent["id"], "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = GenerationJob.objects.get(id=response.json()["id"])
    assert job.params["remix_of"] == parent["id"]
    # The worker's result, published without naming the parent, still links to it.
    from apps.media.services import asset_create
    from tests.conftest import png_bytes

    asset = asset_create(owner=bob, data=png_bytes(), mime="image/png", width=8, height=8)
    asset.job = job
    asset.save(update_fields=["job"])
    post = api(bob).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert post.json()["remix_of"] == parent["id"]


def test_remix_button_opens_create_prefilled(alice, bob, publish):
    parent = publish(alice)
    client = Client()
    client.force_login(bob)
    page = client.get(f"/p/{parent['id']}").content.decode()
    assert 'data-testid="remix-button"' in page
    create = client.get(f"/create?remix_of={parent['id']}&prompt=a+lake").content.decode()
    assert f'name="remix_of" value="{parent["id"]}"' in create
    assert "a lake" in create

"""GET /api/v1/provenance/{id}: who may read a record, and what a hidden prompt leaves out."""

import pytest

from apps.provenance.selectors import record_for_asset

pytestmark = pytest.mark.django_db


def url(record) -> str:
    return f"/api/v1/provenance/{record.id}"


def test_the_creator_reads_the_whole_signed_record(api, alice, made):
    asset = made(alice, "red kite over the moor", negative="blur", seed=99)
    record = record_for_asset(asset=asset)
    body = api(alice).get(url(record)).json()
    assert body["id"] == str(record.id) and body["asset_sha256"] == asset.sha256
    assert body["prompt"] == "red kite over the moor" and body["negative_prompt"] == "blur"
    assert body["kind"] == "image" and body["op"] == "generate"
    assert body["backend"] == "procedural" and body["model"] == "vivid-procedural"
    assert body["model_version"] == "1"
    assert body["params"]["seed"] == 99 and body["params"]["size"] == "8x8"
    assert body["parents"] == [] and body["likeness_consents"] == []
    assert body["creator"]["username"] == "alice"
    assert body["record_hash"] == record.record_hash and body["prev_hash"] == record.prev_hash
    assert body["signature"] == record.signature and body["key_id"] == record.key_id
    assert body["verified"] is True
    assert body["c2pa"] == {"embedded": body["c2pa"]["embedded"]}
    assert body["prompt_salt"] == record.prompt_salt  # the creator can prove their prompt


def test_a_library_record_is_not_found_for_others(api, alice, bob, anon, made):
    record = record_for_asset(asset=made(alice))
    assert api(bob).get(url(record)).status_code == 404
    assert anon.get(url(record)).status_code == 404
    assert anon.get("/api/v1/provenance/123456789").status_code == 404


def test_followers_only_post_record_follows_the_post(api, alice, bob, carol, made, post_of):
    asset = made(alice)
    post_of(alice, asset, visibility="followers")
    assert api(bob).post("/api/v1/users/alice/follow").status_code == 200
    record = record_for_asset(asset=asset)
    assert api(bob).get(url(record)).status_code == 200
    assert api(carol).get(url(record)).status_code == 404


def test_a_hidden_prompt_shows_only_to_its_creator(api, alice, bob, anon, made, post_of):
    asset = made(alice, "secret recipe of golden light", negative="grain")
    post = post_of(alice, asset, hide_prompt=True)
    record = record_for_asset(asset=asset)
    for client in (api(bob), anon):
        response = client.get(url(record))
        assert response.status_code == 200
        body = response.json()
        assert body["prompt"] is None and body["negative_prompt"] is None
        assert body["prompt_hidden"] is True and "prompt_salt" not in body
        assert "golden" not in response.content.decode()
        assert body["verified"] is True and body["record_hash"] == record.record_hash
    assert api(alice).get(url(record)).json()["prompt"] == "secret recipe of golden light"
    assert post["provenance_id"] == str(record.id)


def test_an_edit_of_a_hidden_prompt_keeps_it_hidden(api, alice, bob, made, post_of):
    """An upscale carries its source's prompt; published openly, it must not reveal it."""
    source = made(alice, "the words nobody may read")
    post_of(alice, source, hide_prompt=True)
    upscaled = made(alice, "the words nobody may read", op="upscale", inputs=[source])
    post_of(alice, upscaled)
    record = record_for_asset(asset=upscaled)
    assert record.parents == [str(record_for_asset(asset=source).id)]
    response = api(bob).get(url(record))
    assert response.status_code == 200 and "nobody" not in response.content.decode()


def test_assets_and_posts_name_their_record(api, alice, bob, made, make_asset, post_of):
    asset = made(alice)
    record = record_for_asset(asset=asset)
    body = api(alice).get(f"/api/v1/assets/{asset.id}").json()
    assert body["provenance_id"] == str(record.id)
    post = post_of(alice, asset)
    assert post["provenance_id"] == str(record.id)
    assert post["asset"]["provenance_id"] == str(record.id)
    shown = api(bob).get(f"/api/v1/posts/{post['id']}").json()
    assert shown["provenance_id"] == str(record.id)
    feed = api(bob).get("/api/v1/feed/public").json()["items"]
    assert [p["provenance_id"] for p in feed] == [str(record.id)]
    assert feed[0]["asset"]["provenance_id"] == str(record.id)
    assert api(alice).post("/api/v1/users/bob/follow").status_code == 200
    home = api(alice).get("/api/v1/feed/home").json()["items"]
    assert home[0]["provenance_id"] == str(record.id)
    # An asset with no record yet says so.
    loose = make_asset(alice)
    assert api(alice).get(f"/api/v1/assets/{loose.id}").json()["provenance_id"] is None


def test_record_page_says_what_the_api_says(client, alice, bob, made, post_of):
    asset = made(alice, "lanterns over a canal", seed=5)
    record = record_for_asset(asset=asset)
    client.force_login(bob)
    assert client.get(f"/provenance/{record.id}").status_code == 404  # still in the Library
    post_of(alice, asset, hide_prompt=True)
    page = client.get(f"/provenance/{record.id}").content.decode()
    assert 'data-testid="provenance-verified"' in page and record.record_hash in page
    assert "lanterns" not in page and 'data-testid="prompt-hidden"' in page
    assert f'href="/p/{asset.posts.get().id}"' in page  # the record leads to the post showing it
    client.force_login(alice)
    page = client.get(f"/provenance/{record.id}").content.decode()
    assert "lanterns over a canal" in page
    # The post page's "How it was made" links here.
    post_page = client.get(f"/p/{asset.posts.get().id}").content.decode()
    assert f'href="/provenance/{record.id}"' in post_page

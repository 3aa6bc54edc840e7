"""Collections: who sees what, every refusal, and posts that drop out when their viewer may no
longer see them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.collections import services as collections
from apps.collections.models import COLLECTIONS_MAX, POSTS_MAX, Collection, CollectionItem
from apps.posts.models import Post
from apps.social import services as social

pytestmark = pytest.mark.django_db


def create(client, name="Skies", visibility=None):
    body = {"name": name} if visibility is None else {"name": name, "visibility": visibility}
    return client.post("/api/v1/collections", body, format="json")


def item_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    return body


# --- create, list, rename, delete ---------------------------------------------------------------


def test_create_is_private_by_default_and_lists_as_mine(api, alice):
    client = api(alice)
    response = create(client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Skies"
    assert body["visibility"] == "private"
    assert body["posts_count"] == 0
    assert body["cover"] is None
    assert isinstance(body["id"], str)
    listed = client.get("/api/v1/collections").json()
    assert [c["id"] for c in listed["items"]] == [body["id"]]
    assert listed["next_cursor"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 61}, "name"),
        ({}, "name"),
        ({"name": "ok", "visibility": "friends"}, "visibility"),
    ],
)
def test_create_refuses_bad_fields(api, alice, body, field):
    response = api(alice).post("/api/v1/collections", body, format="json")
    assert field in error(response, 400, "invalid")["fields"]
    assert not Collection.objects.exists()


def test_blank_name_after_trimming_is_refused(api, alice):
    response = create(api(alice), name="   ")
    assert "name" in error(response, 400, "invalid")["fields"]


def test_names_are_unique_per_owner_regardless_of_case(api, alice, bob):
    assert create(api(alice), "Skies").status_code == 201
    body = error(create(api(alice), "skies"), 409, "conflict")
    assert "name" in body["fields"]
    # Someone else may use the same name.
    assert create(api(bob), "Skies").status_code == 201
    # Renaming onto a taken name is refused too, and nothing changes.
    other = create(api(alice), "Seas").json()
    response = api(alice).patch(
        f"/api/v1/collections/{other['id']}", {"name": "SKIES"}, format="json"
    )
    error(response, 409, "conflict")
    assert Collection.objects.get(id=other["id"]).name == "Seas"


def test_at_most_100_collections_per_person(api, alice):
    for i in range(COLLECTIONS_MAX):
        collections.collection_create(owner=alice, name=f"c{i}")
    error(create(api(alice), "one more"), 409, "conflict")
    assert Collection.objects.filter(owner=alice).count() == COLLECTIONS_MAX


def test_rename_and_publish_then_delete(api, alice, bob):
    client = api(alice)
    cid = create(client).json()["id"]
    response = client.patch(
        f"/api/v1/collections/{cid}", {"name": "Night skies", "visibility": "public"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Night skies"
    assert response.json()["visibility"] == "public"
    assert api(bob).get(f"/api/v1/collections/{cid}").status_code == 200
    assert client.delete(f"/api/v1/collections/{cid}").status_code == 204
    error(client.get(f"/api/v1/collections/{cid}"), 404, "not_found")
    error(client.delete(f"/api/v1/collections/{cid}"), 404, "not_found")


def test_patch_refuses_bad_fields_and_keeps_the_collection(api, alice):
    client = api(alice)
    cid = create(client).json()["id"]
    for body in ({"name": ""}, {"name": "y" * 61}, {"visibility": "everyone"}):
        error(client.patch(f"/api/v1/collections/{cid}", body, format="json"), 400, "invalid")
    collection = Collection.objects.get(id=cid)
    assert (collection.name, collection.visibility) == ("Skies", "private")


# --- who sees a collection ----------------------------------------------------------------------


def test_private_collection_answers_404_to_everyone_but_its_owner(api, anon, alice, bob, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    post = publish(alice)
    assert client.post(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204
    missing = api(bob).get("/api/v1/collections/123456789").json()
    for other in (api(bob), anon):
        response = other.get(f"/api/v1/collections/{cid}")
        assert response.status_code == 404
        assert response.json() == missing  # exactly like a missing one
    # Nobody else may change it, add to it, reorder it or delete it: all 404.
    bob_client = api(bob)
    error(
        bob_client.patch(f"/api/v1/collections/{cid}", {"name": "x"}, format="json"),
        404,
        "not_found",
    )
    error(bob_client.delete(f"/api/v1/collections/{cid}"), 404, "not_found")
    error(bob_client.post(f"/api/v1/collections/{cid}/posts/{post['id']}"), 404, "not_found")
    error(bob_client.delete(f"/api/v1/collections/{cid}/posts/{post['id']}"), 404, "not_found")
    error(
        bob_client.put(f"/api/v1/collections/{cid}/order", {"post_ids": []}, format="json"),
        404,
        "not_found",
    )
    assert client.get(f"/api/v1/collections/{cid}").status_code == 200
    assert CollectionItem.objects.filter(collection_id=cid).count() == 1


def test_public_collection_of_someone_else_is_read_only(api, anon, alice, bob, publish):
    cid = create(api(alice), "Shared", "public").json()["id"]
    post = publish(alice)
    api(alice).post(f"/api/v1/collections/{cid}/posts/{post['id']}")
    body = anon.get(f"/api/v1/collections/{cid}").json()
    assert [i["id"] for i in body["items"]] == [post["id"]]
    assert body["posts_count"] == 1
    assert body["owner"] == "alice"
    error(
        api(bob).patch(f"/api/v1/collections/{cid}", {"name": "mine"}, format="json"),
        404,
        "not_found",
    )
    assert anon.patch(f"/api/v1/collections/{cid}", {"name": "x"}, format="json").status_code in (
        401,
        403,
    )
    assert Collection.objects.get(id=cid).name == "Shared"


def test_a_block_hides_a_public_collection_both_ways(api, alice, bob, publish):
    cid = create(api(alice), "Shared", "public").json()["id"]
    social.block_create(blocker=alice, blocked=bob)
    error(api(bob).get(f"/api/v1/collections/{cid}"), 404, "not_found")
    error(api(bob).get("/api/v1/users/alice/collections"), 404, "not_found")


def test_a_private_accounts_public_collections_show_to_its_followers_only(
    api, anon, alice, bob, carol
):
    cid = create(api(alice), "Shared", "public").json()["id"]
    social.follow_create(follower=bob, followee=alice)
    alice.is_private = True
    alice.save()
    assert api(bob).get(f"/api/v1/collections/{cid}").status_code == 200
    assert len(api(bob).get("/api/v1/users/alice/collections").json()["items"]) == 1
    for client in (api(carol), anon):
        error(client.get(f"/api/v1/collections/{cid}"), 404, "not_found")
        assert client.get("/api/v1/users/alice/collections").json()["items"] == []


def test_anonymous_cannot_list_or_create(anon):
    assert anon.get("/api/v1/collections").status_code == 401
    assert create(anon).status_code == 401


# --- saving posts -------------------------------------------------------------------------------


def test_add_remove_and_repeat(api, alice, bob, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    post = publish(bob)
    assert client.post(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204
    assert client.post(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204  # no-op
    body = client.get(f"/api/v1/collections/{cid}").json()
    assert [i["id"] for i in body["items"]] == [post["id"]]
    assert body["posts_count"] == 1
    assert body["cover"]["post_id"] == post["id"]
    # Items are the feeds' items, field for field.
    assert body["items"][0] == client.get(f"/api/v1/posts/{post['id']}").json()
    assert client.delete(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204
    error(client.delete(f"/api/v1/collections/{cid}/posts/{post['id']}"), 404, "not_found")
    assert client.get(f"/api/v1/collections/{cid}").json()["posts_count"] == 0


def test_adding_a_post_you_cannot_see_is_404(api, alice, bob, carol, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    private = publish(bob, visibility="private")
    followers_only = publish(bob, visibility="followers")
    error(client.post(f"/api/v1/collections/{cid}/posts/{private['id']}"), 404, "not_found")
    error(client.post(f"/api/v1/collections/{cid}/posts/{followers_only['id']}"), 404, "not_found")
    error(client.post(f"/api/v1/collections/{cid}/posts/987654321"), 404, "not_found")
    social.block_create(blocker=carol, blocked=alice)
    blocked = publish(carol)
    error(client.post(f"/api/v1/collections/{cid}/posts/{blocked['id']}"), 404, "not_found")
    assert not CollectionItem.objects.exists()
    # Once Alice follows Bob, his followers-only post may be saved.
    social.follow_create(follower=alice, followee=bob)
    assert client.post(f"/api/v1/collections/{cid}/posts/{followers_only['id']}").status_code == 204


def test_a_full_collection_refuses_one_more(api, alice, publish, monkeypatch):
    monkeypatch.setattr("apps.collections.services.POSTS_MAX", 2)
    client = api(alice)
    cid = create(client).json()["id"]
    posts = [publish(alice) for _ in range(3)]
    for post in posts[:2]:
        assert client.post(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204
    body = error(client.post(f"/api/v1/collections/{cid}/posts/{posts[2]['id']}"), 409, "conflict")
    assert "2" in body["message"]
    assert CollectionItem.objects.filter(collection_id=cid).count() == 2
    assert POSTS_MAX == 1000


def test_saved_posts_disappear_when_the_viewer_may_no_longer_see_them(
    api, make_user, alice, bob, carol, publish
):
    dave, erin = make_user("dave"), make_user("erin")
    social.follow_create(follower=alice, followee=erin)
    client = api(alice)
    cid = create(client, "Keep", "public").json()["id"]
    kept = publish(bob, caption="kept")
    removed = publish(bob, caption="removed")
    by_carol = publish(carol, caption="carol")
    by_dave = publish(dave, caption="dave")
    by_erin = publish(erin, caption="erin")
    for post in (kept, removed, by_carol, by_dave, by_erin):
        assert client.post(f"/api/v1/collections/{cid}/posts/{post['id']}").status_code == 204
    assert client.get(f"/api/v1/collections/{cid}").json()["posts_count"] == 5

    Post.objects.filter(id=removed["id"]).update(removed_at=timezone.now(), removed_reason="x")
    social.block_create(blocker=carol, blocked=alice)  # Carol blocks Alice
    dave.is_active = False  # suspended
    dave.save()
    erin.is_private = True
    erin.save()
    social.follow_delete(follower=alice, followee=erin)  # no longer sees Erin's posts

    body = client.get(f"/api/v1/collections/{cid}").json()
    assert [i["id"] for i in body["items"]] == [kept["id"]]
    assert body["posts_count"] == 1
    listed = client.get("/api/v1/collections").json()["items"][0]
    assert listed["posts_count"] == 1
    assert listed["cover"]["post_id"] == kept["id"]
    # Through someone else's eyes: Bob sees Carol's post, not the removed one.
    bob_view = api(bob).get(f"/api/v1/collections/{cid}").json()
    assert {i["id"] for i in bob_view["items"]} == {kept["id"], by_carol["id"]}
    assert bob_view["posts_count"] == 2
    # Nothing was deleted: undone, they come back.
    dave.is_active = True
    dave.save()
    assert client.get(f"/api/v1/collections/{cid}").json()["posts_count"] == 2
    # The owner may still take out a post they can no longer see.
    assert client.delete(f"/api/v1/collections/{cid}/posts/{removed['id']}").status_code == 204


def test_the_cover_skips_posts_the_viewer_cannot_see(api, alice, bob, carol, publish):
    cid = create(api(alice), "Public", "public").json()["id"]
    first = publish(carol)
    second = publish(bob)
    for post in (first, second):
        api(alice).post(f"/api/v1/collections/{cid}/posts/{post['id']}")
    assert api(bob).get(f"/api/v1/collections/{cid}").json()["cover"]["post_id"] == first["id"]
    social.block_create(blocker=bob, blocked=carol)
    response = api(bob).get("/api/v1/users/alice/collections").json()["items"][0]
    assert response["cover"]["post_id"] == second["id"]
    assert response["posts_count"] == 1


# --- order --------------------------------------------------------------------------------------


def test_reorder_with_the_full_or_a_partial_list(api, alice, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    a, b, c = (publish(alice, caption=n)["id"] for n in "abc")
    for pid in (a, b, c):
        client.post(f"/api/v1/collections/{cid}/posts/{pid}")
    assert item_ids(client.get(f"/api/v1/collections/{cid}")) == [a, b, c]
    response = client.put(
        f"/api/v1/collections/{cid}/order", {"post_ids": [int(c), int(a), int(b)]}, format="json"
    )
    assert response.status_code == 204, response.content
    assert item_ids(client.get(f"/api/v1/collections/{cid}")) == [c, a, b]
    # Only some listed: they go first, the rest keep their order.
    client.put(f"/api/v1/collections/{cid}/order", {"post_ids": [int(b)]}, format="json")
    assert item_ids(client.get(f"/api/v1/collections/{cid}")) == [b, c, a]
    # A new save goes last.
    d = publish(alice, caption="d")["id"]
    client.post(f"/api/v1/collections/{cid}/posts/{d}")
    assert item_ids(client.get(f"/api/v1/collections/{cid}")) == [b, c, a, d]


def test_reorder_refuses_bad_lists_and_keeps_the_order(api, alice, bob, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    a, b = publish(alice)["id"], publish(alice)["id"]
    stranger = publish(bob)["id"]
    for pid in (a, b):
        client.post(f"/api/v1/collections/{cid}/posts/{pid}")
    for body in (
        {"post_ids": [int(a), int(a)]},
        {"post_ids": [int(stranger)]},
        {"post_ids": "nope"},
        {"post_ids": [-1]},
        {},
        {"post_ids": list(range(1, POSTS_MAX + 2))},
    ):
        response = client.put(f"/api/v1/collections/{cid}/order", body, format="json")
        fields = error(response, 400, "invalid")["fields"]
        assert any(name.split(".")[0] == "post_ids" for name in fields), body
    assert item_ids(client.get(f"/api/v1/collections/{cid}")) == [a, b]


def test_posts_page_by_cursor_in_the_owners_order(api, alice, publish):
    client = api(alice)
    cid = create(client).json()["id"]
    ids = [publish(alice)["id"] for _ in range(5)]
    for pid in ids:
        client.post(f"/api/v1/collections/{cid}/posts/{pid}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"/api/v1/collections/{cid}", params).json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    error(client.get(f"/api/v1/collections/{cid}", {"limit": 0}), 400, "invalid")
    error(client.get(f"/api/v1/collections/{cid}", {"cursor": "x"}), 400, "invalid")
    error(client.get("/api/v1/collections", {"post_id": "abc"}), 400, "invalid")


def test_the_list_says_which_collections_hold_a_post(api, alice, publish):
    client = api(alice)
    one = create(client, "One").json()["id"]
    create(client, "Two")
    post = publish(alice)
    client.post(f"/api/v1/collections/{one}/posts/{post['id']}")
    items = client.get("/api/v1/collections", {"post_id": post["id"]}).json()["items"]
    assert {i["name"]: i["contains_post"] for i in items} == {"One": True, "Two": False}


# --- profiles -----------------------------------------------------------------------------------


def test_a_persons_public_collections(api, anon, alice, bob, publish):
    public = create(api(alice), "Out", "public").json()["id"]
    create(api(alice), "Secret")
    for client in (anon, api(bob), api(alice)):
        response = client.get("/api/v1/users/alice/collections")
        assert [c["id"] for c in response.json()["items"]] == [public]
    error(anon.get("/api/v1/users/nobody/collections"), 404, "not_found")


def test_collection_lists_cost_constant_queries(api, alice, bob, publish):
    client = api(alice)

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    cid = create(client, "A", "public").json()["id"]
    post = publish(bob)
    client.post(f"/api/v1/collections/{cid}/posts/{post['id']}")
    few = (queries("/api/v1/collections"), queries(f"/api/v1/collections/{cid}"))
    for i in range(8):
        other = create(client, f"more {i}", "public").json()["id"]
        for _ in range(2):
            p = publish(bob)
            client.post(f"/api/v1/collections/{other}/posts/{p['id']}")
            client.post(f"/api/v1/collections/{cid}/posts/{p['id']}")
    many = (queries("/api/v1/collections"), queries(f"/api/v1/collections/{cid}"))
    assert many == few


# --- pages --------------------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_create_save_reorder_rename_delete(alice, bob, publish):
    a, b = publish(bob, caption="first"), publish(bob, caption="second")
    client = page_client(alice)
    response = client.post("/collections", {"name": "Moods", "visibility": "public"})
    assert response.status_code == 302
    collection = Collection.objects.get(owner=alice)
    for post in (a, b):
        response = client.post(f"/collections/save/{post['id']}", {"collection": collection.id})
        assert response.status_code == 302
    page = client.get(f"/collections/{collection.id}").content.decode()
    assert page.index("first") < page.index("second")
    assert 'data-testid="move-up"' in page
    client.post(f"/collections/{collection.id}/posts/{b['id']}", {"action": "up"})
    page = client.get(f"/collections/{collection.id}").content.decode()
    assert page.index("second") < page.index("first")
    # The save page shows which collections hold the post.
    save_page = client.get(f"/collections/save/{a['id']}").content.decode()
    assert 'aria-pressed="true"' in save_page
    # Public: on the profile, for anyone.
    profile = Client().get("/u/alice").content.decode()
    assert 'data-testid="profile-collections"' in profile and "Moods" in profile
    client.post(f"/collections/{collection.id}/edit", {"name": "Calm", "visibility": "private"})
    assert "Calm" not in Client().get("/u/alice").content.decode()
    assert Client().get(f"/collections/{collection.id}").status_code == 404
    assert page_client(bob).get(f"/collections/{collection.id}").status_code == 404
    client.post(f"/collections/{collection.id}/edit", {"action": "delete"})
    assert not Collection.objects.exists()


def test_pages_tell_why_and_lose_nothing(alice, bob, publish):
    client = page_client(alice)
    client.post("/collections", {"name": "Moods"})
    response = client.post("/collections", {"name": "moods"}, follow=True)
    assert "already have a collection with that name" in response.content.decode()
    assert Collection.objects.filter(owner=alice).count() == 1
    hidden = publish(bob, visibility="private")
    assert client.get(f"/collections/save/{hidden['id']}").status_code == 404
    assert Client().get("/collections").status_code == 302  # log in first


def test_save_button_on_cards_and_post_page_for_signed_in_people(alice, bob, publish):
    post = publish(bob)
    client = page_client(alice)
    for path in ("/?tab=public", f"/p/{post['id']}"):
        html = client.get(path).content.decode()
        assert f'data-save-post="{post["id"]}"' in html, path
        assert "js/collections.js" in html
    assert 'data-save-post="' not in Client().get(f"/p/{post['id']}").content.decode()

"""Notifications: each kind, coalescing, read state, live push, blocks and mutes."""

import pytest

from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def listed(client) -> list[dict]:
    response = client.get("/api/v1/notifications")
    assert response.status_code == 200, response.content
    return response.json()["items"]


def test_reactions_coalesce_into_one_line(api, make_user, alice, publish):
    post = publish(alice)
    url = f"/api/v1/posts/{post['id']}/reactions"
    people = [make_user(f"fan{i}") for i in range(13)]
    for person in people:
        api(person).post(url, {"kind": "like"}, format="json")
    api(people[0]).post(url, {"kind": "fire"}, format="json")  # the same person again
    items = listed(api(alice))
    assert len(items) == 1
    item = items[0]
    assert item["type"] == "reaction" and item["post_id"] == post["id"]
    assert item["actors_count"] == 13 and item["others_count"] == 12
    assert item["actor"]["username"] == "fan0"  # the most recent actor is named
    assert item["summary"] == "fan0 and 12 others reacted to your post"
    assert item["read"] is False

    # Once read, the next reaction starts a new line.
    body = api(alice).post("/api/v1/notifications/read", {}, format="json").json()
    assert body == {"unread_count": 0}
    api(make_user("late")).post(url, {"kind": "wow"}, format="json")
    items = listed(api(alice))
    assert [(i["summary"], i["read"]) for i in items] == [
        ("late reacted to your post", False),
        ("fan0 and 12 others reacted to your post", True),
    ]


def test_every_kind_is_stored_and_pushed_live(
    api, alice, bob, publish, make_asset, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api(bob).post("/api/v1/users/alice/follow")
        post = publish(alice, caption="sunset")
        url = f"/api/v1/posts/{post['id']}"
        api(bob).post(f"{url}/comments", {"body": "wow @alice"}, format="json")
        publish(bob, caption="hi @alice", remix_of=post["id"])
        alice.is_private = True
        alice.save()
        carol_client = api(alice.__class__.objects.create_user("carol", "c@example.com", "pw"))
        carol_client.post("/api/v1/users/alice/follow")
    types = [i["type"] for i in listed(api(alice))]
    # Mentions in a comment on her post and in the remix's caption: two posts, two lines.
    assert sorted(types) == ["comment", "follow", "follow_request", "mention", "mention", "remix"]
    pushed = events.to(f"user.{alice.pk}")
    assert {e["type"] for e in pushed} == {"notification"}
    assert {e["stream"] for e in pushed} == {"notifications"}
    assert sorted(e["notification"]["type"] for e in pushed) == [
        "comment",
        "follow",
        "follow_request",
        "mention",
        "mention",
        "remix",
    ]


def test_mark_some_read_and_auth(api, alice, bob, carol):
    api(bob).post("/api/v1/users/alice/follow")
    first = listed(api(alice))[0]
    body = api(alice).post("/api/v1/notifications/read", {"ids": [first["id"]]}, format="json")
    assert body.json() == {"unread_count": 0}
    assert api(carol).get("/api/v1/notifications").json()["items"] == []
    assert_error(api(None).get("/api/v1/notifications"), 401, "not_authenticated")


def test_blocked_and_muted_people_do_not_notify(api, alice, bob, carol, publish):
    post = publish(alice)
    url = f"/api/v1/posts/{post['id']}/reactions"
    api(alice).post("/api/v1/users/carol/mute")
    api(carol).post(url, {"kind": "like"}, format="json")
    api(carol).post("/api/v1/users/alice/follow")
    assert listed(api(alice)) == []
    api(bob).post(url, {"kind": "like"}, format="json")
    assert len(listed(api(alice))) == 1
    api(alice).post("/api/v1/users/bob/block")  # earlier notifications from bob disappear too
    assert listed(api(alice)) == []


def test_own_actions_do_not_notify(api, alice, publish):
    post = publish(alice, caption="me @alice")
    api(alice).post(f"/api/v1/posts/{post['id']}/reactions", {"kind": "like"}, format="json")
    assert listed(api(alice)) == []

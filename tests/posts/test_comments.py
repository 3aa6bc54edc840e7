"""Comments: replies one level deep, who may delete, live events, blocks."""

import pytest

from apps.posts.models import Post
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def test_comment_reply_and_list(
    api, alice, bob, carol, publish, events, django_capture_on_commit_callbacks
):
    post = publish(alice)
    url = f"/api/v1/posts/{post['id']}/comments"
    with django_capture_on_commit_callbacks(execute=True):
        first = api(bob).post(url, {"body": "  lovely light  "}, format="json")
    assert first.status_code == 201, first.content
    comment = first.json()
    assert comment["body"] == "lovely light" and comment["author"]["username"] == "bob"
    sent = events.to(f"post.{post['id']}")
    assert [e["type"] for e in sent] == ["comment.created"]
    assert sent[0]["stream"] == f"post:{post['id']}"
    assert sent[0]["post_id"] == post["id"] and sent[0]["comment"]["author"]["id"] == str(bob.pk)

    reply = api(carol).post(url, {"body": "agreed", "parent_id": comment["id"]}, format="json")
    assert reply.status_code == 201 and reply.json()["parent_id"] == comment["id"]
    # A reply to a reply joins the same thread: one level deep.
    deeper = api(alice).post(
        url, {"body": "thanks", "parent_id": reply.json()["id"]}, format="json"
    )
    assert deeper.json()["parent_id"] == comment["id"]

    listed = api(None).get(url).json()["items"]
    assert [c["body"] for c in listed] == ["lovely light"]
    assert [r["body"] for r in listed[0]["replies"]] == ["agreed", "thanks"]
    assert api(None).get(f"/api/v1/posts/{post['id']}").json()["comments_count"] == 3

    assert_error(api(bob).post(url, {"body": "   "}, format="json"), 400, "invalid")
    assert_error(api(None).post(url, {"body": "hi"}, format="json"), 401, "not_authenticated")
    bad_parent = api(bob).post(url, {"body": "x", "parent_id": 12345}, format="json")
    assert_error(bad_parent, 400, "invalid")


def test_author_or_post_owner_deletes(api, alice, bob, carol, publish):
    post = publish(alice)
    url = f"/api/v1/posts/{post['id']}/comments"
    by_bob = api(bob).post(url, {"body": "one"}, format="json").json()
    api(carol).post(url, {"body": "reply", "parent_id": by_bob["id"]}, format="json")
    other = api(bob).post(url, {"body": "two"}, format="json").json()
    assert_error(api(carol).delete(f"{url}/{by_bob['id']}"), 403, "forbidden")
    assert api(bob).delete(f"{url}/{other['id']}").status_code == 204
    assert api(alice).delete(f"{url}/{by_bob['id']}").status_code == 204  # and its reply
    assert api(None).get(url).json()["items"] == []
    assert Post.objects.get(id=post["id"]).comments_count == 0
    assert_error(api(alice).delete(f"{url}/{by_bob['id']}"), 404, "not_found")


def test_comments_follow_the_post_visibility(api, alice, bob, publish):
    post = publish(alice, "followers")
    url = f"/api/v1/posts/{post['id']}/comments"
    assert_error(api(bob).get(url), 404, "not_found")
    assert_error(api(bob).post(url, {"body": "hi"}, format="json"), 404, "not_found")
    api(bob).post("/api/v1/users/alice/follow")
    assert api(bob).post(url, {"body": "hi"}, format="json").status_code == 201


def test_blocked_commenters_disappear_for_each_other(api, alice, bob, carol, publish):
    post = publish(carol)
    url = f"/api/v1/posts/{post['id']}/comments"
    by_bob = api(bob).post(url, {"body": "from bob"}, format="json").json()
    api(alice).post(url, {"body": "from alice"}, format="json")
    api(alice).post("/api/v1/users/bob/block")
    assert [c["body"] for c in api(alice).get(url).json()["items"]] == ["from alice"]
    assert [c["body"] for c in api(bob).get(url).json()["items"]] == ["from bob"]
    assert len(api(carol).get(url).json()["items"]) == 2
    # Alice cannot reply to bob's comment (it does not exist for her).
    response = api(alice).post(url, {"body": "x", "parent_id": by_bob["id"]}, format="json")
    assert_error(response, 400, "invalid")

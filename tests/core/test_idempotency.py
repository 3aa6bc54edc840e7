"""Idempotency-Key on posts, comments and reactions: a retry never makes a second one."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.core.models import IdempotencyRecord
from apps.posts.models import Comment, Post, Reaction
from tests.conftest import client_for


def test_same_key_same_post_one_row(alice, api, make_asset):
    client = api(alice)
    asset = make_asset(alice)
    body = {"asset_id": asset.id, "caption": "once", "visibility": "public"}
    first = client.post("/api/v1/posts", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/posts", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["caption"] == "once"
    assert again["Idempotent-Replayed"] == "true"
    assert Post.objects.filter(author=alice).count() == 1
    assert IdempotencyRecord.objects.filter(user=alice, key="k-1").count() == 1
    # Another key, or none, is another post.
    other = client.post("/api/v1/posts", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    plain = client.post("/api/v1/posts", body, format="json")
    assert len({first.json()["id"], other.json()["id"], plain.json()["id"]}) == 3


def test_keys_are_per_person(alice, bob, api, make_asset):
    a = api(alice).post(
        "/api/v1/posts",
        {"asset_id": make_asset(alice).id, "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    b = api(bob).post(
        "/api/v1/posts",
        {"asset_id": make_asset(bob).id, "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_same_key_other_request_is_a_conflict(alice, api, make_asset):
    client = api(alice)
    asset = make_asset(alice)
    client.post(
        "/api/v1/posts",
        {"asset_id": asset.id, "caption": "a", "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    other = client.post(
        "/api/v1/posts",
        {"asset_id": asset.id, "caption": "b", "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    assert Post.objects.filter(author=alice).count() == 1


def test_a_refused_write_leaves_the_key_free(alice, api, make_asset):
    client = api(alice)
    refused = client.post(
        "/api/v1/posts",
        {"asset_id": 1, "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert refused.status_code == 404
    assert not IdempotencyRecord.objects.exists()
    body = {"asset_id": make_asset(alice).id, "visibility": "public"}
    ok = client.post("/api/v1/posts", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert ok.status_code == 201


def test_bad_keys_are_refused(alice, api, make_asset):
    response = api(alice).post(
        "/api/v1/posts",
        {"asset_id": make_asset(alice).id, "visibility": "public"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="x" * 201,
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_comment_retried_is_one_comment(alice, bob, api, publish):
    post = publish(alice)
    client = api(bob)
    url = f"/api/v1/posts/{post['id']}/comments"
    first = client.post(url, {"body": "nice"}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    again = client.post(url, {"body": "nice"}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Comment.objects.filter(post_id=post["id"]).count() == 1
    assert Post.objects.get(id=post["id"]).comments_count == 1


def test_reaction_retried_answers_the_same_counts(alice, bob, api, publish):
    post = publish(alice)
    client = api(bob)
    url = f"/api/v1/posts/{post['id']}/reactions"
    first = client.post(url, {"kind": "fire"}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    again = client.post(url, {"kind": "fire"}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["reactions"]["fire"] == 1
    assert first.json()["viewer_reactions"] == ["fire"]
    assert Reaction.objects.filter(post_id=post["id"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_make_one_post(alice, make_asset):
    """Eight copies of one request at once (a client retrying a request still in flight)."""
    asset = make_asset(alice)
    clients = [client_for(alice) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def send(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = clients[i].post(
                "/api/v1/posts",
                {"asset_id": asset.id, "caption": "race", "visibility": "public"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="same",
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [201] * len(clients)
    assert len({a.json()["id"] for a in answers}) == 1
    assert Post.objects.filter(author=alice).count() == 1

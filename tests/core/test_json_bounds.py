"""Hostile JSON bodies get answers in the API's error shape and change nothing: too large (413),
nested too deep (400, not the decoder's recursion as a 500), numbers out of range (400)."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.posts.models import Post
from tests.core.web import web_process


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.django_db
def test_a_10_mib_body_answers_413_in_the_error_shape(alice, api):
    body = json.dumps({"caption": "x" * (10 * 1024 * 1024), "visibility": "public"})
    assert_error(
        api(alice).post("/api/v1/posts", body, content_type="application/json"),
        413,
        "payload_too_large",
    )
    # Before anyone is signed in, too.
    assert_error(
        APIClient().post("/api/v1/auth/tokens", body, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert not Post.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_deeply_nested_json_answers_400_invalid(alice, api, depth):
    for client, path in ((api(alice), "/api/v1/posts"), (APIClient(), "/api/v1/auth/tokens")):
        assert_error(
            client.post(path, nested(depth), content_type="application/json"), 400, "invalid"
        )
    # Objects nest the same way, and brackets inside strings are only text.
    deep_objects = '{"a":' * depth + "1" + "}" * depth
    assert_error(
        api(alice).post("/api/v1/posts", deep_objects, content_type="application/json"),
        400,
        "invalid",
    )
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_ordinary_nesting_and_brackets_in_text_are_fine(alice, api, make_asset):
    asset = make_asset(alice)
    caption = "[[[[ {{{{ " * 50 + '\\" ]]'  # brackets and an escaped quote inside a string
    body = json.dumps({"asset_id": asset.id, "caption": caption, "visibility": "public"})
    response = api(alice).post("/api/v1/posts", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["caption"] == caption
    # As deep as the limit allows is parsed (and then refused by the serializer, not the parser).
    assert_error(
        api(alice).post("/api/v1/posts", nested(32), content_type="application/json"),
        400,
        "invalid",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "number",
    ["1e999", "-1e999", "NaN", "Infinity", "1" * 5000],
    ids=["inf", "-inf", "nan", "Inf", "5000 digits"],
)
def test_numbers_out_of_range_answer_400(alice, api, make_asset, number):
    asset = make_asset(alice)
    body = f'{{"asset_id": {asset.id}, "caption": "n", "visibility": "public", "x": {number}}}'
    assert_error(
        api(alice).post("/api/v1/posts", body, content_type="application/json"), 400, "invalid"
    )
    # As the asset id itself, too.
    body = f'{{"asset_id": {number}, "caption": "n", "visibility": "public"}}'
    assert_error(
        api(alice).post("/api/v1/posts", body, content_type="application/json"), 400, "invalid"
    )
    assert not Post.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_server_answers_both_in_the_error_shape(tmp_path):
    """Through uvicorn and the ASGI body limit, as an attacker would send them."""
    import requests

    with web_process(tmp_path / "web.log") as url:
        big = requests.post(
            f"{url}/api/v1/auth/tokens",
            data=json.dumps({"username": "x" * (10 * 1024 * 1024), "password": "y"}),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert big.status_code == 413, big.text[:300]
        assert big.headers["Content-Type"].startswith("application/json")
        assert big.json()["error"]["code"] == "payload_too_large"
        deep = requests.post(
            f"{url}/api/v1/auth/tokens",
            data=nested(5_000),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert deep.status_code == 400, deep.text[:300]
        assert deep.json()["error"]["code"] == "invalid"

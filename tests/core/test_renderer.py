"""The API's JSON renderer answers byte for byte what DRF's own JSONRenderer would."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from apps.core.renderers import FastJSONRenderer

UTC = datetime.UTC


def _drf(data, accepted=None, context=None) -> bytes:
    return JSONRenderer().render(data, accepted, context)


def _ours(data, accepted=None, context=None) -> bytes:
    return FastJSONRenderer().render(data, accepted, context)


VALUES = [
    None,
    {},
    [],
    {"items": [], "next_cursor": None},
    {"a": 1, "b": [True, False, None], "c": {"d": "e"}, "n": -(2**63), "m": 2**64 - 1},
    {"big": 2**70},  # beyond 64 bits: DRF's renderer writes it
    {2: "int key", None: "none key", False: "bool key"},
    {"float": 0.1, "whole": 1.0, "neg": -2.5, "large": 123456789.123},
    {"text": 'quote " backslash \\ slash / tab \t newline \n nul \x00 del \x7f'},
    {"unicode": "é 日本 😀 \u2028 line \u2029 paragraph"},
    {"when": datetime.datetime(2026, 12, 8, 2, 30, 1, 123456, tzinfo=UTC)},
    {"when": datetime.datetime(2026, 12, 8, 2, 30, 1, tzinfo=UTC)},
    {"naive": datetime.datetime(2026, 12, 8, 2, 30, 1, 5)},
    {
        "offset": datetime.datetime(
            2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        )
    },
    {"date": datetime.date(2026, 12, 8), "time": datetime.time(2, 30, 1, 250)},
    {"span": datetime.timedelta(seconds=90, microseconds=5)},
    {"price": decimal.Decimal("12.50"), "tiny": decimal.Decimal("0.1")},
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"ip": ipaddress.ip_address("192.0.2.1"), "net": ipaddress.ip_network("2001:db8::/32")},
    {"lazy": gettext_lazy("Not found.")},
    {"bytes": b"raw"},
    {"tuple": (1, 2, 3)},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_bytes_as_drfs_renderer(value):
    assert _ours(value) == _drf(value)


def test_indent_requested_falls_back_to_drfs():
    data = {"a": [1, 2]}
    accepted = "application/json; indent=4"
    assert _ours(data, accepted) == _drf(data, accepted)
    assert _ours(data, None, {"indent": 2}) == _drf(data, None, {"indent": 2})


def test_what_drf_refuses_is_refused_the_same_way():
    with pytest.raises(ValueError):
        _drf({"t": datetime.time(1, tzinfo=UTC)})
    with pytest.raises(ValueError):
        _ours({"t": datetime.time(1, tzinfo=UTC)})
    with pytest.raises(TypeError):
        _ours({"o": object()})
    with pytest.raises(UnicodeEncodeError):
        _ours({"s": "\ud800"})


def test_same_media_type_and_no_charset():
    assert FastJSONRenderer.media_type == JSONRenderer.media_type == "application/json"
    assert FastJSONRenderer.charset is None
    assert FastJSONRenderer.format == "json"


def _assert_drf_bytes(response, status=200):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.accepted_renderer, FastJSONRenderer)
    assert response.content == _drf(response.data)
    return response.json()


@pytest.mark.django_db
def test_every_feed_and_some_other_answers_are_drfs_bytes(api, anon, alice, bob, publish):
    for i in range(3):
        publish(bob, caption=f"#sunset over the sea {i} é 😀 \u2028")
    publish(bob, visibility="followers", caption="for followers")
    publish(alice, caption="mine #sunset")
    assert api(alice).post("/api/v1/users/bob/follow").status_code in (200, 201)
    client = api(alice)

    home = _assert_drf_bytes(client.get("/api/v1/feed/home"))
    assert len(home["items"]) >= 4
    assert home["items"][0]["created_at"].endswith("Z")
    assert _assert_drf_bytes(client.get("/api/v1/feed/public"))["items"]
    assert _assert_drf_bytes(client.get("/api/v1/feed/public?sort=trending"))["items"]
    assert _assert_drf_bytes(client.get("/api/v1/tags/sunset/posts"))["items"]
    assert _assert_drf_bytes(client.get("/api/v1/users/bob/posts?limit=2"))["next_cursor"]
    assert _assert_drf_bytes(anon.get("/api/v1/feed/public"))["items"]
    _assert_drf_bytes(client.get("/api/v1/me"))
    _assert_drf_bytes(client.get("/api/v1/users/bob"))
    _assert_drf_bytes(client.get("/api/v1/notifications"))
    _assert_drf_bytes(client.get("/api/v1/generation/quota"))
    # Errors, with lazy translated messages, in the API's shape.
    _assert_drf_bytes(client.get("/api/v1/posts/999999999"), 404)
    _assert_drf_bytes(anon.get("/api/v1/feed/home"), 401)
    _assert_drf_bytes(client.post("/api/v1/posts", {"caption": 5}, format="json"), 400)

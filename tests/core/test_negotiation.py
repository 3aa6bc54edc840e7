"""The API's content negotiation gives what DRF's own gives, quickly for the usual requests."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.core.negotiation import ApiContentNegotiation

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/*",
    "application/json; indent=4",
    "text/html",
    "text/html, */*;q=0.1",
    "application/json;q=0.5, text/html",
]


def _answer(negotiation, accept, query="", suffix=None, renderers=(JSONRenderer,)):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = Request(APIRequestFactory().get("/api/v1/feed/public" + query, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(
            request, [r() for r in renderers], suffix
        )
    except Exception as e:  # 406 or 404, compared by kind
        return type(e).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=xml", "?limit=5"])
@pytest.mark.parametrize("renderers", [(JSONRenderer,), (JSONRenderer, BrowsableAPIRenderer)])
def test_the_same_renderer_and_type_as_drfs_own(accept, query, renderers):
    ours = _answer(ApiContentNegotiation(), accept, query, renderers=renderers)
    assert ours == _answer(DefaultContentNegotiation(), accept, query, renderers=renderers)


def test_a_format_suffix_goes_through_drfs_own():
    ours = _answer(ApiContentNegotiation(), "*/*", suffix="xml")
    assert ours == _answer(DefaultContentNegotiation(), "*/*", suffix="xml") == "Http404"


@pytest.mark.django_db
def test_the_api_answers_json_and_refuses_what_it_cannot_give(settings):
    from django.test import Client

    assert (
        settings.REST_FRAMEWORK["DEFAULT_CONTENT_NEGOTIATION_CLASS"]
        == "apps.core.negotiation.ApiContentNegotiation"
    )
    response = Client().get("/api/v1/feed/public")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert Client().get("/api/v1/feed/public", HTTP_ACCEPT="text/csv").status_code == 406

"""The OpenAPI schema at /api/schema/: complete, valid, with the error answers and page shapes
the API really gives (what a client generated from it relies on)."""

from __future__ import annotations

import re

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

API_PREFIX = "/api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")

# Operations that answer a page {items, next_cursor} (apps.core.pagination).
LIST_OPERATIONS = {
    "auth_tokens_list",
    "generations_list",
    "notifications_list",
    "feed_home",
    "feed_public",
    "users_posts",
    "tags_posts",
    "posts_remixes",
    "posts_comments",
    "follow_requests",
    "me_blocks",
    "me_mutes",
    "consent_uses_list",
    "consent_events",
    "reports_mine",
    "moderation_terms_list",
    "moderation_holds_list",
    "moderation_queue",
    "moderation_appeals_list",
    "moderation_audit",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _api_routes() -> list[tuple[str, type]]:
    """Every (OpenAPI path, view class) routed under /api/v1/, from the URL resolver."""
    routes: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                view = getattr(p.callback, "view_class", None) or getattr(p.callback, "cls", None)
                if path.startswith(API_PREFIX) and view is not None:
                    routes.append((path, view))

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_schema_is_valid_openapi(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_every_api_route_and_method_is_in_the_schema(schema):
    routes = _api_routes()
    assert len(routes) > 40, "the resolver walk found too few routes"
    missing = []
    for path, view in routes:
        for method in METHODS:
            if hasattr(view, method) and method not in schema["paths"].get(path, {}):
                missing.append(f"{method.upper()} {path}")
    assert missing == []
    assert all(path.startswith(API_PREFIX) for path in schema["paths"]), "only /api/v1/"


def test_every_operation_lists_the_errors_it_can_give(schema):
    error_schema = schema["components"]["schemas"]["Error"]
    assert error_schema["required"] == ["error"]
    assert set(error_schema["properties"]["error"]["required"]) == {"code", "message"}
    problems = []
    for path, method, operation in operations(schema):
        name = f"{method.upper()} {path}"
        responses = operation["responses"]
        errors = {s for s in responses if s[0] in "45"}
        expected = {"503"}
        if operation.get("requestBody"):
            expected |= {"400", "413", "415"}
        if "{" in path:
            expected.add("404")
        if {} not in operation.get("security", [{}]) or len(operation.get("security", [])) > 1:
            expected |= {"401", "403"}
        if method != "get":
            expected.add("429")
        if not expected <= errors:
            problems.append(f"{name}: lacks {sorted(expected - errors)}")
        for status in errors:
            content = responses[status].get("content", {}).get("application/json", {})
            if content.get("schema") != {"$ref": "#/components/schemas/Error"}:
                problems.append(f"{name} {status}: not the Error shape")
            if status in ("429", "503") and "Retry-After" not in responses[status].get(
                "headers", {}
            ):
                problems.append(f"{name} {status}: no Retry-After")
    assert problems == []


def test_lists_are_documented_as_pages(schema):
    by_id = {op["operationId"]: (path, op) for path, _, op in operations(schema)}
    assert set(by_id) >= LIST_OPERATIONS, sorted(LIST_OPERATIONS - set(by_id))
    for operation_id in sorted(LIST_OPERATIONS):
        path, operation = by_id[operation_id]
        page = resolve(
            schema, operation["responses"]["200"]["content"]["application/json"]["schema"]
        )
        assert page["type"] == "object", operation_id
        assert {"items", "next_cursor"} <= set(page.get("required", [])), operation_id
        assert page["properties"]["items"]["type"] == "array", operation_id
        assert page["properties"]["next_cursor"].get("nullable") is True, operation_id
    # No other answer is a bare array, except the list of backends (which is one).
    for path, method, operation in operations(schema):
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if ok and operation["operationId"] != "generation_backends_list":
            assert resolve(schema, ok["schema"]).get("type") != "array", f"{method} {path}"


def test_paged_lists_document_their_bounds(schema):
    """``limit``, ``cursor`` and ``since`` as apps.core.pagination checks them."""
    operation = next(op for _, _, op in operations(schema) if op["operationId"] == "feed_home")
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["limit"]["minimum"] == 1 and params["limit"]["maximum"] == 100
    assert re.match(params["cursor"]["pattern"], "255771086071812096")
    assert not re.match(params["cursor"]["pattern"], "12a")


def test_request_bodies_carry_the_servers_constraints(schema):
    from apps.generation.serializers import JobIn

    components = schema["components"]["schemas"]
    job = components["JobInRequest"]["properties"]
    fields = JobIn().fields
    assert job["count"]["minimum"] == fields["count"].min_value
    assert job["count"]["maximum"] == fields["count"].max_value
    assert job["prompt"]["maxLength"] == fields["prompt"].max_length
    assert set(resolve(schema, job["aspect_ratio"])["enum"]) == {"1:1", "16:9", "9:16", "4:5"}
    backend = resolve(schema, job["backend"].get("allOf", [job["backend"]])[0])
    assert backend["enum"] == ["procedural"], "the configured backends are listed"
    signup = components["SignupInRequest"]["properties"]
    assert signup["username"]["pattern"] == "^[A-Za-z0-9_]{3,30}$"
    idempotency = [
        p
        for _, _, op in operations(schema)
        for p in op.get("parameters", [])
        if p["name"] == "Idempotency-Key"
    ]
    assert idempotency and all(
        p["schema"] == {"type": "string", "minLength": 1, "maxLength": 200} for p in idempotency
    )


@pytest.mark.django_db
def test_a_documented_error_answers_in_the_documented_shape(api, alice):
    """The Error component is what the API answers (one example of each common status)."""
    client = api(alice)
    missing = client.get("/api/v1/posts/1")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "message"}
    invalid = client.get("/api/v1/feed/home?limit=0")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["fields"] == {"limit": ["Must be between 1 and 100."]}

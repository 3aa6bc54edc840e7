"""The OpenAPI schema of ``/api/v1/`` (drf-spectacular): the error shape, keyset pages, and the
error answers every operation can give.

- ``Error`` is the one error body (apps.core.exceptions): ``{"error": {"code", "message",
  "fields"?}}``; 500 and 503 answers from apps.core.middleware add ``request_id``.
- ``ApiAutoSchema`` adds to every operation the error responses the shared machinery can answer,
  read off the operation itself: 401/403 where a caller may authenticate (a bad token, a token
  without the scope, CSRF), 404 for a path naming something (and for moderators' endpoints,
  which answer everyone else 404), 400 where a body, query or header is read, 413/415 with a
  body, 429 for writes (``writes_user``), 503 everywhere (PostgreSQL or Redis down). What only
  one view can answer (409, 422, a 404 for an id in the body ...) it declares itself with
  ``errors(...)`` in its ``extend_schema(responses=...)``.
- ``KeysetPagination`` documents the ``{items, next_cursor}`` pages of apps.core.pagination and
  their ``limit``/``cursor``/``since`` parameters; a list view names it as ``pagination_class``
  (schema only: the views page with ``PageParams`` themselves).
- The hooks keep the schema to ``/api/v1/`` and give every 429 and 503 its ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.pagination import BasePagination

from apps.core.exceptions import ApplicationError
from apps.core.pagination import MAX_LIMIT

ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer of the API.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [*ApplicationError.STATUS, "server_error"],
                    "description": "A machine code (API.md); the status follows from it.",
                },
                "message": {"type": "string", "description": "For people; may change."},
                "fields": {
                    "type": "object",
                    "description": "Validation only: the messages of each field that failed.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
                "request_id": {
                    "type": "string",
                    "description": "500 and 503 only: the id to quote when reporting it.",
                },
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

DESCRIPTIONS = {
    400: "`invalid`: a field, query parameter or header is not valid (`fields` says which).",
    401: "`not_authenticated`: no valid credentials (a wrong, revoked or expired token).",
    403: "`forbidden`: not allowed, e.g. a token without the scope this needs.",
    404: "`not_found`: no such thing, or one the caller may not see (the same answer).",
    409: "`conflict`: the thing is not in a state that allows this, or a repeat in flight.",
    413: "`payload_too_large`: the body or a file is over its size limit.",
    415: "`unsupported_media_type`: a body in a content type this does not read.",
    422: "`policy_violation` or `consent_required`: refused by the content or consent rules.",
    429: "`rate_limited` or `quota_exceeded`: try again after `Retry-After` seconds.",
    503: "`unavailable`: the database or Redis is briefly unreachable; retry after `Retry-After`.",
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_UNDECLARED = object()


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses of one operation, for ``extend_schema(responses={..., **errors(409)})``."""
    return {s: OpenApiResponse(response=ERROR_REF, description=DESCRIPTIONS[s]) for s in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers every operation can give."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self.registry.register_on_missing(
            ResolvedComponent(
                name="Error", type=ResolvedComponent.SCHEMA, schema=ERROR_SCHEMA, object="Error"
            )
        )
        responses = operation.setdefault("responses", {})
        for status in sorted(self._error_statuses(operation)):
            responses.setdefault(str(status), _error_response(status))
        for status, response in responses.items():
            # An error a view declared with a description only still has the error body.
            if status >= "400" and "content" not in response:
                response["content"] = {"application/json": {"schema": ERROR_REF}}
        return operation

    def _get_request_body(self, direction="request"):
        # drf-spectacular gives only POST, PUT and PATCH a body; a DELETE that reads one
        # (DELETE /me takes the password) declares it with extend_schema(request=...).
        if self.method != "DELETE" or not self._declares_request():
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    def _error_statuses(self, operation: dict[str, Any]) -> set[int]:
        statuses = {503}
        locations = {p.get("in") for p in operation.get("parameters", [])}
        if operation.get("requestBody"):
            statuses |= {400, 413, 415}
        if locations & {"query", "header"}:
            statuses.add(400)
        if "path" in locations or self._moderators_only():
            statuses.add(404)
        if self.view.get_authenticators():
            # A bad token is refused even where signing in is optional; a token acts only
            # within its scopes, and a browser session's writes need the CSRF token.
            statuses |= {401, 403}
        if self.method in UNSAFE:
            statuses.add(429)
        return statuses

    _probing = False

    def get_request_serializer(self):
        # While probing, the answer of a view that declares nothing (extend_schema's override
        # falls through to here) is a marker, not a guess from the view (which would warn).
        if self._probing:
            return _UNDECLARED
        return super().get_request_serializer()

    def _declares_request(self) -> bool:
        self._probing = True
        try:
            return self.get_request_serializer() is not _UNDECLARED
        finally:
            self._probing = False

    def _moderators_only(self) -> bool:
        # Named, not imported: apps.moderation imports this app's modules. Both answer 404.
        names = {type(p).__name__ for p in self.view.get_permissions()}
        return bool(names & {"IsModerator", "IsAdmin"})


class KeysetPagination(BasePagination):
    """Schema of apps.core.pagination's pages: ``{items, next_cursor}``, newest first."""

    # Empty is the same as absent (the first page).
    cursor_pattern = r"^[0-9]{0,19}$"

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": schema,
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as `cursor` for the next (older) page; null at the end.",
                },
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        cursor = {"type": "string", "pattern": self.cursor_pattern}
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "Items per page.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "A `next_cursor`: the page of items older than it.",
                "schema": cursor,
            },
            {
                "name": "since",
                "in": "query",
                "required": False,
                "description": "A cursor: only items newer than it (catching up after a gap).",
                "schema": cursor,
            },
        ]


class UnpagedList(KeysetPagination):
    """A short list answered whole in the page shape (``next_cursor`` always null)."""

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        return []


class NotificationsPagination(KeysetPagination):
    """Notifications' pages also carry the unread count."""

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page = super().get_paginated_response_schema(schema)
        page["properties"]["unread_count"] = {"type": "integer", "minimum": 0}
        page["required"].append("unread_count")
        return page


# A JSON object whose fields this schema does not list (moderators' views of a case, metrics).
FREE_OBJECT = {"type": "object", "additionalProperties": True}


def page_of(item: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    """A page schema for ``extend_schema(responses={200: page_of(...)})`` where the items have
    no serializer to name; ``extra`` adds properties the page carries besides the two."""
    page = KeysetPagination().get_paginated_response_schema({"type": "array", "items": item})
    page["properties"].update(extra)
    return page


def page_parameters(cursor_pattern: str = r"^[0-9]{0,19}$") -> list[OpenApiParameter]:
    """``limit`` and ``cursor`` for a view whose page has no serializer (see ``page_of``)."""
    return [
        OpenApiParameter(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, required=False
        ),
        OpenApiParameter("cursor", {"type": "string", "pattern": cursor_pattern}, required=False),
    ]


def only_api_v1(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """Preprocessing hook: the schema describes ``/api/v1/``, not the schema view itself."""
    return [e for e in endpoints if e[0].startswith("/api/v1/")]


def header_bounds(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: bounds of shared headers, and ``Retry-After`` on every 429 and 503
    (also on those a view declared itself)."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for param in operation.get("parameters", []):
                if param.get("in") == "header" and param.get("name") == "Idempotency-Key":
                    param["schema"] = {"type": "string", "minLength": 1, "maxLength": 200}
            for status, response in operation.get("responses", {}).items():
                if status in ("429", "503"):
                    response.setdefault("headers", {}).update(RETRY_AFTER)
    return result


# Request fields that may not be given together, by request component: the serializer refuses
# both at once with 400, and the schema says so (``not: {required: [a, b]}``), so that a client
# generated from it, or a fuzzer, never sends what the server will refuse.
EXCLUSIVE_FIELDS: dict[str, list[tuple[str, str]]] = {
    "TokenCreateWithOtpInRequest": [("expires_at", "expires_in_days")],
}


def exclusive_fields(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: ``EXCLUSIVE_FIELDS`` into the request components."""
    components = result.get("components", {}).get("schemas", {})
    for name, pairs in EXCLUSIVE_FIELDS.items():
        if name not in components:
            continue
        rules = [{"not": {"required": list(pair)}} for pair in pairs]
        components[name] = {**components[name], "allOf": rules}
    return result

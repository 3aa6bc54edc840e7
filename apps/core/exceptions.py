"""One domain error, and the one place that turns every error into the API's error shape.

``{"error": {"code": ..., "message": ..., "fields": {...}}}`` — ``fields`` only for validation.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A rule of the product said no. ``code`` is one of API.md's machine codes."""

    STATUS = {
        "invalid": 400,
        "not_authenticated": 401,
        "forbidden": 403,
        "not_found": 404,
        "conflict": 409,
        "payload_too_large": 413,
        "unsupported_media_type": 415,
        "policy_violation": 422,
        "consent_required": 422,
        "rate_limited": 429,
        "quota_exceeded": 429,
        "unavailable": 503,
    }

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        # A lazy (translatable) message becomes text here, in the language of the request that
        # raised it, so that it joins and formats like any string.
        message = str(message)
        super().__init__(message)
        if code not in self.STATUS:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return self.STATUS[self.code]


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    # str(): a lazy message is translated here, in the language of the request (LocaleMiddleware:
    # the django_language cookie or Accept-Language); the code never changes.
    body: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ``ErrorDetail`` structures as ``{field: [messages]}`` (nested keys dotted)."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "non_field_errors" if key == "non_field_errors" else str(key)
            if isinstance(value, dict):
                for sub, msgs in _flatten(value).items():
                    out[f"{name}.{sub}"] = msgs
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for i, item in enumerate(value):
                    for sub, msgs in _flatten(item).items():
                        out[f"{name}.{i}.{sub}"] = msgs
            else:
                out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {
        "non_field_errors": [str(v) for v in (detail if isinstance(detail, list) else [detail])]
    }


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.ParseError, "invalid"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "forbidden"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "invalid"),
    (exceptions.NotAcceptable, "invalid"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "rate_limited"),
]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # Django's own request-size limits
        exc = ApplicationError("payload_too_large", _("The request is too large."))
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = ApplicationError("invalid", _("The request has too many fields or files."))
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        response.data = error_body("invalid", _("Some fields are not valid."), fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "invalid")
    message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(exc, exceptions.NotFound):
        message = _("Not found.")
    response.data = error_body(code, message)
    return response


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)

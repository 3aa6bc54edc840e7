"""Request ids, and the answers to failures nobody planned for, in the API's shape.

- Every request gets an id: the client's ``X-Request-ID`` when it sends a sane one, else a new
  one. It goes back in the ``X-Request-ID`` response header, in the body of a 500, and in the
  log line of that 500, so a person quoting it can be found in the logs.
- An unexpected exception under ``/api/`` answers 500 ``server_error`` as JSON, with DEBUG on
  too (Django's HTML debug page is for pages, never for API clients).
- PostgreSQL or Redis unreachable (``apps.core.transient``) answers 503 ``unavailable`` with
  ``Retry-After``: JSON under ``/api/``, a short page elsewhere. Each process logs one warning
  when such an outage starts and one line when a request succeeds again, not a traceback per
  request.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from apps.core import transient
from apps.core.exceptions import error_body

logger = logging.getLogger("vivid.errors")

HEADER = "X-Request-ID"
RETRY_AFTER_S = 2
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    """The id of the request being handled ("-" outside a request)."""
    return request_id_var.get()


class _Outages:
    """Which dependencies this process found unreachable, since when (one line per change)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: dict[str, float] = {}

    def started(self, what: str, exc: BaseException) -> None:
        with self._lock:
            if what in self.since:
                return
            self.since[what] = time.monotonic()
        logger.warning("%s unavailable, answering 503 until it is back: %s", what, exc)

    def ended(self) -> None:
        if not self.since:
            return
        with self._lock:
            ended, self.since = self.since, {}
        for what, since in ended.items():
            logger.warning("%s available again after %.1f s", what, time.monotonic() - since)


outages = _Outages()


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def unavailable_response(request, what: str) -> HttpResponse:
    message = "The service is briefly unavailable; try again in a few seconds."
    if _is_api(request):
        body = error_body("unavailable", message)
        body["error"]["request_id"] = current_request_id()
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        html = render_to_string("errors/503.html", {"retry_after": RETRY_AFTER_S})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response._has_been_logged = True  # the outage is logged once, not per request
    return response


def server_error_response(request) -> HttpResponse:
    body = error_body("server_error", "Something went wrong on our side.")
    body["error"]["request_id"] = current_request_id()
    response = JsonResponse(body, status=500)
    response._has_been_logged = True
    return response


# Error answers made outside the API's views (Django's own 404, 400 and 413, DEBUG's pages,
# another middleware failing) get the code API.md gives their status.
_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "invalid",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def _in_api_shape(request, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    if status >= 500 and status != 503:
        return server_error_response(request)
    code = _CODES.get(status, "invalid")
    message = {
        "not_found": "Not found.",
        "forbidden": "You may not do that.",
        "payload_too_large": "The request is too large.",
        "unavailable": "The service is briefly unavailable; try again in a few seconds.",
    }.get(code, "The request could not be handled.")
    shaped = JsonResponse(error_body(code, message), status=status)
    for name in ("Retry-After", "Allow", "WWW-Authenticate"):
        if name in response:
            shaped[name] = response[name]
    shaped._has_been_logged = getattr(response, "_has_been_logged", False)
    return shaped


class RequestErrorsMiddleware:
    """Outermost middleware: sets the request id and turns failures into the right answers."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        token = self._begin(request)
        try:
            return self._finish(request, self.get_response(request))
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request):
        token = self._begin(request)
        try:
            return self._finish(request, await self.get_response(request))
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _begin(request) -> contextvars.Token:
        given = request.headers.get(HEADER, "")
        request.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        return request_id_var.set(request.request_id)

    @staticmethod
    def _finish(request, response):
        status = response.status_code
        if status < 500:
            outages.ended()
        if (
            status >= 400
            and _is_api(request)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            response = _in_api_shape(request, response)
        response[HEADER] = request.request_id
        return response

    def process_exception(self, request, exception):
        what = transient.which(exception)
        if what is not None:
            outages.started(what, exception)
            return unavailable_response(request, what)
        if not _is_api(request):
            return None  # pages: Django's handler500 (or the debug page with DEBUG on)
        logger.error(
            "server error on %s %s (request %s)",
            request.method,
            request.path,
            request.request_id,
            exc_info=exception,
        )
        return server_error_response(request)

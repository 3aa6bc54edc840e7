"""Request bodies over the cap are refused before they are read.

Under ASGI, Django reads a whole request body (spooling it to temporary files) before any
middleware or view runs, so a 50 MiB upload to a 5 MiB endpoint used to be read in full, and a
declared 2 GiB body kept the connection busy for as long as the client cared to send. This ASGI
middleware sits in front of Django (``apps.config.asgi``):

- a request whose ``Content-Length`` is over its route's cap is answered 413
  ``payload_too_large`` at once, in the API's error shape, without reading a byte of the body;
- a body without a length (chunked) is counted while Django reads it, and cut off at the cap:
  the client gets the same 413 and Django sees the client go away (nothing of it is handled).

Caps: the upload routes allow their purpose's file cap (``apps.media.uploads.PURPOSES``) plus
``MULTIPART_SLACK`` for the multipart envelope and other fields; every other route allows
``MEDIA_UPLOAD_MAX_BYTES`` plus the slack. nginx refuses bigger bodies first
(``client_max_body_size`` in platform/nginx.conf).
"""

from __future__ import annotations

import json

from django.conf import settings

MULTIPART_SLACK = 256 * 1024
# path → purpose whose file cap applies (exact paths; the API's and the site's).
UPLOAD_ROUTES = {
    "/api/v1/me/avatar": "avatar",
    "/settings/avatar": "avatar",
    "/api/v1/provenance/verify": "verify",
    "/verify": "verify",
}


def body_cap(path: str) -> int:
    """The most bytes a request body to ``path`` may have."""
    from apps.media.uploads import PURPOSES

    purpose = UPLOAD_ROUTES.get(path.rstrip("/") or "/")
    if purpose is not None:
        return min(PURPOSES[purpose].max_bytes, settings.MEDIA_UPLOAD_MAX_BYTES) + MULTIPART_SLACK
    return settings.MEDIA_UPLOAD_MAX_BYTES + MULTIPART_SLACK


def _body(cap: int) -> bytes:
    message = f"The request is larger than {cap // 1024} KiB."
    return json.dumps({"error": {"code": "payload_too_large", "message": message}}).encode()


async def _refuse(send, cap: int) -> None:
    body = _body(cap)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """ASGI middleware: refuse bodies over the route's cap before the application reads them."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap = body_cap(scope.get("path", "/"))
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                break
        if length is not None and (length < 0 or length > cap):
            return await _refuse(send, cap)
        if length is not None:
            return await self.app(scope, receive, send)

        # No length (chunked): count as the application reads, and stop at the cap.
        seen = 0
        refused = False

        async def counted_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    refused = True
                    await _refuse(send, cap)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # the application gave up after the refusal: nothing more goes out
                await send(message)

        return await self.app(scope, counted_receive, guarded_send)

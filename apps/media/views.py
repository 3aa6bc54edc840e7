"""Media files, each served only to those who may see them, at every request.

Two doors, one check:
- ``/media/assets/<id>/<variant>``: the viewer is the session user or a Bearer token's owner.
- ``/media/s/<token>``: a short-lived signed link (``apps.media.signing``) naming the viewer it
  was issued to; that viewer's permission is checked again now.

Media of public posts (and avatars) are the same for everyone and never change at a URL, so they
go out with ``public, max-age=31536000, immutable``. Everything else is ``private, no-cache``
with a strong ETag: browsers keep a copy but ask each time (an answer of 304 costs nothing), so a
deleted post's media stop at once. Both doors answer byte ranges (206) for video scrubbing.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.auth import BearerTokenAuthentication
from apps.core.security import file_headers
from apps.media import signing, storage
from apps.media.models import Asset
from apps.media.services import MIME_OF_EXT, variant_specs

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
# Picture variants that may stand in for each other until the asked-for one has been made.
_STILL_FALLBACK = ("preview", "thumb")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _viewer(request):
    """The session user, or the owner of a Bearer token (API clients fetch media too)."""
    try:
        found = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        found = None
    return found[0] if found else request.user


@require_safe
def asset_file(request, asset_id: int, variant: str):
    asset = Asset.objects.visible_to(_viewer(request)).filter(id=asset_id).first()
    if asset is None:
        raise Http404
    return _serve(request, asset, variant, public=_is_public(asset))


@require_safe
def signed_file(request, token: str):
    try:
        link = signing.unsign(token)
    except signing.LinkExpired:
        return HttpResponse("This link has expired.", status=403, content_type="text/plain")
    except signing.LinkInvalid as e:
        raise Http404 from e
    from apps.accounts.models import User

    viewer = (
        User.objects.filter(id=link.viewer_id, is_active=True).first() if link.viewer_id else None
    )
    if link.viewer_id and viewer is None:
        raise Http404
    asset = Asset.objects.visible_to(viewer).filter(id=link.asset_id).first()
    if asset is None:
        raise Http404
    return _serve(request, asset, link.variant, public=False)


def _is_public(asset: Asset) -> bool:
    return Asset.objects.visible_to(None).filter(id=asset.id).exists()


def _locate(asset: Asset, variant: str) -> tuple[str, str, bool]:
    """(storage path, content type, final): ``final`` is False for a stand-in while the asked-for
    variant is still being made."""
    if variant == "original":
        return asset.original, asset.mime, True
    if variant in asset.variants:
        path = asset.variants[variant]
        return path, MIME_OF_EXT[path.rsplit(".", 1)[-1]], True
    if variant not in variant_specs(asset):
        raise Http404
    for other in _STILL_FALLBACK:
        if other in asset.variants:
            path = asset.variants[other]
            return path, MIME_OF_EXT[path.rsplit(".", 1)[-1]], False
    if asset.kind == Asset.Kind.IMAGE or variant.startswith(("video_", "loop")):
        return asset.original, asset.mime, False
    raise Http404  # a clip's picture before any frame was taken from it


def _serve(request, asset: Asset, variant: str, *, public: bool):
    path, content_type, final = _locate(asset, variant)
    etag = '"' + path.rsplit("/", 1)[-1].split(".")[0] + '"'
    cache = IMMUTABLE if public and final else REVALIDATE
    if not final:
        cache = "no-store"

    filename = f"vivid-{asset.id}-{variant}.{_extension(content_type)}"

    def headers(response):
        file_headers(response, filename=filename, content_type=content_type)
        response["Cache-Control"] = cache
        response["ETag"] = etag
        response["Accept-Ranges"] = "bytes"
        # Media are never a document: no scripts even if a browser were tricked into it.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        if not public:
            response["Vary"] = "Cookie, Authorization"
        return response

    if etag in _etags(request.headers.get("If-None-Match", "")):
        return headers(HttpResponseNotModified())
    if settings.MEDIA_S3_REDIRECT_S and storage.is_remote():
        url = storage.presigned_url(
            path,
            expire_s=settings.MEDIA_S3_REDIRECT_S,
            content_type=content_type,
            disposition=response_disposition(filename=filename, content_type=content_type),
        )
        response = headers(HttpResponseRedirect(url))
        response["Cache-Control"] = "no-store"
        return response
    try:
        total = storage.size(path)
    except (FileNotFoundError, OSError) as e:
        raise Http404 from e
    start, length, status = 0, total, 200
    wanted = request.headers.get("Range")
    if wanted and _if_range_ok(request, etag):
        found = _parse_range(wanted, total)
        if found == "unsatisfiable":
            response = headers(HttpResponse(status=416))
            response["Content-Range"] = f"bytes */{total}"
            return response
        if found is not None:
            start, end = found
            length, status = end - start + 1, 206
    response = StreamingHttpResponse(
        storage.iter_bytes(path, start, length), content_type=content_type, status=status
    )
    response["Content-Length"] = str(length)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{total}"
    return headers(response)


def _extension(content_type: str) -> str:
    """The file name's extension: ours for the types we make, else from the type's subtype."""
    known = {mime: ext for ext, mime in MIME_OF_EXT.items()}
    subtype = re.sub(r"[^a-z0-9]", "", content_type.split("/")[-1].lower())[:8]
    return known.get(content_type) or subtype or "bin"


def response_disposition(*, filename: str, content_type: str) -> str:
    response = HttpResponse()
    file_headers(response, filename=filename, content_type=content_type)
    return response["Content-Disposition"]


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _if_range_ok(request, etag: str) -> bool:
    """A Range with an If-Range naming another version gets the whole new file instead."""
    if_range = request.headers.get("If-Range")
    return if_range is None or if_range.strip() == etag


def _parse_range(header: str, total: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single ``bytes=`` range; "unsatisfiable"; or None to ignore the
    header (malformed, or several ranges: the whole file is a valid answer to those)."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, total - suffix), total - 1
    start = int(first)
    end = min(int(last), total - 1) if last else total - 1
    if last and int(last) < start:
        return None
    if start >= total:
        return "unsatisfiable"
    return start, end

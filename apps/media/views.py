"""Media files, each served only to those who may see them."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.auth import BearerTokenAuthentication
from apps.core.exceptions import ApplicationError
from apps.media.selectors import asset_get_visible


def _viewer(request):
    """The session user, or the owner of a Bearer token (API clients fetch media too)."""
    try:
        found = BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        found = None
    return found[0] if found else request.user


def asset_file(request, asset_id: int, variant: str):
    try:
        asset = asset_get_visible(asset_id=asset_id, viewer=_viewer(request))
    except ApplicationError as e:
        raise Http404 from e
    if variant == "original":
        path, content_type = asset.original, asset.mime
    elif variant in asset.variants:
        path, content_type = asset.variants[variant], "image/webp"
    else:
        raise Http404
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    # Content-addressed paths never change, but access can: browsers may cache, proxies may not.
    response["Cache-Control"] = "private, max-age=3600"
    return response

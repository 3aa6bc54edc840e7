"""Media files, each served only to those who may see them."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404

from apps.core.exceptions import ApplicationError
from apps.media.selectors import asset_get_visible


def asset_file(request, asset_id: int, variant: str):
    try:
        asset = asset_get_visible(asset_id=asset_id, viewer=request.user)
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

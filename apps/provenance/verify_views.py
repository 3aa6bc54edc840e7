"""The public /verify page: drop any file, see its credentials and the items it copies.

The page renders the form; its script sends the file to ``POST /api/v1/provenance/verify``
(the same service as the API, so the two never diverge) and shows the answer."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.media import uploads
from apps.provenance import matching


@ensure_csrf_cookie
def verify_page(request):
    cap = min(uploads.PURPOSES["verify"].max_bytes, settings.MEDIA_UPLOAD_MAX_BYTES)
    return render(
        request,
        "provenance/verify.html",
        {"max_mb": cap // (1024 * 1024), "max_distance": matching.MAX_DISTANCE},
    )

"""Installing Vivid on a phone: the web app manifest and the service worker.

Both live at the site's root: the manifest beside the pages it describes, and the service
worker there so that its scope is the whole site (a worker served from /static/ could only
control /static/). The worker's file is frontend/static/js/sw.js; this view fills in the list of
static files it keeps and a version taken from their contents, so that a deployment that
changes any of them installs a fresh worker with a fresh cache.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse, JsonResponse
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

THEME_COLOR = "#0b0b10"

# The static files every page uses: kept at install so that a home-screen launch starts quickly.
# Other /static/ files are kept the first time they load; nothing outside /static/ ever is.
PRECACHE = (
    "css/vivid.css",
    "css/collections.css",
    "js/page.js",
    "js/live.js",
    "js/social.js",
    "js/a11y.js",
    "js/sw-register.js",
    "icons/reactions.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/icon-maskable-512.png",
    "favicon.svg",
)
ICONS = (
    {"src": "icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {
        "src": "icons/icon-maskable-512.png",
        "sizes": "512x512",
        "type": "image/png",
        "purpose": "maskable",
    },
)


def _static_bytes(name: str) -> bytes:
    """A static file's contents, from the collected files or (embedded mode) the finders."""
    if staticfiles_storage.exists(name):
        with staticfiles_storage.open(name) as handle:
            return handle.read()
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(name)
    with open(found, "rb") as handle:
        return handle.read()


def _worker_source() -> str:
    source = _static_bytes("js/sw.js")
    digest = hashlib.sha256(source)
    for name in PRECACHE:
        digest.update(_static_bytes(name))
    urls = json.dumps([static(name) for name in PRECACHE])
    text = source.decode()
    version = digest.hexdigest()[:16]
    text = text.replace('const VERSION = "dev";', f'const VERSION = "{version}";', 1)
    text = text.replace("const PRECACHE = [];", f"const PRECACHE = {urls};", 1)
    return text


# Collected static files do not change while a production server runs; in development they do.
_cached_worker_source = lru_cache(maxsize=1)(_worker_source)


@require_safe
def service_worker(request):
    text = _cached_worker_source() if settings.PRODUCTION else _worker_source()
    response = HttpResponse(text, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Browsers check for a new worker on each visit; let them see a deployment at once.
    response["Cache-Control"] = "no-cache"
    return response


@require_safe
def manifest(request):
    data = {
        "id": "/",
        "name": "Vivid",
        "short_name": "Vivid",
        "description": _("Make, share and remix AI images and videos."),
        "lang": getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": THEME_COLOR,
        "icons": [{**icon, "src": static(icon["src"])} for icon in ICONS],
    }
    response = JsonResponse(data, content_type="application/manifest+json")
    response["Cache-Control"] = "public, max-age=3600"
    return response

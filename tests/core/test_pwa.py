"""Installing Vivid on a phone: the manifest a browser reads, its icons, the service worker."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

pytestmark = pytest.mark.django_db


def _static_file(url: str) -> str:
    assert url.startswith("/static/"), url
    path = finders.find(url.removeprefix("/static/"))
    assert path, f"{url} does not exist"
    return path


def test_the_manifest_has_what_a_browser_needs_to_install(client):
    response = client.get("/manifest.webmanifest")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["name"] == "Vivid"
    assert manifest["short_name"] == "Vivid"
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes


def test_every_icon_in_the_manifest_is_a_png_of_its_stated_size(client):
    manifest = json.loads(client.get("/manifest.webmanifest").content)

    for icon in manifest["icons"]:
        with open(_static_file(icon["src"]), "rb") as handle:
            image = Image.open(io.BytesIO(handle.read()))
        width, height = (int(n) for n in icon["sizes"].split("x"))
        assert image.format == "PNG" and icon["type"] == "image/png"
        assert image.size == (width, height), icon["src"]


def test_every_page_links_the_manifest_and_a_theme_colour(client):
    page = client.get("/login").content.decode()

    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color" content="#0b0b10">' in page
    assert 'src="/static/js/sw-register.js"' in page


def test_the_service_worker_is_served_from_the_root_as_javascript(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"


def test_the_service_worker_precaches_existing_static_files_only(client):
    source = client.get("/sw.js").content.decode()

    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", source).group(1))
    assert "/static/css/vivid.css" in precache
    assert all(url.startswith("/static/") for url in precache)
    for url in precache:
        _static_file(url)
    assert not re.search(r'const VERSION = "dev"', source)


def test_a_changed_static_file_gives_the_worker_a_new_version(client, monkeypatch):
    from apps.core import pwa

    def version() -> str:
        return re.search(r'const VERSION = "(\w+)"', client.get("/sw.js").content.decode())[1]

    before = version()
    real = pwa._static_bytes

    def edited(name: str) -> bytes:
        return real(name) + (b"/* new */" if name == "css/vivid.css" else b"")

    monkeypatch.setattr(pwa, "_static_bytes", edited)

    assert version() != before


def test_only_safe_methods_reach_the_manifest_and_worker(client):
    assert client.post("/manifest.webmanifest").status_code == 405
    assert client.post("/sw.js").status_code == 405

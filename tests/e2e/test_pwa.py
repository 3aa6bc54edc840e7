"""Installing Vivid: the service worker registers from the site's root and keeps the static files
only; with the network gone, a kept stylesheet still loads while API answers and pages do not
(they were never stored)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import api_sign_up, log_in

pytestmark = pytest.mark.e2e

FETCH_STATUS = """async (url) => {
  try { return (await fetch(url, { credentials: "same-origin" })).status; }
  catch { return "failed"; }
}"""
CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
}"""


def test_the_service_worker_keeps_static_files_and_never_api_answers(live_stack, browser_page):
    api_sign_up(live_stack, "ada")
    page = browser_page("ada", viewport={"width": 360, "height": 740})
    log_in(page, "ada")
    expect(page.get_by_role("link", name="@ada")).to_be_visible()

    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{live_stack.url}/"
    page.reload()  # now the worker controls the page
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    assert page.evaluate(FETCH_STATUS, "/api/v1/feed/public") == 200
    assert page.evaluate(FETCH_STATUS, "/static/css/vivid.css") == 200
    kept = page.evaluate(CACHED_URLS)
    assert "/static/css/vivid.css" in kept and "/static/icons/icon-192.png" in kept
    assert all(url.startswith("/static/") for url in kept), kept

    page.context.set_offline(True)
    try:
        assert page.evaluate(FETCH_STATUS, "/static/css/vivid.css") == 200
        assert page.evaluate(FETCH_STATUS, "/api/v1/feed/public") == "failed"
        assert page.evaluate(FETCH_STATUS, "/u/ada") == "failed"
    finally:
        page.context.set_offline(False)

"""The live feed in a real browser: two people, two browser contexts, real server processes.

A follows-and-publishes story through the site's own pages (sign-up, profile, Create, post page),
and a reconnect story: a page whose socket dropped catches up with ``since=`` and shows what it
missed exactly once.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect as ws_connect

from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "a long and unusual password 9"
SCREENSHOTS = "/tmp/e2e-{}.png"


# --- helpers ----------------------------------------------------------------------------------


class SocketFrames:
    """Every JSON frame a page's WebSockets received, to wait on what the server said."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.received: list[dict[str, Any]] = []
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        def record(payload) -> None:
            try:
                frame = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(frame, dict):
                self.received.append(frame)

        ws.on("framereceived", record)

    def find(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((f for f in self.received if predicate(f)), None)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict:
        """Wait for a matching frame, letting Playwright deliver events while it waits."""
        deadline = time.monotonic() + timeout
        while (frame := self.find(predicate)) is None:
            if time.monotonic() > deadline:
                types = [f.get("type") for f in self.received]
                raise AssertionError(f"no such frame after {timeout} s; received {types}")
            self.page.wait_for_timeout(50)
        return frame

    def wait_subscribed(self, stream: str) -> None:
        self.wait_for(lambda f: f.get("type") == "subscribed" and stream in f.get("streams", []))


def api(stack, method: str, path: str, *, token: str | None = None, body: Any = None) -> Any:
    """One JSON call to the live server's /api/v1/."""
    request = urllib.request.Request(
        f"{stack.url}/api/v1/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def api_sign_up(stack, username: str) -> dict:
    """An account made through the API: ``{"user": ..., "token": ...}``."""
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    return api(stack, "POST", "auth/signup", body=body)


def publish(stack, token: str, asset: dict, caption: str) -> dict:
    body = {"asset_id": asset["id"], "caption": caption, "visibility": "public"}
    return api(stack, "POST", "posts", token=token, body=body)


def sign_up(page: Page, username: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("link", name=f"@{username}")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/$"))


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=f"@{username}")).to_be_visible()


def expect_live(page: Page) -> None:
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def draft_on_create(page: Page, prompt: str):
    """From the navigation to Create, one draft of ``prompt`` made; its result figure."""
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Quality").select_option("draft")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#progress")).to_have_attribute("data-status", "succeeded", timeout=45_000)
    return page.locator("#results figure.result").first


def mark_page(page: Page) -> None:
    """A mark that survives only as long as the document does: a reload or navigation drops it."""
    page.evaluate("window.__marker = 1")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page reloaded or navigated"


def expect_image_loaded(locator) -> None:
    expect(locator).to_be_visible()
    locator.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=locator.element_handle()
    )


def card(page: Page, post_id: str):
    return page.locator(f'#feed article.card[data-post-id="{post_id}"]')


def generate(stack, token: str, *, prompt: str, count: int = 1) -> list[dict]:
    """Generate images through the API and wait for the worker; returns the assets."""
    job = api(
        stack,
        "POST",
        "generations",
        token=token,
        body={"kind": "image", "prompt": prompt, "quality": "draft", "count": count},
    )

    def finished():
        current = api(stack, "GET", f"generations/{job['id']}", token=token)
        return current if current["status"] in ("succeeded", "failed", "canceled") else None

    done = wait_for(finished, timeout=30, interval=0.2)
    assert done["status"] == "succeeded", done
    return done["assets"]


# --- the tests --------------------------------------------------------------------------------


def test_a_new_post_and_its_likes_arrive_live(live_stack, browser_page):
    a = browser_page("a", viewport={"width": 1280, "height": 900})
    b = browser_page("b", viewport={"width": 1280, "height": 900})
    a_frames, b_frames = SocketFrames(a), SocketFrames(b)

    # A joins; B joins and follows A from A's profile page.
    sign_up(a, "ada")
    sign_up(b, "ben")
    b.goto("/u/ada")
    follow = b.get_by_test_id("follow-button")
    expect(follow).to_have_text("Follow")
    follow.click()
    expect(follow).to_have_text("Following")
    expect(b.get_by_test_id("followers-count")).to_have_text("1 follower")

    # B opens the Home tab and keeps it open.
    b.get_by_role("link", name="Feed", exact=True).click()
    expect(b.locator("nav.tabs a.active")).to_have_text("Home")
    expect(b.locator("#feed-empty")).to_be_visible()
    expect_live(b)
    b_frames.wait_subscribed("home")
    mark_page(b)

    # A generates an image on the Create page and watches it arrive.
    a.get_by_role("link", name="Create", exact=True).click()
    expect(a).to_have_url(re.compile(r"/create$"))
    expect_live(a)
    expect(a.get_by_label("Backend")).to_have_value("procedural")
    a.get_by_label("Prompt", exact=True).fill("golden hour over misty mountains and a still lake")
    a.evaluate(
        """() => {
            const progress = document.getElementById("progress");
            window.__progress = [];
            new MutationObserver(() => window.__progress.push(progress.dataset.status))
                .observe(progress, {attributes: true, attributeFilter: ["data-status"]});
        }"""
    )
    a.get_by_role("button", name="Generate").click()
    expect(a.locator("#progress")).to_be_visible()
    expect(a.locator("#progress")).to_have_attribute("data-status", "succeeded")
    expect(a.locator("#progress-label")).to_have_text("succeeded")
    expect(a.locator("#progress-bar")).to_have_attribute("style", re.compile(r"width: 100%"))
    statuses = a.evaluate("window.__progress")
    assert statuses[0] == "queued" and statuses[-1] == "succeeded", statuses
    update = a_frames.wait_for(
        lambda f: f.get("type") == "generation.updated" and f["job"]["status"] == "succeeded"
    )
    assert update["job"]["assets"], "the socket brought the finished job with its image"
    result = a.locator("#results figure.result")
    expect(result).to_have_count(1)
    expect_image_loaded(result.locator("img"))
    expect(a.get_by_role("button", name="Generate")).to_be_enabled()
    a.screenshot(path=SCREENSHOTS.format("1-create-result"), full_page=True)

    # A publishes it with a caption and lands on the post page.
    caption = "Misty mountains at golden hour"
    result.get_by_placeholder("Say something about it").fill(caption)
    result.get_by_role("button", name="Publish").click()
    expect(a).to_have_url(re.compile(r"/p/\d+$"))
    post_id = a.url.rsplit("/", 1)[1]
    expect(a.locator(".card.large .caption")).to_have_text(caption)
    expect_image_loaded(a.locator(".card.large .media img"))
    expect_live(a)
    a_frames.wait_subscribed(f"post:{post_id}")
    mark_page(a)

    # B's open feed shows the new post without a reload.
    new_card = card(b, post_id)
    expect(new_card).to_be_visible()
    expect(new_card.locator(".caption")).to_have_text(caption)
    expect(new_card.locator(".author")).to_have_text("@ada")
    expect_image_loaded(new_card.locator(".media img"))
    expect(b.locator("#feed article.card")).to_have_count(1)
    expect(b.locator("#feed-empty")).to_have_count(0)
    assert_not_reloaded(b)
    b.screenshot(path=SCREENSHOTS.format("2-feed-new-post"), full_page=True)

    # B likes it from the feed; A's open post page counts the like live.
    like = new_card.locator('button.reaction[data-kind="like"]')
    expect(like.locator(".count")).to_have_text("0")
    a_count = a.locator(f'[data-reactions-for="{post_id}"] [data-count="like"]')
    expect(a_count).to_have_text("0")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(new_card.locator('button.reaction[data-kind="like"] .count')).to_have_text("1")
    expect(a_count).to_have_text("1")
    assert a_frames.find(
        lambda f: f.get("type") == "reactions.updated" and str(f.get("post_id")) == post_id
    ), "the count changed without a reactions.updated frame"
    assert_not_reloaded(a)
    assert_not_reloaded(b)
    a.screenshot(path=SCREENSHOTS.format("3-post-liked"), full_page=True)

    # The same feed at phone width.
    b.set_viewport_size({"width": 390, "height": 844})
    expect(new_card).to_be_visible()
    b.screenshot(path=SCREENSHOTS.format("4-feed-phone"))

    for person in ("a", "b"):
        seen = browser_page.problems[person]
        assert not seen.errors and not seen.console, (person, seen)


def test_the_feed_catches_up_after_a_reconnect(live_stack, browser_page):
    ada, ben = api_sign_up(live_stack, "ada"), api_sign_up(live_stack, "ben")
    api(live_stack, "POST", "users/ada/follow", token=ben["token"])
    first_asset, second_asset = generate(
        live_stack, ada["token"], prompt="a lighthouse on a rocky coast at night", count=2
    )
    first = publish(live_stack, ada["token"], first_asset, "Before")

    b = browser_page("b")
    # Only a test can reach the page's socket: keep a reference to every socket the page opens.
    b.context.add_init_script(
        """(() => {
            const Native = window.WebSocket;
            const sockets = (window.__sockets = []);
            window.WebSocket = class extends Native {
                constructor(...args) { super(...args); sockets.push(this); }
            };
        })()"""
    )
    b_frames = SocketFrames(b)
    requests: list[str] = []
    b.on("request", lambda r: requests.append(r.url))
    log_in(b, "ben")
    expect(card(b, first["id"])).to_be_visible()
    expect_live(b)
    b_frames.wait_subscribed("home")
    mark_page(b)

    # A socket of A's own (an API client) shows when the fan-out for the next post has run.
    with ws_connect(
        live_stack.ws_url, additional_headers={"Authorization": f"Bearer {ada['token']}"}
    ) as ada_socket:
        ada_socket.send(json.dumps({"type": "subscribe", "streams": ["home"]}))
        while json.loads(ada_socket.recv(timeout=10))["type"] != "subscribed":
            pass

        # B's network drops. Chromium's offline mode only holds an open socket's frames (they
        # arrive once back online), so the test closes the socket as a lost connection would.
        b.context.set_offline(True)
        b.evaluate("window.__sockets.forEach((socket) => socket.close())")
        expect(b.locator("#live-status")).not_to_have_attribute("data-state", "live")

        # A publishes while B is away; the live event cannot reach B.
        second = publish(live_stack, ada["token"], second_asset, "While you were away")
        while True:
            event = json.loads(ada_socket.recv(timeout=10))
            if event["type"] == "post.created" and event["post"]["id"] == second["id"]:
                break
    expect(card(b, second["id"])).to_have_count(0)
    b.screenshot(path=SCREENSHOTS.format("5-feed-offline"), full_page=True)

    # Back online: the socket reconnects and the page asks for what is newer than its newest card.
    requests.clear()
    with b.expect_response(
        lambda r: "/feed/cards" in r.url and f"since={first['id']}" in r.url, timeout=20_000
    ) as catch_up:
        b.context.set_offline(False)
    assert catch_up.value.ok
    expect_live(b)
    missed = card(b, second["id"])
    expect(missed).to_have_count(1)
    expect(missed.locator(".caption")).to_have_text("While you were away")
    expect_image_loaded(missed.locator(".media img"))
    expect(card(b, first["id"])).to_have_count(1)
    ids = b.locator("#feed article.card").evaluate_all("cards => cards.map(c => c.dataset.postId)")
    assert ids == [second["id"], first["id"]], ids
    assert not any(f"/p/{second['id']}/card" in url for url in requests), (
        "the missed post came from a live event, not from the catch-up"
    )
    assert_not_reloaded(b)
    b.screenshot(path=SCREENSHOTS.format("6-feed-caught-up"), full_page=True)
    assert not browser_page.problems["b"].errors

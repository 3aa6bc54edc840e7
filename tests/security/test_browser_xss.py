"""In a real browser: hostile text that reaches a page live (a card inserted by the feed's
socket handler, comments refreshed on the post page) stays text, and the Content-Security-Policy
refuses inline script and inline handlers even if some markup were ever to slip through."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import browser, browser_page, live_stack  # noqa: F401 (fixtures)
from tests.e2e.test_live_feed import (
    SocketFrames,
    api,
    api_sign_up,
    card,
    expect_live,
    generate,
    log_in,
    publish,
)

pytestmark = pytest.mark.e2e

HOSTILE = '"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_hostile_text_arriving_live_stays_text_and_csp_refuses_inline_script(
    live_stack,  # noqa: F811
    browser_page,  # noqa: F811
):
    ada, ben = api_sign_up(live_stack, "ada"), api_sign_up(live_stack, "ben")
    api(live_stack, "POST", "users/ada/follow", token=ben["token"])
    api(live_stack, "PATCH", "me", token=ada["token"], body={"display_name": "Ada", "bio": HOSTILE})
    (first,) = generate(live_stack, ben["token"], prompt="a calm lake at noon")
    (asset,) = generate(live_stack, ada["token"], prompt="a red barn in snow")

    page = browser_page("ben")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    frames = SocketFrames(page)
    log_in(page, "ben")
    expect_live(page)
    frames.wait_subscribed("home")
    own = publish(live_stack, ben["token"], first, "ben's lake")

    # A hostile caption arrives over the socket; feed.js fetches the card and inserts it.
    post = publish(live_stack, ada["token"], asset, HOSTILE)
    arrived = card(page, post["id"])
    expect(arrived).to_have_count(1)
    expect(arrived.locator("p.caption")).to_contain_text('"><img src=x onerror=')
    assert arrived.locator("img[src='x']").count() == 0
    assert arrived.locator("script").count() == 0

    # A hostile comment arrives on the post page being read; social.js refreshes the list.
    page.goto(f"/p/{own['id']}")
    expect_live(page)
    api(
        live_stack,
        "POST",
        f"posts/{own['id']}/comments",
        token=ada["token"],
        body={"body": HOSTILE},
    )
    comments = page.locator(".comment-list")
    expect(comments).to_contain_text("<script>window.__xss=2</script>")
    assert comments.locator("img[src='x'], script").count() == 0

    page.goto("/u/ada")
    expect(page.locator("body")).to_contain_text("window.__xss=1")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []

    # The CSP itself: inline script and inline handlers added to the page do not run.
    violations = page.evaluate(
        """() => new Promise((resolve) => {
            const seen = [];
            document.addEventListener(
                "securitypolicyviolation", (e) => seen.push(e.violatedDirective));
            const s = document.createElement("script");
            s.textContent = "window.__xss = 3";
            document.body.append(s);
            const img = document.createElement("img");
            img.setAttribute("onerror", "window.__xss = 4");
            img.src = "data:,not-an-image";
            document.body.append(img);
            setTimeout(() => resolve(seen), 500);
        })"""
    )
    assert page.evaluate("window.__xss") is None
    assert any(v.startswith("script-src") for v in violations), violations

"""The feed page counts what arrives while the reader has scrolled away: "N new posts"."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

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


def test_posts_arriving_below_the_fold_are_counted_in_a_button(live_stack, browser_page):
    ada, ben = api_sign_up(live_stack, "ada"), api_sign_up(live_stack, "ben")
    api(live_stack, "POST", "users/ada/follow", token=ben["token"])
    older = generate(live_stack, ada["token"], prompt="dunes under a pale moon", count=4)
    newer = generate(live_stack, ada["token"], prompt="a harbour at dawn in the fog", count=2)
    for n, asset in enumerate(older):
        publish(live_stack, ada["token"], asset, f"older {n}")

    b = browser_page("b", viewport={"width": 390, "height": 500})
    frames = SocketFrames(b)
    log_in(b, "ben")
    expect(b.locator("#feed article.card")).to_have_count(4)
    expect_live(b)
    frames.wait_subscribed("home")
    banner = b.locator("#new-posts")
    expect(banner).to_be_hidden()

    # Ben reads further down; two posts arrive meanwhile.
    b.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    b.wait_for_function("() => window.scrollY > 400")
    posted = [
        publish(live_stack, ada["token"], asset, f"newer {n}") for n, asset in enumerate(newer)
    ]
    for post in posted:
        expect(card(b, post["id"])).to_have_count(1)
    expect(banner).to_be_visible()
    expect(banner).to_have_text("2 new posts")
    ids = b.locator("#feed article.card").evaluate_all("cards => cards.map(c => c.dataset.postId)")
    assert ids[:2] == [posted[1]["id"], posted[0]["id"]], "new posts go on top, newest first"

    # The button takes him to the top and goes away.
    banner.click()
    expect(banner).to_be_hidden()
    b.wait_for_function("() => window.scrollY < 50")
    assert not browser_page.problems["b"].errors

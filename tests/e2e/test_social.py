"""Comments, notifications and remixes in a real browser against real server processes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import (
    SocketFrames,
    api,
    api_sign_up,
    assert_not_reloaded,
    expect_live,
    generate,
    mark_page,
    publish,
    sign_up,
)

pytestmark = pytest.mark.e2e


def test_comments_and_notifications_arrive_live_and_remix_opens_create(live_stack, browser_page):
    ada = api_sign_up(live_stack, "ada")
    asset = generate(live_stack, ada["token"], prompt="a quiet harbour at dusk")[0]
    post = publish(live_stack, ada["token"], asset, "Harbour lights #dusk")

    a = browser_page("a", viewport={"width": 1280, "height": 900})
    b = browser_page("b", viewport={"width": 1280, "height": 900})
    a_frames, b_frames = SocketFrames(a), SocketFrames(b)

    # Ada (logged in through the site) waits on her feed; Ben opens her post.
    a.goto("/login")
    a.get_by_label("Username").fill("ada")
    a.get_by_label("Password").fill("a long and unusual password 9")
    a.get_by_role("button", name="Log in").click()
    expect_live(a)
    a_frames.wait_subscribed("notifications")
    sign_up(b, "ben")
    b.goto(f"/p/{post['id']}")
    expect(b.get_by_role("link", name="#dusk")).to_have_attribute("href", "/tags/dusk")
    expect_live(b)
    b_frames.wait_subscribed(f"post:{post['id']}")
    mark_page(b)

    # Ada comments through the API: Ben's open page shows it without a reload.
    api(
        live_stack,
        "POST",
        f"posts/{post['id']}/comments",
        token=ada["token"],
        body={"body": "Thanks for looking!"},
    )
    expect(b.locator(".comment-list")).to_contain_text("Thanks for looking!")
    assert_not_reloaded(b)

    # Ben comments on the page; Ada's badge counts the notification live.
    b.get_by_placeholder("Add a comment…").fill("Lovely light @ada")
    b.get_by_role("button", name="Comment", exact=True).click()
    expect(b.locator(".comment-list")).to_contain_text("Lovely light")
    a_frames.wait_for(lambda f: f.get("type") == "notification")
    expect(a.locator("#notifications-badge")).to_be_visible()
    a.get_by_role("link", name=re.compile("Notifications")).click()
    expect(a.get_by_test_id("notifications")).to_contain_text("ben commented on your post")

    # Remix opens Create with the prompt and the parent filled in.
    b.get_by_test_id("remix-button").click()
    expect(b).to_have_url(re.compile(r"/create\?"))
    expect(b.locator("#remix-note")).to_contain_text("@ada")
    expect(b.locator("textarea[name=prompt]")).to_have_value("a quiet harbour at dusk")
    expect(b.locator("input[name=remix_of]")).to_have_value(post["id"])

"""The remix family tree on a post page, in a real browser against real server processes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import PASSWORD, api, api_sign_up
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def generate(stack, token: str, prompt: str, remix_of: str | None = None) -> dict:
    body = {"kind": "image", "prompt": prompt, "quality": "draft"}
    if remix_of:
        body["remix_of"] = remix_of
    job = api(stack, "POST", "generations", token=token, body=body)

    def finished():
        current = api(stack, "GET", f"generations/{job['id']}", token=token)
        return current if current["status"] in ("succeeded", "failed", "canceled") else None

    done = wait_for(finished, timeout=60, interval=0.2)
    assert done["status"] == "succeeded", done
    return done["assets"][0]


def log_in(page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("banner").get_by_role("link", name=f"@{username}")).to_be_visible()


def publish(stack, token: str, asset: dict, **extra) -> dict:
    body = {"asset_id": asset["id"], "caption": "", "visibility": "public", **extra}
    return api(stack, "POST", "posts", token=token, body=body)


def test_family_tree_shows_changes_and_keeps_hidden_prompts(live_stack, browser_page):
    ada, ben, cara = (api_sign_up(live_stack, n) for n in ("ada", "ben", "cara"))
    api_sign_up(live_stack, "dan")
    first = publish(live_stack, ada["token"], generate(live_stack, ada["token"], "a quiet harbour"))
    remix = publish(
        live_stack,
        ben["token"],
        generate(live_stack, ben["token"], "a quiet harbour at night", remix_of=first["id"]),
    )
    hidden = publish(
        live_stack,
        cara["token"],
        generate(live_stack, cara["token"], "harbour of whispered secrets", remix_of=remix["id"]),
        hide_prompt=True,
    )
    assert remix["provenance_id"] and hidden["provenance_id"]

    dan = browser_page("dan", viewport={"width": 1280, "height": 900})
    log_in(dan, "dan")
    dan.goto(f"/p/{remix['id']}")
    tree = dan.get_by_test_id("family-tree")
    expect(tree).to_be_visible()
    nodes = tree.get_by_test_id("family-node")
    expect(nodes).to_have_count(3)
    expect(nodes.nth(0)).to_have_attribute("data-relation", "ancestor")
    expect(nodes.nth(1)).to_have_attribute("data-relation", "self")
    expect(nodes.nth(1).locator("ins")).to_have_text("at night")
    expect(nodes.nth(2)).to_contain_text("prompt private")
    expect(dan.locator("body")).not_to_contain_text("whispered")
    dan.get_by_test_id("how-it-was-made").locator("summary").click()
    expect(dan.get_by_test_id("how-it-was-made")).to_contain_text("a quiet harbour at night")
    expect(dan.get_by_test_id("provenance-verified")).to_be_visible()

    # The tree links to the members' posts: up to ada's, where ben's remix is a descendant.
    nodes.nth(0).get_by_role("link", name="@ada").click()
    expect(dan).to_have_url(re.compile(rf"/p/{first['id']}$"))
    expect(dan.get_by_test_id("family-node")).to_have_count(3)
    expect(dan.locator("body")).not_to_contain_text("whispered")

    # cara reads her own hidden prompt on her post's page.
    page = browser_page("cara", viewport={"width": 1280, "height": 900})
    log_in(page, "cara")
    page.goto(f"/p/{hidden['id']}")
    page.get_by_test_id("how-it-was-made").locator("summary").click()
    expect(page.get_by_test_id("how-it-was-made")).to_contain_text("harbour of whispered secrets")

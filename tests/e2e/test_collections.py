"""Collections in a real browser: save from the feed to a new collection, reorder it by
keyboard, make it public and find it on the profile."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import api_sign_up, generate, publish, sign_up

pytestmark = pytest.mark.e2e


def test_save_from_the_feed_reorder_and_show_on_the_profile(live_stack, browser_page):
    ada = api_sign_up(live_stack, "ada")
    first_asset, second_asset = generate(live_stack, ada["token"], prompt="a red kite", count=2)
    first = publish(live_stack, ada["token"], first_asset, "Kite one")
    second = publish(live_stack, ada["token"], second_asset, "Kite two")

    ben = browser_page("ben", viewport={"width": 1280, "height": 900})
    sign_up(ben, "ben")
    ben.goto("/?tab=public")

    # Save the first post to a new collection from the Save menu.
    card = ben.locator(f"#post-{first['id']}")
    card.get_by_role("link", name="Save").click()
    menu = card.get_by_test_id("save-menu")
    expect(menu).to_be_visible()
    menu.get_by_label("New collection").fill("Kites")
    menu.get_by_role("button", name="Create and save").click()
    expect(menu.get_by_test_id("save-status")).to_have_text("Saved to Kites.")
    expect(menu.get_by_role("button", name="Kites")).to_have_attribute("aria-pressed", "true")
    # Escape closes the menu and gives focus back to Save.
    ben.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(card.get_by_role("link", name="Save")).to_be_focused()

    # The second post joins the same collection with one press.
    other = ben.locator(f"#post-{second['id']}")
    other.get_by_role("link", name="Save").click()
    toggle = other.get_by_test_id("save-menu").get_by_role("button", name="Kites")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")

    # The collection keeps them in the order saved; the keyboard moves the first one down.
    ben.get_by_test_id("collections-link").click()
    ben.get_by_test_id("collection-card").filter(has_text="Kites").click()
    expect(ben.get_by_test_id("collection-title")).to_have_text("Kites")
    items = ben.locator(".collection-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-post-id", first["id"])
    items.nth(0).get_by_test_id("move-down").focus()
    ben.keyboard.press("Enter")
    expect(items.nth(0)).to_have_attribute("data-post-id", second["id"])
    expect(items.nth(1)).to_have_attribute("data-post-id", first["id"])

    # Private at first: nobody else sees it on Ben's profile. Made public, everyone does.
    visitor = browser_page("visitor", viewport={"width": 1280, "height": 900})
    visitor.goto("/u/ben")
    expect(visitor.get_by_test_id("profile-collections")).to_have_count(0)
    ben.get_by_text("Rename, share or delete").click()
    ben.get_by_label("Who sees it").select_option("public")
    ben.get_by_role("button", name="Save changes").click()
    expect(ben.get_by_text("Public, on")).to_be_visible()
    visitor.goto("/u/ben")
    shelf = visitor.get_by_test_id("profile-collections")
    expect(shelf.get_by_test_id("collection-card")).to_contain_text("Kites")
    expect(shelf.get_by_test_id("collection-card")).to_contain_text("2 posts")
    shelf.get_by_test_id("collection-card").click()
    expect(visitor.locator(".collection-item")).to_have_count(2)
    expect(visitor.get_by_test_id("move-down")).to_have_count(0)  # not theirs to reorder

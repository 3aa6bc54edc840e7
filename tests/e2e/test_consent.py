"""Likeness consent in a real browser: a person is named on Create and refused until she allows
it on Settings → Likeness & training, where she then sees the use and removes it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import sign_up

pytestmark = pytest.mark.e2e


def test_naming_a_person_on_create_needs_her_consent(live_stack, browser_page):
    vera = browser_page("vera", viewport={"width": 1280, "height": 900})
    sign_up(vera, "vera")
    wyatt = browser_page("wyatt", viewport={"width": 1280, "height": 900})
    sign_up(wyatt, "wyatt")

    wyatt.goto("/create")
    wyatt.get_by_label("Prompt", exact=True).fill("a portrait by the sea at dusk")
    wyatt.get_by_label("People in it").fill("@vera")
    wyatt.get_by_label("Quality").select_option("draft")
    wyatt.locator("#generate-button").click()
    error = wyatt.locator("#generate-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("@vera")

    # Vera finds the page from her settings and approves wyatt.
    vera.get_by_role("navigation").get_by_role("link", name="Settings").click()
    vera.get_by_role("link", name="Likeness & training").click()
    expect(vera).to_have_url(re.compile(r"/settings/consent$"))
    vera.get_by_label("Only people I approve").check()
    vera.get_by_test_id("likeness-policy").get_by_role("button", name="Save").click()
    vera.get_by_label("Username to approve").fill("wyatt")
    vera.get_by_role("button", name="Approve").click()
    expect(vera.get_by_test_id("likeness-approved")).to_contain_text("@wyatt")
    expect(vera.get_by_test_id("consent-events")).to_contain_text("Likeness Approve")

    wyatt.locator("#generate-button").click()
    expect(wyatt.locator("#progress")).to_be_visible()
    expect(error).to_be_hidden()

    vera.reload()
    uses = vera.get_by_test_id("likeness-uses")
    expect(uses).to_contain_text("@wyatt")
    uses.get_by_role("button", name="Remove").click()
    expect(vera.locator(".flash")).to_contain_text("Removed")
    expect(vera.get_by_test_id("likeness-uses")).to_contain_text("removed")

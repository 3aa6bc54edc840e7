"""The settings area in a real browser against real server processes: edit the profile with a
link, make an access token and see its secret once, copy it, then revoke it."""

from __future__ import annotations

import re
import urllib.error

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import api, api_sign_up, log_in

pytestmark = pytest.mark.e2e


def token_works(stack, token: str) -> bool:
    try:
        return api(stack, "GET", "me", token=token)["username"] == "sky"
    except urllib.error.HTTPError as e:
        assert e.code == 401
        return False


def test_profile_links_and_a_token_made_seen_once_and_revoked(live_stack, browser_page):
    api_sign_up(live_stack, "sky")
    page = browser_page(
        "sky",
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    log_in(page, "sky")

    # The site's navigation leads to the settings, which open on the profile.
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/profile$"))
    nav = page.get_by_role("navigation", name="Settings")
    expect(nav.get_by_role("link", name="Profile")).to_have_attribute("aria-current", "page")

    page.get_by_label("Display name").fill("Sky Painter")
    page.get_by_label("Bio").fill("Clouds, mostly.")
    page.get_by_label("Link 1 label").fill("Portfolio")
    page.get_by_label("Link 1 address").fill("https://sky.example/clouds")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    expect(page.get_by_label("Link 1 address")).to_have_value("https://sky.example/clouds")

    # A refused link says why and keeps what was saved.
    page.get_by_label("Link 2 label").fill("Bad")
    page.get_by_label("Link 2 address").fill("javascript:alert(1)")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text("http:// or https://")

    page.goto("/u/sky")
    expect(page.get_by_role("heading", name="Sky Painter")).to_be_visible()
    link = page.get_by_test_id("profile-links").get_by_role("link", name="Portfolio")
    expect(link).to_have_attribute("href", "https://sky.example/clouds")
    expect(link).to_have_attribute("rel", "nofollow noopener ugc")
    expect(page.get_by_text("Bad", exact=True)).to_have_count(0)

    # Make a token: the secret shows once, the copy button copies it, and it works.
    page.goto("/settings/security")
    page.get_by_role("link", name="Manage access tokens").click()
    expect(page).to_have_url(re.compile(r"/settings/tokens$"))
    page.get_by_label("Name").fill("backup script")
    page.get_by_label("write: post, comment, react, follow, generate").check()
    page.get_by_label("In 30 days").check()
    page.get_by_role("button", name="Make token").click()
    secret_box = page.get_by_test_id("token-value")
    expect(secret_box).to_have_value(re.compile(r"^vvd_"))
    secret = secret_box.input_value()
    page.get_by_test_id("copy-token").click()
    expect(page.get_by_test_id("copy-token")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert token_works(live_stack, secret)

    page.goto("/settings/tokens")
    expect(page.get_by_test_id("token-secret")).to_have_count(0)
    assert secret not in page.content()
    row = page.get_by_test_id("token-row").filter(has_text="backup script")
    expect(row.get_by_test_id("token-state")).to_have_text("Active")
    expect(row).to_contain_text("read, write")
    expect(row.get_by_test_id("token-last-used")).not_to_have_text("Never")

    # Revoking asks first: "Cancel" keeps the token, "OK" revokes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_test_id("revoke-token").click()
    page.wait_for_timeout(500)  # time for a submission that should not happen
    expect(row.get_by_test_id("token-state")).to_have_text("Active")
    assert token_works(live_stack, secret)

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    row.get_by_test_id("revoke-token").click()
    expect(page.get_by_text("The token is revoked")).to_be_visible()
    row = page.get_by_test_id("token-row").filter(has_text="backup script")
    expect(row.get_by_test_id("token-state")).to_contain_text("Revoked")
    expect(row.get_by_test_id("revoke-token")).to_have_count(0)
    assert "backup script" in messages[0]
    assert not token_works(live_stack, secret)

    # Nothing the Content-Security-Policy refused, nothing thrown.
    seen = browser_page.problems["sky"]
    assert not seen.errors and not seen.console, (seen.errors, seen.console)

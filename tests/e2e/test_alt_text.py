"""Alt text in a real browser: the creator is offered a description from her prompt when
publishing from Create, uses it, and a visitor's page carries it as the picture's alt; she
changes it later on the post page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import draft_on_create, sign_up

pytestmark = pytest.mark.e2e

PROMPT = "a lighthouse at dawn, watercolor"


def test_alt_text_offered_published_and_edited(live_stack, browser_page):
    author = browser_page("ines", viewport={"width": 1280, "height": 900})
    sign_up(author, "ines")
    result = draft_on_create(author, PROMPT)
    alt_box = result.locator('textarea[name="alt_text"]')
    alt_box.focus()
    offer = result.locator("[data-alt-offer]")
    expect(offer).to_contain_text(f"AI-generated image: {PROMPT}")
    offer.get_by_role("button", name=re.compile("Use the suggestion")).click()
    expect(alt_box).to_have_value(f"AI-generated image: {PROMPT}")
    alt_box.fill(f"AI-generated image: {PROMPT}, soft pink sky")
    result.get_by_role("button", name="Publish").click()
    expect(author).to_have_url(re.compile(r"/p/\d+$"))
    post_url = author.url

    visitor = browser_page("visitor")
    visitor.goto(post_url)
    picture = visitor.locator(".card.large .media img")
    expect(picture).to_have_attribute("alt", f"AI-generated image: {PROMPT}, soft pink sky")

    author.get_by_text("Edit alt text").click()
    author.locator('textarea[name="alt_text"]').fill("A white lighthouse on a cliff at sunrise")
    expect(author.locator("[data-alt-count]")).to_contain_text("40 / 1500")
    author.get_by_role("button", name="Save alt text").click()
    expect(author.get_by_text("Alt text saved.")).to_be_visible()
    visitor.reload()
    expect(picture).to_have_attribute("alt", "A white lighthouse on a cliff at sunrise")

"""Hiding a prompt in a real browser: publish from Create with "Hide the prompt" ticked; a visitor's
post page has no trace of it; the author shows it again from the post page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import draft_on_create, sign_up

pytestmark = pytest.mark.e2e

PROMPT = "zebraquokka lanternfish harbour at dusk"


def test_a_prompt_hidden_when_publishing_stays_with_its_author(live_stack, browser_page):
    author = browser_page("hana", viewport={"width": 1280, "height": 900})
    sign_up(author, "hana")
    result = draft_on_create(author, PROMPT)
    result.get_by_label("Hide the prompt").check()
    result.get_by_role("button", name="Publish").click()
    expect(author).to_have_url(re.compile(r"/p/\d+$"))
    post_url = author.url
    # The URL changes as the post page starts loading: read it once its card is there.
    expect(author.locator(".card.large")).to_be_visible()
    assert "zebraquokka" in author.content(), "the author no longer sees her prompt"

    visitor = browser_page("visitor")
    visitor.goto(post_url)
    expect(visitor.locator(".card.large")).to_be_visible()
    assert "zebraquokka" not in visitor.content().lower()
    visitor.goto("/")
    expect(visitor.locator("#feed article.card")).to_have_count(1)
    assert "zebraquokka" not in visitor.content().lower()

    author.get_by_role("button", name="Show the prompt to others").click()
    expect(author.get_by_role("button", name="Hide the prompt from others")).to_be_visible()
    visitor.goto(post_url)
    assert "zebraquokka" in visitor.content()

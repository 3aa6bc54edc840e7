"""Ideation in a real browser: 16 drafts fill a 4x4 grid live, each tile labelled with its seed;
"Final" on a tile makes the same picture at full quality; "Vary" makes a new grid around it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import expect_live, sign_up

pytestmark = pytest.mark.e2e

PROMPT = "golden hour mountains above a calm lake, drifting clouds"
GRID = "#results figure.result"
READY = "#results figure.result:not(.pending)"
SCREENSHOTS = "/tmp/e2e-ideation-{}.png"


def seeds_of(page) -> list[str]:
    labels = page.locator(f"{GRID} .pick span").all_inner_texts()
    return [re.search(r"seed (\d+)", label).group(1) for label in labels]


def columns(page) -> int:
    return page.eval_on_selector(
        "#results", "el => getComputedStyle(el).gridTemplateColumns.split(' ').length"
    )


def test_a_grid_of_16_drafts_then_a_final_and_a_vary(live_stack, browser_page):
    page = browser_page("ida", viewport={"width": 1280, "height": 900})
    sign_up(page, "ida")
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    # Record how many tiles are ready each time one changes: they must arrive one by one.
    page.evaluate(
        """() => {
            const grid = document.getElementById("results");
            window.__ready = [];
            new MutationObserver(() => window.__ready.push(
                grid.querySelectorAll("figure.result:not(.pending)").length
            )).observe(grid, {subtree: true, attributes: true, attributeFilter: ["class"]});
        }"""
    )
    page.get_by_role("button", name="16 drafts").click()

    expect(page.locator(GRID)).to_have_count(16)
    expect(page.locator(READY)).to_have_count(16, timeout=90_000)
    expect(page.locator("#progress")).to_have_attribute("data-status", "succeeded")
    ready = page.evaluate("window.__ready")
    assert any(0 < n < 16 for n in ready), f"the grid did not fill in live: {ready}"
    assert columns(page) == 4
    seeds = seeds_of(page)
    assert [int(s) for s in seeds] == list(range(int(seeds[0]), int(seeds[0]) + 16))
    third = page.locator(GRID).nth(2)
    expect(third.locator("img")).to_have_attribute(
        "alt", re.compile(rf"^Variation 3, seed {seeds[2]}: golden hour")
    )
    page.screenshot(path=SCREENSHOTS.format("grid"), full_page=True)

    # Final: the same picture at full quality appears under Finals, the grid stays.
    third.get_by_role("button", name=re.compile(r"^Final")).click()
    final = page.locator("#finals-list figure.result")
    expect(final).to_have_count(1)
    expect(final).to_have_attribute("data-status", "succeeded", timeout=90_000)
    expect(final.locator("img")).to_have_attribute(
        "alt", re.compile(rf"^Final of Variation 3, seed {seeds[2]}")
    )
    expect(page.locator(READY)).to_have_count(16)

    # Vary: a new grid around the fifth draft, every tile keeping its seed (the composition).
    page.locator(GRID).nth(4).get_by_role("button", name=re.compile(r"^Vary")).click()
    expect(page.locator("#grid-title")).to_contain_text(f"variations around seed {seeds[4]}")
    expect(page.locator(READY)).to_have_count(16, timeout=90_000)
    varied = page.locator(f"{GRID} .pick span").all_inner_texts()
    assert all(f"seed {seeds[4]}, variation " in label for label in varied), varied
    assert len(set(varied)) == 16

    page.screenshot(path=SCREENSHOTS.format("varied"), full_page=True)

    # On a phone the grid has two columns.
    page.set_viewport_size({"width": 390, "height": 844})
    assert columns(page) == 2
    page.screenshot(path=SCREENSHOTS.format("phone"), full_page=True)

"""The Library in a real browser: make a short clip on Create, then trim it in the Library with the
trim handles and watch the trimmed clip arrive live, about as long as the handles said."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_live_feed import (
    SocketFrames,
    assert_not_reloaded,
    expect_live,
    mark_page,
    sign_up,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = "/tmp/e2e-library-{}.png"
FPS = 24  # the editor's frame grid (apps.media.video.FPS): one arrow-key step of a trim handle


def seconds_shown(locator) -> float:
    text = locator.text_content() or ""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?) s\s*", text)
    assert match, f"not a duration: {text!r}"
    return float(match.group(1))


def press(page: Page, key: str, times: int) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def test_a_clip_made_on_create_is_trimmed_in_the_library(live_stack, browser_page):
    page = browser_page("vera", viewport={"width": 1280, "height": 900})
    frames = SocketFrames(page)
    sign_up(page, "vera")

    # Create: a 2 s draft clip. The kind switch shows once the backends list offers video.
    page.get_by_role("navigation").get_by_role("link", name="Create", exact=True).click()
    expect_live(page)
    kinds = page.locator("#kind-switch")
    expect(kinds).to_be_visible()
    kinds.get_by_text("Video", exact=True).click()
    expect(page.get_by_label("Video")).to_be_checked()
    expect(page.get_by_label("Count")).to_be_hidden()
    page.get_by_label("Prompt", exact=True).fill("waves rolling onto a beach at sunset")
    page.get_by_label("Quality").select_option("draft")
    page.get_by_label("Aspect ratio").select_option("16:9")
    page.get_by_label("Duration (seconds)").fill("2")
    page.evaluate(
        """() => {
            const label = document.getElementById("progress-label");
            window.__labels = [];
            new MutationObserver(() => window.__labels.push(label.textContent))
                .observe(label, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress")).to_have_attribute("data-status", "succeeded", timeout=45_000)
    labels = page.evaluate("window.__labels")
    assert any(re.fullmatch(r"\d+%", label) for label in labels), labels
    clip = page.locator("#results figure.result video")
    expect(clip).to_have_count(1)
    page.wait_for_function(
        "v => v.readyState >= 1 && Math.abs(v.duration - 2) < 0.1", arg=clip.element_handle()
    )
    page.screenshot(path=SCREENSHOTS.format("1-create-video"), full_page=True)

    # The Library shows it first, with its length.
    page.get_by_role("navigation").get_by_role("link", name="Library").click()
    expect(page).to_have_url(re.compile(r"/library$"))
    expect_live(page)
    source = page.locator("#library-items article.lib-item").first
    expect(source).to_have_attribute("data-kind", "video")
    expect(source).to_have_attribute("data-status", "succeeded")
    assert abs(seconds_shown(source.locator('[data-role="duration"]')) - 2.0) < 0.1
    mark_page(page)

    # Trim with the handles: each arrow key moves a handle by one frame; the clip seeks along.
    source.get_by_role("button", name="Trim").click()
    video = source.locator("video")
    expect(source.locator("video[data-seekable]")).to_have_count(1)
    source.get_by_label("Trim start").focus()
    press(page, "ArrowRight", FPS // 2)
    page.wait_for_function("v => Math.abs(v.currentTime - 0.5) < 0.05", arg=video.element_handle())
    source.get_by_label("Trim end").focus()
    press(page, "ArrowLeft", FPS // 2)
    page.wait_for_function("v => Math.abs(v.currentTime - 1.5) < 0.06", arg=video.element_handle())
    trim = source.locator("form.trim")
    expect(trim.locator('output[name="start_out"]')).to_have_text("0.5 s")
    expect(trim.locator('output[name="end_out"]')).to_have_text("1.5 s")
    expect(trim.locator('output[name="length_out"]')).to_have_text("1.0 s")
    page.screenshot(path=SCREENSHOTS.format("2-trim-handles"), full_page=True)
    trim.get_by_role("button", name="Trim").click()

    # The trim appears at the top at once and finishes live, about 1 s long.
    trimmed = page.locator("#library-items article.lib-item").first
    expect(trimmed).to_have_attribute("data-op", "trim")
    expect(trimmed).to_have_attribute("data-status", "succeeded", timeout=30_000)
    done = frames.wait_for(
        lambda f: (
            f.get("type") == "generation.updated"
            and f["job"]["op"] == "trim"
            and f["job"]["status"] == "succeeded"
        )
    )
    assert trimmed.get_attribute("data-job-id") == done["job"]["id"]
    assert abs(seconds_shown(trimmed.locator('[data-role="duration"]')) - 1.0) < 0.1
    expect(trimmed.get_by_text("Trim of 1 clip")).to_be_visible()
    expect(page.locator("#library-items article.lib-item")).to_have_count(2)
    assert_not_reloaded(page)
    page.screenshot(path=SCREENSHOTS.format("3-trimmed"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SCREENSHOTS.format("4-library-phone"))

    seen = browser_page.problems["vera"]
    assert not seen.errors and not seen.console, seen

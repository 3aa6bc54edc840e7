"""Screenshots of the main pages at phone size (360 x 740), for a person to look at.

Not collected with the other tests (the file name does not start with test_); run it by name:

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/screenshots.py

PNGs go to var/screenshots/ (logged out and logged in, one full-page image per page). The run
also prints any element wider than the screen, which is what makes a page scroll sideways.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import MEMBER_PAGES, PUBLIC_PAGES, _scene
from tests.e2e.test_live_feed import api_sign_up, log_in

pytestmark = pytest.mark.e2e

OUT = Path(__file__).resolve().parents[2] / "var" / "screenshots"
TOO_WIDE = """() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 8)
  .map((el) => [el.tagName.toLowerCase(), ...el.classList].join(".")
    + ` ${Math.round(el.getBoundingClientRect().right)}px`)"""


def _name(who: str, path: str) -> str:
    slug = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "home"
    return f"{who}-{slug}.png"


def test_screenshots_of_the_main_pages_at_phone_size(live_stack, browser_page):
    OUT.mkdir(parents=True, exist_ok=True)
    scene = _scene(live_stack)
    api_sign_up(live_stack, "ben")
    visitor = browser_page("visitor", viewport={"width": 360, "height": 740})
    member = browser_page("ben", viewport={"width": 360, "height": 740})
    log_in(member, "ben")
    expect(member.get_by_role("link", name="@ben")).to_be_visible()
    report = []
    for who, page, paths in (("out", visitor, PUBLIC_PAGES), ("in", member, MEMBER_PAGES)):
        for template in paths:
            path = template.replace("{post}", scene["post"]["id"])
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.screenshot(
                path=OUT / _name(who, template.replace("/{post}", "-post")), full_page=True
            )
            wide = page.evaluate(TOO_WIDE)
            if wide:
                report.append(f"{who} {path}: {wide}")
    print("\n".join(report) or "nothing wider than the screen")

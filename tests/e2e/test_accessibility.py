"""Accessibility in a real browser: axe-core on the main pages, logged in and out, at a desktop
and a phone size; no sideways scrolling at 360 px; reactions by keyboard; grid loops that stay
still for a visitor who asked for less motion.

axe-core is injected with Playwright's page.evaluate, which the page's Content-Security-Policy
does not apply to: the policy stays on for these runs.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_live_feed import api, api_sign_up, generate, log_in, publish
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

SIZES = {"desktop": (1280, 800), "phone": (360, 740)}
PUBLIC_PAGES = [
    "/",
    "/?tab=public",
    "/p/{post}",
    "/u/ada",
    "/explore",
    "/search?q=kite",
    "/login",
    "/signup",
]
MEMBER_PAGES = [
    "/",
    "/?tab=public",
    "/p/{post}",
    "/u/ada",
    "/explore",
    "/search?q=kite",
    "/create",
    "/library",
    "/collections",
    "/settings/",
]
FAILING_IMPACTS = {"serious", "critical"}


def _axe_problems(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:4])
        problems.append(
            f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}"
        )
    return problems


def _check_pages(page: Page, paths: list[str], post_id: str, who: str, size: str) -> list[str]:
    found = []
    for template in paths:
        path = template.format(post=post_id)
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        page.wait_for_load_state("networkidle")
        for problem in _axe_problems(page):
            found.append(f"[{who}, {size}] {path}: {problem}")
        if size == "phone":
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 360:
                found.append(f"[{who}, {size}] {path}: scrolls sideways ({width} px wide)")
    return found


def _scene(live_stack) -> dict:
    ada = api_sign_up(live_stack, "ada")
    (asset,) = generate(live_stack, ada["token"], prompt="a red kite over the hills")
    post = publish(live_stack, ada["token"], asset, "A kite #kites")
    return {"ada": ada, "post": post}


def test_the_main_pages_have_no_serious_axe_violations_at_two_sizes(live_stack, browser_page):
    scene = _scene(live_stack)
    api_sign_up(live_stack, "ben")
    problems: list[str] = []
    for size, (width, height) in SIZES.items():
        visitor = browser_page(f"visitor-{size}", viewport={"width": width, "height": height})
        problems += _check_pages(visitor, PUBLIC_PAGES, scene["post"]["id"], "logged out", size)
        member = browser_page(f"ben-{size}", viewport={"width": width, "height": height})
        log_in(member, "ben")
        expect(member.get_by_role("link", name="@ben")).to_be_visible()
        problems += _check_pages(member, MEMBER_PAGES, scene["post"]["id"], "logged in", size)
    assert not problems, "\n".join(problems)


def test_reactions_by_keyboard_and_a_skip_link(live_stack, browser_page):
    scene = _scene(live_stack)
    api_sign_up(live_stack, "ben")
    page = browser_page("ben", viewport={"width": 360, "height": 740})
    log_in(page, "ben")
    expect(page.get_by_role("link", name="@ben")).to_be_visible()
    page.goto(f"/p/{scene['post']['id']}")

    # The first Tab reaches "Skip to content", which takes focus past the navigation.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    like = page.locator(".reactions .reaction[data-kind=like]").first
    expect(like).to_have_accessible_name("Like 0")
    expect(like).to_have_attribute("aria-pressed", "false")
    for _ in range(60):
        page.keyboard.press("Tab")
        if like.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Like button")
    outline = like.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused reaction shows no focus ring"

    page.keyboard.press("Enter")
    like = page.locator(".reactions .reaction[data-kind=like]").first
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_accessible_name("Like 1")
    expect(like).to_be_focused()  # the answer replaced the bar; focus came back to the button
    page.keyboard.press("Enter")
    expect(page.locator(".reactions .reaction[data-kind=like]").first).to_have_attribute(
        "aria-pressed", "false"
    )

    # The Save menu: focus moves in, Tab and Shift+Tab stay inside, Escape gives it back to Save.
    save = page.get_by_test_id("save-button").first
    save.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_test_id("save-menu")
    expect(menu).to_be_visible()
    inside = "() => !!document.activeElement.closest('[data-testid=save-menu]')"
    page.wait_for_function(inside)
    for key in ["Tab"] * 6 + ["Shift+Tab"] * 6:
        page.keyboard.press(key)
        assert page.evaluate(inside), f"focus left the Save menu after {key}"
    assert not (problems := _axe_problems(page)), "\n".join(problems)  # with the menu open
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(save).to_be_focused()


def _video_post(live_stack, token: str) -> dict:
    job = api(
        live_stack,
        "POST",
        "generations",
        token=token,
        body={"kind": "video", "prompt": "waves on a beach", "quality": "draft", "duration_s": 2},
    )

    def finished():
        current = api(live_stack, "GET", f"generations/{job['id']}", token=token)
        return current if current["status"] in ("succeeded", "failed", "canceled") else None

    done = wait_for(finished, timeout=60, interval=0.3)
    assert done["status"] == "succeeded", done
    return publish(live_stack, token, done["assets"][0], "Waves")


def test_grid_loops_play_on_screen_unless_less_motion_is_asked(live_stack, browser_page):
    ada = api_sign_up(live_stack, "ada")
    post = _video_post(live_stack, ada["token"])
    video = f"#post-{post['id']} .media video"

    calm = browser_page("calm", viewport={"width": 360, "height": 740}, reduced_motion="reduce")
    calm.goto("/?tab=public")
    expect(calm.locator(video)).to_be_visible()
    calm.wait_for_timeout(1500)  # long enough for a loop to have started
    assert calm.locator(video).evaluate("v => v.paused && !v.autoplay && v.currentTime === 0")
    # Transitions and animations are cut short too.
    duration = (
        "() => parseFloat(getComputedStyle(document.querySelector('.card')).transitionDuration)"
    )
    assert calm.evaluate(duration) < 0.001

    lively = browser_page("lively", viewport={"width": 360, "height": 740})
    lively.goto("/?tab=public")
    expect(lively.locator(video)).to_be_visible()
    wait_for(lambda: lively.locator(video).evaluate("v => !v.paused"), timeout=10, interval=0.2)

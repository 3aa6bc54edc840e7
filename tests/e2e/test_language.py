"""A reader switches Vivid to Indonesian in the navigation and reads the feed, a post page and
the settings in Indonesian, including a text written by a script (the new-posts button); a
browser that asks for Indonesian gets it before any choice."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_live_feed import (
    SocketFrames,
    api,
    api_sign_up,
    card,
    expect_live,
    generate,
    log_in,
    publish,
)
from tests.test_i18n import ensure_compiled

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _compiled():
    ensure_compiled()


def test_switching_to_indonesian_in_the_navigation(live_stack, browser_page):
    ada, ben = api_sign_up(live_stack, "ada"), api_sign_up(live_stack, "ben")
    api(live_stack, "POST", "users/ada/follow", token=ben["token"])
    first, *later = generate(live_stack, ada["token"], prompt="sawah hijau di pagi hari", count=3)
    post = publish(live_stack, ada["token"], first, "pagi di Ubud")

    b = browser_page("b", viewport={"width": 390, "height": 500}, locale="en-US")
    log_in(b, "ben")
    nav = b.locator("header.topbar")
    expect(nav.get_by_role("link", name="Feed", exact=True)).to_be_visible()

    # The switch in the navigation: choosing a language reloads the page in it (js/language.js).
    # Until that script runs, the switch shows its own button (a choice alone submits nothing);
    # the button hidden is the sign the script is listening.
    switch = b.get_by_test_id("nav-language")
    expect(switch.get_by_role("button")).to_have_class(re.compile(r"\bvisually-hidden\b"))
    switch.locator("select").select_option("id")
    expect(b.locator("html")).to_have_attribute("lang", "id")
    expect(nav.get_by_role("link", name="Beranda", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Pustaka", exact=True)).to_be_visible()
    expect(nav.get_by_role("button", name="Keluar")).to_be_visible()
    expect(nav.get_by_role("link", name="Feed", exact=True)).to_have_count(0)
    expect(b.get_by_role("link", name="Mengikuti", exact=True)).to_be_visible()  # the home tab

    # A text written by a script: posts arriving while Ben has scrolled away.
    frames = SocketFrames(b)
    b.reload()
    expect(card(b, post["id"])).to_have_count(1)
    expect_live(b)
    frames.wait_subscribed("home")
    b.evaluate("document.body.style.minHeight = '3000px'; window.scrollTo(0, 2000)")
    b.wait_for_function("window.scrollY > 400")
    for n, asset in enumerate(later):
        expect(card(b, publish(live_stack, ada["token"], asset, f"sore {n}")["id"])).to_have_count(
            1
        )
    expect(b.locator("#new-posts")).to_have_text("2 postingan baru")

    # The post page.
    b.goto(f"/p/{post['id']}")
    expect(b.get_by_role("heading", name="Komentar")).to_be_visible()
    expect(b.get_by_placeholder("Tulis komentar…")).to_be_visible()
    expect(b.get_by_text("Add a comment…")).to_have_count(0)

    # The settings, where the same choice can be changed back.
    b.goto("/settings/profile")
    section = b.get_by_test_id("settings-language")
    expect(section.get_by_role("heading", name="Bahasa")).to_be_visible()
    expect(b.get_by_role("button", name="Simpan profil")).to_be_visible()
    expect(section.locator("select")).to_have_value("id")
    section.locator("select").select_option("en")
    expect(b.locator("html")).to_have_attribute("lang", "en")
    expect(b).to_have_url(re.compile(r"/settings/profile$"))
    expect(b.get_by_role("button", name="Save profile")).to_be_visible()
    assert not browser_page.problems["b"].errors


def test_a_browser_asking_for_indonesian_gets_it_without_a_choice(live_stack, browser_page):
    page = browser_page("anon", locale="id-ID")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("button", name="Masuk")).to_be_visible()
    expect(page.get_by_text("Lupa kata sandi?")).to_be_visible()
    expect(page.get_by_test_id("nav-language").locator("select")).to_have_value("id")

"""The Content-Security-Policy in a real browser: the main pages (feed, a post, a profile,
Create, the Library, notifications, the settings pages, a moderator's queue and case page) load
with no violation reported and still work (a sensitive post revealed by a click, the media of a
case unblurred, a delete that asks first and is kept when refused); and script that got into a
page anyway does not run: an inline <script>, an on*="" handler and a style="" attribute are
refused and reported, while the caption and bio that carry them are shown as text.

Violations are seen two ways: a ``securitypolicyviolation`` listener installed in every
document before the page's own scripts, and Chromium's console errors about the policy.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_live_feed import api, api_sign_up, card, expect_image_loaded, generate
from tests.e2e.test_moderation_flow import enter_as, make_moderator

pytestmark = pytest.mark.e2e

XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
}, true);
"""


class Watch:
    """CSP violations and uncaught errors of one person's pages."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.context.add_init_script(LISTEN)
        page.on(
            "console",
            lambda m: self.console.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def violations(self) -> list:
        return [*self.page.evaluate("window.__csp || []"), *self.console]

    def visit(self, path: str) -> None:
        """Open ``path``, let its scripts run, and find no violation and no error."""
        response = self.page.goto(path)
        assert response is not None and response.status == 200, (path, response)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, (path, policy)
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(300)  # modules run, the socket connects, late inserts land
        assert self.violations() == [], f"{path}: {self.violations()}"
        assert self.errors == [], f"{path}: {self.errors}"


def sensitive_post(stack, token: str, asset: dict, caption: str) -> dict:
    body = {"asset_id": asset["id"], "caption": caption, "visibility": "public", "sensitive": True}
    return api(stack, "POST", "posts", token=token, body=body)


def test_the_main_pages_keep_the_policy_and_still_work(live_stack, browser_page, make_user):
    ada = api_sign_up(live_stack, "ada")
    make_user("ben")
    make_user("mia")
    make_moderator("mia")
    first, second = generate(live_stack, ada["token"], prompt="a quiet harbour at dawn", count=2)
    plain = api(
        live_stack,
        "POST",
        "posts",
        token=ada["token"],
        body={"asset_id": first["id"], "caption": "Harbour " + XSS, "visibility": "public"},
    )
    veiled = sensitive_post(live_stack, ada["token"], second, "Storm, sensitive")

    ben_page = browser_page("ben", viewport={"width": 1280, "height": 900})
    ben = Watch(ben_page)
    enter_as(ben_page, live_stack, "ben", "/create")

    # The feed: cards shaped by page.js (placeholder colour, aspect ratio), the sensitive one
    # veiled until its button is clicked.
    ben.visit("/?tab=public")
    shown = card(ben_page, veiled["id"])
    expect(shown).to_be_visible()
    media = shown.locator(".media")
    assert media.evaluate("el => getComputedStyle(el).aspectRatio") not in ("auto", "")
    assert media.evaluate("el => el.style.background") != ""
    expect(shown).not_to_have_class(re.compile(r"\brevealed\b"))
    shown.get_by_role("button", name="Sensitive — show").click()
    expect(shown).to_have_class(re.compile(r"\brevealed\b"))
    # The caption with a script in it is text; nothing of it ran.
    expect(card(ben_page, plain["id"])).to_contain_text("<script>window.__xss = 1</script>")
    assert ben_page.evaluate("window.__xss") is None

    # The post's page: the same veil.
    ben.visit(f"/p/{veiled['id']}")
    article = ben_page.locator(f"article#post-{veiled['id']}")
    article.get_by_role("button", name="Sensitive — show").click()
    expect(article).to_have_class(re.compile(r"\brevealed\b"))
    expect_image_loaded(article.locator(".media img"))

    # A profile; blocking asks first and nothing happens when refused.
    ben.visit("/u/ada")
    asked: list[str] = []

    def refuse(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    ben_page.once("dialog", refuse)
    ben_page.get_by_test_id("block-button").click()
    ben_page.wait_for_timeout(300)
    assert asked and asked[0].startswith("Block @ada?"), asked
    expect(ben_page).to_have_url(re.compile(r"/u/ada$"))
    expect(ben_page.get_by_test_id("block-button")).to_be_visible()

    for path in ("/create", "/library", "/notifications", "/verify", "/reports/mine"):
        ben.visit(path)
    # The settings area (each page that exists).
    settings_pages = ["/settings/privacy", "/settings/consent"]
    settings_pages += [
        f"/settings/{name}" for name in ("profile", "security", "tokens", "data", "data/export")
    ]
    settings_pages += ["/accounts/2fa/", "/accounts/sessions/", "/accounts/email/"]
    visited = []
    for path in settings_pages:
        probe = ben_page.request.get(path, max_redirects=0)
        if probe.status == 200:
            ben.visit(path)
            visited.append(path)
    assert "/settings/privacy" in visited

    # The author deletes a post: asked first; refused, the post stays; accepted, it goes.
    ada_page = browser_page("ada", viewport={"width": 1280, "height": 900})
    ada_watch = Watch(ada_page)
    enter_as(ada_page, live_stack, "ada", "/create")
    ada_watch.visit(f"/p/{plain['id']}")
    ada_page.once("dialog", lambda dialog: dialog.dismiss())
    ada_page.get_by_role("button", name="Delete").click()
    ada_page.wait_for_timeout(300)
    expect(ada_page).to_have_url(re.compile(rf"/p/{plain['id']}$"))
    ada_page.once("dialog", lambda dialog: dialog.accept())
    ada_page.get_by_role("button", name="Delete").click()
    expect(ada_page).to_have_url(re.compile(r"/$"))  # back on the feed
    assert ada_page.request.get(f"/p/{plain['id']}").status == 404
    assert ada_watch.violations() == []

    # A moderator's queue and case page: the reported media blurred until clicked.
    from apps.accounts.models import User
    from apps.moderation import cases

    report = cases.report_create(
        reporter=User.objects.get(username="ben"),
        target_type="post",
        target_id=veiled["id"],
        reason="violence",
    )
    mia_page = browser_page("mia", viewport={"width": 1280, "height": 900})
    mia = Watch(mia_page)
    enter_as(mia_page, live_stack, "mia", "/create")
    mia.visit("/moderation/")
    mia.visit(f"/moderation/cases/{report.case_id}")
    case_media = mia_page.get_by_test_id("case-media")
    expect(case_media).to_have_class(re.compile(r"\bblurred\b"))
    case_media.click()
    expect(case_media).not_to_have_class(re.compile(r"\bblurred\b"))
    assert mia.violations() == []
    assert ben.violations() == []

    # The Django admin, at ADMIN_URL, keeps the same policy.
    make_user("operator", is_staff=True, is_superuser=True)
    op_page = browser_page("op", viewport={"width": 1280, "height": 900})
    op = Watch(op_page)
    enter_as(op_page, live_stack, "operator", "/create")
    op.visit("/manage/")
    expect(op_page.get_by_text("Site administration")).to_be_visible()
    op.visit("/manage/auth/group/add/")
    op_page.get_by_label("Name").fill("helpers")
    op_page.get_by_role("button", name="Save", exact=True).click()
    expect(op_page.locator("#result_list").get_by_role("link", name="helpers")).to_be_visible()
    assert op.violations() == [], op.violations()


def test_script_that_got_into_a_page_does_not_run(live_stack, browser_page):
    ada = api_sign_up(live_stack, "ada")
    api(live_stack, "PATCH", "me", token=ada["token"], body={"bio": "Painter " + XSS})
    page = browser_page("visitor", viewport={"width": 1280, "height": 900})
    watch = Watch(page)
    watch.visit("/u/ada")
    # Escaped: the bio is shown as text, its script never ran.
    expect(page.get_by_text("Painter <script>window.__xss = 1</script>")).to_be_visible()
    assert page.evaluate("window.__xss") is None

    # The second wall: markup that reached the document anyway is refused by the policy.
    with pytest.raises(Exception):  # noqa: B017 (Playwright reports the refused script so)
        page.add_script_tag(content="window.__inline = 1")
    page.evaluate(
        """() => {
            const box = document.createElement("div");
            box.innerHTML = '<img src="data:," onerror="window.__handler = 1">'
                + '<p id="styled" style="color: rgb(255, 0, 0)">styled</p>';
            document.body.append(box);
        }"""
    )
    page.wait_for_timeout(500)
    assert page.evaluate("window.__inline") is None
    assert page.evaluate("window.__handler") is None
    assert (
        page.evaluate("getComputedStyle(document.getElementById('styled')).color")
        != "rgb(255, 0, 0)"
    )
    directives = {v["directive"] for v in page.evaluate("window.__csp")}
    assert {"script-src-elem", "script-src-attr", "style-src-attr"} <= directives, directives

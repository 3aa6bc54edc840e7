"""Moderation in a real browser, against real server processes: a report on a post reaches a
moderator's open queue live; the moderator opens the case, reveals the blurred media and removes
the post; it is gone for visitors; its author is told, reads "removed by the moderators" on the
post's page and appeals there; another moderator reverses the decision on the appeals page; the
post is back for everyone and its author is told. And the count of open cases in moderators'
navigation, kept current live.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_live_feed import (
    SocketFrames,
    api,
    api_sign_up,
    assert_not_reloaded,
    card,
    expect_image_loaded,
    expect_live,
    generate,
    log_in,
    mark_page,
    publish,
)

pytestmark = pytest.mark.e2e


def make_moderator(username: str) -> None:
    """The role given the way operators and tests give it (``grant_moderator`` calls the same)."""
    from apps.accounts.models import User
    from apps.moderation.roles import role_set

    role_set(user=User.objects.get(username=username), role="moderator")


def enter_as(page: Page, stack, username: str, path: str) -> None:
    """Open ``path`` signed in as ``username`` through a session made here (the login form is
    covered elsewhere; on a busy machine each form login costs seconds)."""
    from django.conf import settings
    from django.test import Client

    from apps.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    name = settings.SESSION_COOKIE_NAME
    page.context.add_cookies(
        [{"name": name, "value": client.cookies[name].value, "url": stack.url}]
    )
    page.goto(path)
    expect(page.get_by_role("link", name=f"@{username}")).to_be_visible()


def filter_of(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).filter")


def in_public_feed(page: Page, post_id: str):
    page.goto("/?tab=public")
    return card(page, post_id)


def test_a_moderator_handles_a_report_from_queue_to_reversed_appeal(
    live_stack, browser_page, make_user
):
    ada = api_sign_up(live_stack, "ada")  # the author
    make_user("ben")  # the reporter
    api_sign_up(live_stack, "mia")  # the moderator who removes (logs in through the form)
    make_user("max")  # the moderator who decides the appeal
    make_moderator("mia")
    make_moderator("max")
    asset = generate(live_stack, ada["token"], prompt="a storm over a lighthouse")[0]
    post = publish(live_stack, ada["token"], asset, "Storm at the lighthouse #sea")
    post_url = f"/p/{post['id']}"

    # A visitor keeps the public feed open.
    visitor = browser_page("visitor", viewport={"width": 1280, "height": 900})
    visitor_frames = SocketFrames(visitor)
    visitor_card = in_public_feed(visitor, post["id"])
    expect(visitor_card).to_be_visible()
    expect_live(visitor)
    visitor_frames.wait_subscribed(f"post:{post['id']}")
    mark_page(visitor)

    # Mia keeps the queue open: nothing waits yet.
    mia = browser_page("mia", viewport={"width": 1280, "height": 900})
    mia_frames = SocketFrames(mia)
    log_in(mia, "mia")
    mia.get_by_test_id("moderation-link").click()
    expect(mia).to_have_url(re.compile(r"/moderation/$"))
    expect(mia.get_by_test_id("queue-empty")).to_be_visible()
    expect(mia.get_by_test_id("open-count")).to_have_text("0")
    expect_live(mia)
    mia_frames.wait_subscribed("moderation")
    mark_page(mia)

    # Ben reports the post from its page: report link → reason → send.
    ben = browser_page("ben", viewport={"width": 1280, "height": 900})
    enter_as(ben, live_stack, "ben", post_url)
    ben.get_by_test_id("report-post").click()
    form = ben.get_by_test_id("report-form")
    expect(form).to_be_visible()
    form.get_by_label("Violence").check()
    form.get_by_label("Details (optional)").fill("Looks like a real shipwreck with people.")
    form.get_by_role("button", name="Send report").click()
    expect(ben).to_have_url(re.compile(r"/reports/mine$"))
    expect(ben.get_by_test_id("my-reports")).to_contain_text("being reviewed")

    # The case appears in Mia's queue without a reload, the count with it. (The row drawn from
    # the live event names the author, not the caption: the event carries no preview.)
    row = mia.locator("#queue-rows tr").filter(has_text="by @ada")
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-reason", "violence")
    expect(row).to_contain_text("1 reports")
    expect(mia.get_by_test_id("open-count")).to_have_text("1")
    expect(mia.locator("#moderation-badge")).to_have_text("1")
    assert_not_reloaded(mia)

    # The case view: the media blurred until clicked, the caption, the report.
    row.get_by_role("link").first.click()
    expect(mia).to_have_url(re.compile(r"/moderation/cases/\d+$"))
    case_url = mia.url
    expect(mia.get_by_test_id("case-caption")).to_have_text("Storm at the lighthouse #sea")
    expect(mia.get_by_test_id("case-prompt")).to_have_text("a storm over a lighthouse")
    expect(mia.get_by_test_id("case-reports")).to_contain_text("@ben")
    media = mia.get_by_test_id("case-media")
    image = media.locator("img")
    expect_image_loaded(image)
    expect(media).to_have_class(re.compile(r"\bblurred\b"))
    assert "blur" in filter_of(image)
    media.click()
    expect(media).not_to_have_class(re.compile(r"\bblurred\b"))
    assert filter_of(image) == "none"

    # Remove, with a reason and a note.
    act = mia.get_by_test_id("action-form")
    act.get_by_label("Action").select_option("remove")
    act.get_by_label("Reason").select_option("violence")
    act.get_by_label("Note").fill("Graphic wreck imagery.")
    act.get_by_role("button", name="Apply").click()
    expect(mia.locator(".flash")).to_contain_text("Done: remove")
    expect(mia.get_by_test_id("case-status")).not_to_have_text("open")
    expect(mia.get_by_test_id("case-actions")).to_contain_text("remove (violence) by @mia")
    expect(mia.get_by_test_id("case-actions")).to_contain_text("Graphic wreck imagery.")

    # Gone for the visitor: off the open feed at once (post.deleted), then its page answers 404
    # and a fresh public feed does not show it.
    expect(visitor_card).to_have_count(0)
    assert_not_reloaded(visitor)
    assert visitor.goto(post_url).status == 404
    feed = in_public_feed(visitor, post["id"])
    expect(visitor.locator("#feed")).to_be_attached()
    expect(feed).to_have_count(0)

    # Ben learns the outcome of his report.
    ben.goto("/reports/mine")
    expect(ben.get_by_test_id("outcome")).to_contain_text("upheld")

    # Ada is told (a notification of kind moderation); it leads to her post's page, which says why.
    author = browser_page("ada", viewport={"width": 1280, "height": 900})
    enter_as(author, live_stack, "ada", "/notifications")
    notice = author.locator('[data-testid="notifications"] li[data-type="moderation"]')
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("removed by the moderators")
    notice.get_by_role("link").first.click()
    expect(author).to_have_url(re.compile(re.escape(post_url) + "$"))
    removed = author.get_by_test_id("removed-notice")
    expect(removed).to_contain_text("removed by the moderators")
    expect(removed).to_contain_text("violent content that breaks the rules")

    # She appeals from that page.
    appeal = author.get_by_test_id("appeal-form")
    appeal.get_by_label("Why should the moderators change their decision?").fill(
        "It is a painting of a storm; nobody is in it."
    )
    appeal.get_by_role("button", name="Send appeal").click()
    expect(author.get_by_test_id("appeal-status")).to_contain_text("waiting for a moderator")
    expect(author.get_by_test_id("appeal-form")).to_have_count(0)

    # Mia took the decision: the appeals page does not let her decide it.
    mia.goto("/moderation/appeals")
    pending = mia.get_by_test_id("appeals").locator("li").filter(has_text="@ada appeals")
    expect(pending).to_contain_text("You took this decision")
    expect(pending.get_by_role("button", name="Reverse")).to_have_count(0)

    # Max, another moderator, reverses it.
    max_ = browser_page("max", viewport={"width": 1280, "height": 900})
    enter_as(max_, live_stack, "max", "/moderation/appeals")
    pending = max_.get_by_test_id("appeals").locator("li").filter(has_text="@ada appeals")
    expect(pending).to_contain_text("remove")
    expect(pending).to_contain_text("It is a painting of a storm")
    pending.get_by_label("Note to keep").fill("A painting; no real people.")
    pending.get_by_role("button", name="Reverse").click()
    expect(max_.locator(".flash")).to_contain_text("Appeal reversed")
    expect(max_.get_by_test_id("appeals")).to_contain_text("No appeal is waiting.")
    max_.goto(case_url)
    expect(max_.get_by_test_id("case-actions")).to_contain_text("reversed")

    # Back for the visitor: its page and the public feed.
    assert visitor.goto(post_url).status == 200
    expect(visitor.locator(".card.large")).to_contain_text("Storm at the lighthouse")
    expect(in_public_feed(visitor, post["id"])).to_be_visible()

    # Ada is told, and her page is the post again.
    author.goto("/notifications")
    notices = author.locator('[data-testid="notifications"] li[data-type="moderation"]')
    expect(notices).to_have_count(2)
    expect(notices.first).to_contain_text("reversed their decision")
    author.goto(post_url)
    expect(author.get_by_test_id("removed-notice")).to_have_count(0)
    expect(author.locator(".card.large")).to_contain_text("Storm at the lighthouse")


def test_moderators_see_the_count_of_open_cases_in_the_navigation(
    live_stack, browser_page, make_user
):
    ada, dan, mia = make_user("ada"), make_user("dan"), make_user("mia")
    ben = api_sign_up(live_stack, "ben")
    cat = api_sign_up(live_stack, "cat")
    make_moderator("mia")

    def report(reporter: dict, user) -> None:
        body = {"target": {"type": "user", "id": str(user.id)}, "reason": "spam"}
        api(live_stack, "POST", "reports", token=reporter["token"], body=body)

    # Mia reads her feed; no case is open, so no count shows.
    page = browser_page("mia", viewport={"width": 1280, "height": 900})
    frames = SocketFrames(page)
    enter_as(page, live_stack, mia.username, "/")
    link = page.get_by_test_id("moderation-link")
    badge = page.locator("#moderation-badge")
    expect(link).to_be_visible()
    expect(badge).to_be_hidden()
    expect_live(page)
    frames.wait_subscribed("moderation")
    mark_page(page)

    # Reports open cases: the count follows live.
    report(ben, ada)
    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    report(ben, dan)
    expect(badge).to_have_text("2")
    # Another report on an open case joins it: still two cases.
    report(cat, ada)
    frames.wait_for(
        lambda f: f.get("type") == "moderation.case" and f["case"].get("reports_count") == 2
    )
    page.wait_for_timeout(500)  # the count is read again 300 ms after an event
    expect(badge).to_have_text("2")
    assert_not_reloaded(page)

    # Dismissing one from its case page leaves one.
    link.click()
    page.locator("#queue-rows tr").filter(has_text="@dan").get_by_role("link").first.click()
    act = page.get_by_test_id("action-form")
    act.get_by_label("Action").select_option("dismiss")
    act.get_by_role("button", name="Apply").click()
    expect(page.locator(".flash")).to_contain_text("Done: dismiss")
    expect(badge).to_have_text("1")

    # People who do not moderate have no such link.
    person = browser_page("ben", viewport={"width": 1280, "height": 900})
    enter_as(person, live_stack, "ben", "/")
    expect(person.get_by_test_id("moderation-link")).to_have_count(0)

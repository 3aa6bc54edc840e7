"""CSRF on every site form: the site is walked as a visitor, a signed-in person and a moderator
(following its own links from the main pages, so pages added later are walked too); every POST
form found carries the csrfmiddlewaretoken, and posting to it without the token answers 403.
htmx writes (hx-post, hx-delete, ...) send the token in a header the page's <body> sets; without
it they answer 403 as well.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from apps.moderation import cases
from apps.moderation.roles import role_set

pytestmark = pytest.mark.django_db

# Not pages: the API, files, the admin (Django's own, staff only), and links that change state.
SKIP_PREFIXES = ("/api/", "/media/", "/static/", "/manage/", "/moderation/media/")
SKIP_WORDS = ("logout", "download")
MAX_PAGES = 150
HX_WRITES = ("hx-post", "hx-put", "hx-patch", "hx-delete")


@dataclass
class Form:
    page: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    token: str | None = None


@dataclass
class Parsed:
    links: list[str] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    hx_writes: list[tuple[str, str]] = field(default_factory=list)  # (method, url)
    body_headers: str = ""


class PageParser(HTMLParser):
    def __init__(self, page: str):
        super().__init__()
        self.page = page
        self.found = Parsed()
        self._form: Form | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.found.links.append(urljoin(self.page, a["href"]))
        elif tag == "body":
            self.found.body_headers = a.get("hx-headers", "")
        elif tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = Form(self.page, urljoin(self.page, a.get("action") or self.page))
                self.found.forms.append(self._form)
            else:
                self._form = None
        elif tag in ("input", "textarea", "select", "button") and self._form and a.get("name"):
            if a["name"] == "csrfmiddlewaretoken":
                self._form.token = a.get("value", "")
            elif tag != "button" and a.get("type") not in ("checkbox", "radio", "file"):
                self._form.fields.setdefault(a["name"], a.get("value", ""))
        for attr in HX_WRITES:
            if a.get(attr):
                self.found.hx_writes.append((attr[3:], urljoin(self.page, a[attr])))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def walk(client: Client, seeds: list[str]) -> tuple[list[str], Parsed]:
    """Every page reachable from ``seeds`` through the site's own links (GET only)."""
    seen: set[str] = set()
    queue = deque(seeds)
    pages: list[str] = []
    everything = Parsed()
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc not in ("", "testserver") or parts.scheme not in ("", "http"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path in seen or parts.path.startswith(SKIP_PREFIXES):
            continue
        if any(word in parts.path for word in SKIP_WORDS):
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages.append(path)
        parser = PageParser(f"http://testserver{path}")
        parser.feed(response.content.decode())
        found = parser.found
        if found.hx_writes:
            assert "X-CSRFToken" in found.body_headers, f"{path}: htmx writes without the token"
        everything.forms += found.forms
        everything.hx_writes += found.hx_writes
        queue.extend(link for link in found.links if urlsplit(link).path not in seen)
    return pages, everything


@pytest.fixture
def scene(alice, bob, publish, make_user, settings):
    settings.MODERATION_REPORTS_PER_HOUR = 10_000
    mine = publish(alice, caption="my harbour")
    theirs = publish(bob, caption="bob's lighthouse")
    from tests.conftest import client_for

    client_for(alice).post(
        f"/api/v1/posts/{theirs['id']}/comments", {"body": "lovely"}, format="json"
    )
    report = cases.report_create(
        reporter=alice, target_type="post", target_id=theirs["id"], reason="spam"
    )
    moderator = make_user("mod")
    role_set(user=moderator, role="moderator")
    return {"mine": mine, "theirs": theirs, "case_id": report.case_id, "moderator": moderator}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_forms_need_the_token(user, pages: list[str], found: Parsed) -> int:
    assert found.forms, f"no POST form found on {pages}"
    missing = [f"{f.page} -> {f.action}" for f in found.forms if not f.token]
    assert not missing, "POST forms without csrfmiddlewaretoken:\n" + "\n".join(missing)
    strict = Client(enforce_csrf_checks=True)
    if user is not None:
        strict.force_login(user)
    # The person has the CSRF cookie, as a victim of a cross-site form would: only the token
    # in the form (or header) is missing.
    strict.get(pages[0])
    assert strict.cookies.get("csrftoken"), "no CSRF cookie set by the first page"
    checked = set()
    for form in found.forms:
        action = urlsplit(form.action)
        path = action.path + (f"?{action.query}" if action.query else "")
        if path in checked:
            continue
        checked.add(path)
        response = strict.post(path, form.fields)
        assert response.status_code == 403, f"{path} (from {form.page}): {response.status_code}"
    for method, url in found.hx_writes:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path in checked:
            continue
        checked.add(path)
        response = strict.generic(method.upper(), path, HTTP_HX_REQUEST="true")
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
    return len(checked)


def test_every_form_of_a_signed_in_person_needs_the_csrf_token(scene, alice):
    seeds = [
        "/",
        "/?tab=public",
        f"/p/{scene['mine']['id']}",
        f"/p/{scene['theirs']['id']}",
        "/u/alice",
        "/u/bob",
        "/create",
        "/library",
        "/notifications",
        "/settings/privacy",
        "/settings/consent",
        "/verify",
        "/reports/mine",
        "/appeals",
        f"/report?type=post&id={scene['theirs']['id']}",
    ]
    pages, found = walk(signed_in(alice), seeds)
    assert {"/", f"/p/{scene['mine']['id']}", "/u/bob", "/settings/privacy"} <= set(pages)
    checked = assert_forms_need_the_token(alice, pages, found)
    # The post's delete, comment, prompt, follow, block, mute, privacy, consent, log-out ...
    assert checked >= 8, checked


def test_every_form_of_a_moderator_needs_the_csrf_token(scene):
    moderator = scene["moderator"]
    seeds = [
        "/moderation/",
        f"/moderation/cases/{scene['case_id']}",
        "/moderation/terms",
        "/moderation/appeals",
        "/moderation/audit",
    ]
    pages, found = walk(signed_in(moderator), seeds)
    assert f"/moderation/cases/{scene['case_id']}" in pages
    checked = assert_forms_need_the_token(moderator, pages, found)
    assert checked >= 4, checked


def test_every_form_of_a_visitor_needs_the_csrf_token(scene):
    pages, found = walk(Client(), ["/", "/login", "/signup", "/verify"])
    assert_forms_need_the_token(None, pages, found)

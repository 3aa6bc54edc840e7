"""The settings area: every page renders for its owner, sends visitors to log in, saves what it
says, refuses bad input without losing what was saved, and links where it promises to."""

import pytest
from django.test import Client

from apps.accounts.models import User

pytestmark = pytest.mark.django_db

PAGES = ["/settings/profile", "/settings/privacy", "/settings/security", "/settings/tokens"]
PAGES += ["/settings/data"]


@pytest.fixture
def site():
    def login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def test_settings_opens_on_the_profile_page(site, alice):
    response = site(alice).get("/settings/")
    assert response.status_code == 302 and response["Location"] == "/settings/profile"


@pytest.mark.parametrize("path", ["/settings/", *PAGES])
def test_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login")


@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_the_side_navigation_with_itself_current(site, alice, path):
    body = site(alice).get(path).content.decode()
    nav = body.split('class="settings-nav"')[1].split("</nav>")[0]
    for href in PAGES:
        assert f'href="{href}"' in nav
    assert f'href="{path}" aria-current="page"' in nav
    assert nav.count("aria-current") == 1


def test_the_site_navigation_links_to_settings_for_signed_in_people(site, client, alice):
    assert 'href="/settings/"' in site(alice).get("/").content.decode()
    assert 'href="/settings/"' not in client.get("/").content.decode()


def test_no_settings_page_has_inline_script_style_or_handlers(site, alice, make_user):
    import re

    from apps.accounts import services

    services.token_create(user=alice, name="cli")
    client = site(alice)
    bodies = [client.get(p).content.decode() for p in PAGES]
    bodies.append(client.post("/settings/tokens", {"name": "x", "scopes": ["read"]}).content)
    for body in bodies:
        body = body.decode() if isinstance(body, bytes) else body
        assert "<main" in body
        assert not re.search(r"<script(?![^>]*\bsrc=)", body)
        assert not re.search(r"\son[a-z]+\s*=", body)
        assert " style=" not in body


def test_profile_saves_name_bio_and_links_and_shows_them_on_the_profile(site, client, alice):
    page = site(alice)
    response = page.post(
        "/settings/profile",
        {
            "display_name": "Alice A.",
            "bio": "I paint with light",
            "link_label_0": "Portfolio",
            "link_url_0": "https://alice.example/art",
            "link_label_1": "",
            "link_url_1": "",
            "link_label_2": "Shop",
            "link_url_2": "http://shop.example",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/settings/profile"
    alice.refresh_from_db()
    assert alice.display_name == "Alice A." and alice.bio == "I paint with light"
    assert alice.links == [
        {"label": "Portfolio", "url": "https://alice.example/art"},
        {"label": "Shop", "url": "http://shop.example"},
    ]
    form = page.get("/settings/profile").content.decode()
    assert 'value="https://alice.example/art"' in form and 'value="Shop"' in form
    profile = client.get("/u/alice").content.decode()
    assert (
        '<a href="https://alice.example/art" rel="nofollow noopener ugc" target="_blank">'
        "Portfolio</a>" in profile
    )


@pytest.mark.parametrize(
    ("label", "url", "message"),
    [
        ("Evil", "javascript:alert(1)", "http:// or https://"),
        ("Files", "ftp://files.example/x", "http:// or https://"),
        ("Nothing", "not a url", "http:// or https://"),
        ("", "https://alice.example", "a label of 1 to 40"),
        ("x" * 41, "https://alice.example", "Ensure this value has at most 40"),
        ("Long", "https://alice.example/" + "a" * 300, "at most 300"),
    ],
)
def test_a_bad_link_is_refused_and_nothing_is_lost(site, alice, label, url, message):
    alice.display_name, alice.links = "Kept", [{"label": "Old", "url": "https://old.example"}]
    alice.save()
    response = site(alice).post(
        "/settings/profile",
        {"display_name": "Changed", "bio": "", "link_label_0": label, "link_url_0": url},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    alice.refresh_from_db()
    assert alice.display_name == "Kept"
    assert alice.links == [{"label": "Old", "url": "https://old.example"}]


def test_link_labels_are_escaped_on_the_profile(site, client, alice):
    site(alice).post(
        "/settings/profile",
        {
            "display_name": "",
            "bio": "",
            "link_label_0": "<script>alert(1)</script>",
            "link_url_0": 'https://x.example/?a=1&b="><script>',
        },
    )
    alice.refresh_from_db()
    profile = client.get("/u/alice").content.decode()
    assert "<script>alert(1)</script>" not in profile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in profile


def test_the_profile_page_offers_the_avatar_upload(site, alice):
    body = site(alice).get("/settings/profile").content.decode()
    assert 'action="/settings/avatar"' in body and 'enctype="multipart/form-data"' in body


def test_privacy_saves_and_shows_consent_state(site, alice):
    from apps.consent import services as consent_services

    page = site(alice)
    body = page.get("/settings/privacy").content.decode()
    state = body.split('data-testid="consent-state"')[1].split("</dl>")[0]
    assert "Nobody but me" in state and "Not allowed" in state
    assert 'href="/settings/consent"' in state

    consent_services.likeness_consent_set(user=alice, policy="everyone")
    consent_services.training_default_set(user=alice, default_allowed=True)
    state = page.get("/settings/privacy").content.decode().split('data-testid="consent-state"')[1]
    assert "Everyone" in state.split("</dl>")[0] and "Allowed" in state.split("</dl>")[0]

    response = page.post("/settings/privacy", {"is_private": "on", "sensitive_media": "show"})
    assert response.status_code == 302 and response["Location"] == "/settings/privacy"
    alice.refresh_from_db()
    assert alice.is_private and alice.sensitive_media == "show"
    page.post("/settings/privacy", {"sensitive_media": "hide"})
    alice.refresh_from_db()
    assert not alice.is_private and alice.sensitive_media == "hide"


def test_privacy_refuses_an_unknown_sensitive_media_choice(site, alice):
    response = site(alice).post("/settings/privacy", {"is_private": "on", "sensitive_media": "x"})
    assert response.status_code == 200
    alice.refresh_from_db()
    assert not alice.is_private and alice.sensitive_media == User.SensitiveMedia.BLUR


def test_security_has_the_password_form_sign_in_links_and_the_token_count(site, alice):
    from apps.accounts import services

    services.token_create(user=alice, name="one")
    revoked, _ = services.token_create(user=alice, name="two")
    services.token_revoke(user=alice, token_id=revoked.id)
    body = site(alice).get("/settings/security").content.decode()
    assert 'action="/settings/password"' in body and 'name="old_password"' in body
    assert "1 active token " in body and 'href="/settings/tokens"' in body
    links = body.split('data-testid="security-links"')[1].split("</ul>")[0]
    assert "Two-factor" in links and "ession" in links and "mail" in links
    from django.urls import NoReverseMatch, reverse

    for name in ("mfa_index", "usersessions_list", "account_email"):
        try:
            assert f'href="{reverse(name)}"' in links
        except NoReverseMatch:
            pass  # that page is not on this server: the settings say so instead


def test_data_page_links_to_export_and_deletion_when_they_exist(site, alice):
    from django.urls import NoReverseMatch, reverse

    body = site(alice).get("/settings/data").content.decode()
    for name, testid in (("accounts:export", "export-link"), ("accounts:delete", "delete-link")):
        try:
            url = reverse(name)
        except NoReverseMatch:
            assert f'data-testid="{testid}"' not in body
        else:
            assert f'href="{url}" ' in body

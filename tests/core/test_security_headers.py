"""The headers every page and every file goes out with (docs/security.md), and the admin at
ADMIN_URL signing in through the site's own login."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.test import Client

from apps.core.security import file_headers

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    parts = (p.strip().split() for p in header.split(";") if p.strip())
    return {name: values for name, *values in parts}


def test_pages_go_out_with_a_strict_policy_and_the_hardening_headers():
    response = Client().get("/login")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["media-src"] == ["'self'", "data:", "blob:"]
    assert policy["connect-src"] == ["'self'", "ws://testserver"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_socket_origin_follows_the_scheme():
    response = Client().get("/login", secure=True)
    assert directives(response["Content-Security-Policy"])["connect-src"] == [
        "'self'",
        "wss://testserver",
    ]


def test_report_only_sends_the_same_policy_without_enforcing_it(settings):
    policy = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = None
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {**policy["DIRECTIVES"], "report-uri": ["/csp-reports"]}
    }
    response = Client().get("/login")
    assert "Content-Security-Policy" not in response
    report_only = directives(response["Content-Security-Policy-Report-Only"])
    assert report_only["script-src"] == ["'self'"]
    assert report_only["report-uri"] == ["/csp-reports"]


def test_no_page_template_has_inline_script_style_or_handlers():
    """The policy refuses them; the browser test walks the main pages, this reads them all."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "frontend" / "templates"
    inline = re.compile(r"""<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+\s*=""", re.I)
    found = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in root.rglob("*.html")
        for match in inline.finditer(
            re.sub(r"{#.*?#}|{% comment %}.*?{% endcomment %}", "", path.read_text(), flags=re.S)
        )
    ]
    assert found == []


def test_media_are_inline_pictures_with_a_safe_name_and_nosniff(alice, publish):
    post = publish(alice)
    asset_id = post["asset"]["id"] if isinstance(post.get("asset"), dict) else post["asset_id"]
    response = Client().get(f"/media/assets/{asset_id}/original")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'inline; filename="vivid-{asset_id}-original.png"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_files_other_than_pictures_and_videos_download():
    for content_type, expected in [
        ("image/png", 'inline; filename="a.png"'),
        ("video/mp4", 'inline; filename="a.png"'),
        ("image/svg+xml", 'attachment; filename="a.png"'),
        ("text/html", 'attachment; filename="a.png"'),
        ("application/zip", 'attachment; filename="a.png"'),
    ]:
        response = file_headers(HttpResponse(), filename="a.png", content_type=content_type)
        assert response["Content-Disposition"] == expected, content_type
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_admin_is_at_admin_url_and_signs_in_through_the_site(make_user, settings):
    assert settings.ADMIN_URL == "manage/"
    assert Client().get("/admin/").status_code == 404
    response = Client().get("/manage/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login?next=")
    assert "/manage/" in response.redirect_chain[-1][0]

    someone = Client()
    someone.force_login(make_user("someone"))
    assert someone.get("/manage/", follow=True).status_code == 403

    staff = Client()
    staff.force_login(make_user("operator", is_staff=True, is_superuser=True))
    response = staff.get("/manage/")
    assert response.status_code == 200
    assert "Site administration" in response.content.decode()
    assert staff.get("/manage/auth/").status_code == 200


def test_the_policy_built_once_is_the_one_every_response_gets(settings):
    """The middleware keeps the built policy per scheme and host: later responses, pages and
    API answers alike, get exactly what a fresh build gives, and a changed setting shows."""
    first = Client().get("/login")["Content-Security-Policy"]
    assert Client().get("/login")["Content-Security-Policy"] == first
    assert Client().get("/api/v1/feed/public")["Content-Security-Policy"] == first
    secure = Client().get("/login", secure=True)["Content-Security-Policy"]
    assert secure == first.replace("ws://testserver", "wss://testserver")
    policy = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**policy["DIRECTIVES"], "img-src": ["'self'"]}
    }
    assert directives(Client().get("/login")["Content-Security-Policy"])["img-src"] == ["'self'"]

"""English and Indonesian: the pages, the scripts' texts and the API's messages follow the
language a person chose (the django_language cookie, set by the switch) or, without a choice,
their browser's Accept-Language; the API's error codes never change."""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client

from apps.posts.models import Post

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def ensure_compiled() -> None:
    """The .mo files are built by `make install` (never committed); a bare pytest run builds
    them here when they are missing or older than their .po."""
    stale = [
        po
        for po in CATALOGS
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        if not shutil.which("msgfmt"):
            pytest.fail("GNU gettext (msgfmt) is needed to compile the translations")
        with open(LOCALE / ".compile.lock", "w") as lock:  # several test processes at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            call_command("compilemessages", locale=["id"], verbosity=0)


@pytest.fixture(autouse=True)
def _compiled(settings):
    ensure_compiled()
    settings.LOCALE_PATHS = list(django_settings.LOCALE_PATHS)  # drops Django's cached catalogs


def signed_in(user, **headers) -> Client:
    client = Client(headers=headers)
    client.force_login(user)
    return client


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def test_english_is_the_default_without_a_choice_or_a_header(alice):
    html = page(signed_in(alice), "/")
    assert '<html lang="en">' in html
    assert ">Feed</a>" in html and ">Settings</a>" in html
    assert "Beranda" not in html


def test_accept_language_indonesian_gives_the_feed_in_indonesian(alice):
    html = page(signed_in(alice, accept_language="id-ID,id;q=0.9,en;q=0.5"), "/")
    assert '<html lang="id">' in html
    for text in (">Beranda</a>", ">Jelajahi</a>", ">Pustaka</a>", ">Pengaturan</a>", "Keluar"):
        assert text in html, text
    for text in (">Feed</a>", ">Library</a>", ">Settings</a>", ">Log out<"):
        assert text not in html, text


def test_the_language_cookie_wins_over_accept_language(alice):
    client = signed_in(alice, accept_language="en-US,en;q=0.9")
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "id"
    html = page(client, "/")
    assert ">Beranda</a>" in html and ">Feed</a>" not in html


def test_the_switch_stores_the_choice_and_returns_to_the_page(alice):
    client = signed_in(alice)
    response = client.post("/i18n/setlang/", {"language": "id", "next": "/settings/profile"})
    assert response.status_code == 302 and response["Location"] == "/settings/profile"
    assert client.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "id"
    html = page(client, "/settings/profile")
    assert "Bahasa" in html and "Simpan profil" in html and "Save profile" not in html
    # and back to English
    client.post("/i18n/setlang/", {"language": "en", "next": "/settings/profile"})
    assert "Save profile" in page(client, "/settings/profile")


def test_the_switch_is_in_the_navigation_and_in_settings(alice):
    html = page(signed_in(alice), "/settings/profile")
    assert html.count('action="/i18n/setlang/"') == 2
    assert 'data-testid="nav-language"' in html and 'data-testid="settings-language"' in html
    assert '<option value="id" lang="id">Bahasa Indonesia</option>' in html
    assert 'src="/jsi18n/"' in html  # the scripts' catalog, from this site (CSP 'self')
    anonymous = page(Client(), "/login")
    assert 'data-testid="nav-language"' in anonymous


def test_an_unknown_language_falls_back_to_english(alice):
    client = signed_in(alice)
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert ">Feed</a>" in page(client, "/")


@pytest.mark.parametrize(
    ("path", "indonesian", "english"),
    [
        ("/create", "Prompt negatif", "Negative prompt"),
        ("/?tab=home", 'Ikuti kreator atau <a href="/create">buat sesuatu</a>.', "Follow creators"),
        ("/tags/senja", "Belum ada postingan dengan #senja.", "No posts with"),
        ("/library", "Semua yang Anda buat atau sunting", "Everything you generate or edit"),
        ("/notifications", "Notifikasi · Vivid", "Notifications · Vivid"),
        ("/settings/profile", "Simpan profil", "Save profile"),
        ("/settings/privacy", "Akun privat", "Private account"),
        ("/settings/tokens", "Token akses pribadi", "Personal access tokens"),
        ("/settings/data", "Unduh data Anda", "Download your data"),
        ("/u/alice", "pengikut", "followers"),
    ],
)
def test_signed_in_pages_in_indonesian(alice, path, indonesian, english):
    html = page(signed_in(alice, accept_language="id"), path)
    assert indonesian in html
    assert english not in html


@pytest.mark.parametrize(
    ("path", "indonesian", "english"),
    [
        ("/login", "Lupa kata sandi?", "Forgot your password?"),
        ("/signup", "Gabung ke Vivid", "Join Vivid"),
        ("/", "Belum ada postingan publik.", "No public posts yet."),
    ],
)
def test_signed_out_pages_in_indonesian(path, indonesian, english):
    html = page(Client(headers={"accept-language": "id"}), path)
    assert indonesian in html and english not in html


def test_a_post_page_in_indonesian_with_its_date(alice, publish):
    post = publish(alice, caption="senja di pantai")
    Post.objects.filter(pk=post["id"]).update(
        created_at=dt.datetime(2026, 12, 7, 20, 3, tzinfo=dt.UTC)
    )
    html = page(signed_in(alice, accept_language="id"), f"/p/{post['id']}")
    assert "7 Desember 2026, 20.03" in html
    assert "Komentar" in html and "Tulis komentar…" in html
    assert "Add a comment…" not in html
    english = page(signed_in(alice, accept_language="en"), f"/p/{post['id']}")
    assert "7 Dec 2026, 20:03" in english and "Add a comment…" in english


def test_counts_are_grouped_per_language(alice, settings):
    from django.template import Context, Template
    from django.utils import translation

    template = Template("{% load humanize %}{{ n|intcomma }}")
    with translation.override("id"):
        assert template.render(Context({"n": 1234567})) == "1.234.567"
    with translation.override("en"):
        assert template.render(Context({"n": 1234567})) == "1,234,567"


def test_api_errors_keep_their_code_and_translate_their_message(api, alice):
    client = api(alice)
    english = client.get("/api/v1/posts/1", HTTP_ACCEPT_LANGUAGE="en")
    indonesian = client.get("/api/v1/posts/1", HTTP_ACCEPT_LANGUAGE="id")
    assert english.status_code == indonesian.status_code == 404
    assert english.json()["error"] == {"code": "not_found", "message": "Not found."}
    assert indonesian.json()["error"] == {"code": "not_found", "message": "Tidak ditemukan."}

    bad = {"caption": "x"}  # no asset
    english = client.post("/api/v1/posts", bad, format="json", HTTP_ACCEPT_LANGUAGE="en")
    indonesian = client.post("/api/v1/posts", bad, format="json", HTTP_ACCEPT_LANGUAGE="id")
    assert english.status_code == indonesian.status_code == 400
    assert english.json()["error"]["code"] == indonesian.json()["error"]["code"] == "invalid"
    assert english.json()["error"]["message"] == "Some fields are not valid."
    assert indonesian.json()["error"]["message"] == "Ada isian yang tidak valid."
    assert english.json()["error"]["fields"].keys() == indonesian.json()["error"]["fields"].keys()


def test_a_service_error_is_translated_too(api, alice):
    response = api(alice).post("/api/v1/users/alice/follow", HTTP_ACCEPT_LANGUAGE="id")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "Anda tidak bisa mengikuti diri sendiri.",
    }


def test_the_scripts_catalog_speaks_the_page_language():
    indonesian = Client(headers={"accept-language": "id"}).get("/jsi18n/")
    assert indonesian.status_code == 200
    assert indonesian["Content-Type"].startswith("text/javascript")
    body = indonesian.content.decode()
    assert "postingan baru" in body and "Disimpan ke %(name)s." in body
    assert "postingan baru" not in Client().get("/jsi18n/").content.decode()


# --- The catalogs themselves ----------------------------------------------------------------------


def entries(po: Path) -> list[dict]:
    """The entries of a .po file (a small reader: msgid, msgid_plural, msgstr[n], flags)."""
    found, current, key = [], None, None
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if current is not None:
                found.append(current)
            current, key = None, None
            continue
        if current is None:
            current = {"flags": [], "msgstr": {}}
        if line.startswith("#,"):
            current["flags"] += [f.strip() for f in line[2:].split(",")]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            text = _unquote(line)
            if key[0] == "msgstr":
                current["msgstr"][key[1]] += text
            else:
                current[key[0]] += text
        else:
            word, _, rest = line.partition(" ")
            match = re.fullmatch(r"msgstr\[(\d+)\]", word)
            if match or word == "msgstr":
                key = ("msgstr", int(match.group(1)) if match else 0)
                current["msgstr"][key[1]] = _unquote(rest)
            else:
                key = (word, None)
                current[word] = _unquote(rest)
    return [e for e in found if "msgid" in e]


def _unquote(text: str) -> str:
    assert text.startswith('"') and text.endswith('"'), text
    return ast.literal_eval(text)  # a .po string is a C string: the same escapes as Python's


def test_there_are_indonesian_catalogs_for_templates_and_scripts():
    assert {po.name for po in LOCALE.glob("id/LC_MESSAGES/*.po")} == {"django.po", "djangojs.po"}


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_message_is_translated_with_its_placeholders(po):
    messages = [e for e in entries(po) if e["msgid"]]
    assert len(messages) > (100 if po.name == "django.po" else 5)
    for entry in messages:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        for translated in entry["msgstr"].values():
            assert translated.strip(), f"untranslated: {entry['msgid']!r}"
            wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
            assert sorted(PLACEHOLDER.findall(translated)) == wanted, entry["msgid"]


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_the_catalogs_compile_without_errors(po, tmp_path):
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "GNU gettext (msgfmt) is needed to compile the translations"
    result = subprocess.run(
        [msgfmt, "--check", "-o", str(tmp_path / "out.mo"), str(po)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_compiled_catalogs_are_built_not_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""
    assert "*.mo" in (ROOT / ".gitignore").read_text().splitlines()
    assert "compilemessages" in (ROOT / "Makefile").read_text()

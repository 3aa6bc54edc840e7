"""Settings, the deploy check, the schema and error pages."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PROD = {"DJANGO_ENV": "production", "ALLOWED_HOSTS": "vivid.example"}
GOOD_KEY = "k2@8v#q!x0z$5r^w7m*e9t&y1u(i3o)p-a_s+d=f6g4h2j8l0c"


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", **PROD)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = run_manage("check", **PROD, SECRET_KEY=GOOD_KEY, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_passes_the_deploy_check():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PROD, SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_verify_limits_come_from_the_environment():
    """The README tells operators to set these variables: they must reach the settings."""
    code = (
        "from django.conf import settings as s; "
        "print(s.VERIFY_RATE_LIMIT, s.VERIFY_RATE_WINDOW_S, s.VERIFY_CPU_S)"
    )
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        code,
        VERIFY_RATE_LIMIT="7",
        VERIFY_RATE_WINDOW_S="30",
        VERIFY_CPU_S="1.5",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "30", "1.5"]


def test_the_moderation_settings_come_from_the_environment():
    names = (
        "MODERATION_STRIKE_DAYS",
        "MODERATION_STRIKES_TO_SUSPEND",
        "MODERATION_BLOCKLIST_DISTANCE",
        "MODERATION_REPORTS_PER_HOUR",
    )
    code = (
        "from django.conf import settings as s; print(" + ", ".join(f"s.{n}" for n in names) + ")"
    )
    result = run_manage(
        "shell", "-v", "0", "-c", code, **{n: str(i + 41) for i, n in enumerate(names)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["41", "42", "43", "44"]


@pytest.mark.django_db
def test_openapi_schema_describes_the_api(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import json

    paths = json.loads(response.content)["paths"]
    for path in (
        "/api/v1/auth/signup",
        "/api/v1/auth/tokens",
        "/api/v1/me",
        "/api/v1/generations",
        "/api/v1/generations/{job_id}",
        "/api/v1/posts",
        "/api/v1/posts/{post_id}/reactions",
        "/api/v1/feed/home",
        "/api/v1/feed/public",
        "/api/v1/users/{username}/follow",
    ):
        assert path in paths, path


@pytest.mark.django_db
def test_unknown_api_path_is_json_not_found(anon):
    response = anon.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"

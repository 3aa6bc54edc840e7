"""Production settings pass ``manage.py check --deploy`` with no warning, and say what operators
were promised (docs/security.md): secure cookies, HSTS without preload unless chosen, the TLS
redirect, the proxy header, the admin's path and the Content-Security-Policy switches.

The checks run in a subprocess with a production environment (DEBUG off, a long random
SECRET_KEY, ALLOWED_HOSTS, the database the tests use): settings are read once per process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "ADMIN_URL")}
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="vivid.example",
        **extra,
    )
    for name in ("CSP_REPORT_ONLY", "CSP_REPORT_URI", "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT"):
        if name not in extra:
            env.pop(name, None)
    return env


def manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_settings(*names: str, **extra: str) -> dict:
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = manage("shell", "-v", "0", "-c", code, **extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_deploy_check_is_clean_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout
    # One check is silenced, on purpose and documented: HSTS preload is the operator's choice.
    assert "(1 silenced)" in result.stdout


def test_choosing_hsts_preload_leaves_nothing_silenced():
    result = manage("check", "--deploy", "--fail-level", "WARNING", SECURE_HSTS_PRELOAD="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_cookies_tls_and_hsts():
    found = production_settings(
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SECURE_REFERRER_POLICY",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY",
        "X_FRAME_OPTIONS",
        "ADMIN_URL",
    )
    assert found == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
        "ADMIN_URL": "manage/",
    }


def test_operators_switches_reach_the_settings():
    found = production_settings(
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_PROXY_SSL_HEADER",
        "ADMIN_URL",
        "CONTENT_SECURITY_POLICY",
        "CONTENT_SECURITY_POLICY_REPORT_ONLY",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="0",
        SECURE_PROXY_SSL_HEADER="",
        ADMIN_URL="ops-7f3a",
        CSP_REPORT_ONLY="1",
        CSP_REPORT_URI="https://reports.example/csp",
    )
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    assert found["ADMIN_URL"] == "ops-7f3a/"
    assert found["CONTENT_SECURITY_POLICY"] is None
    directives = found["CONTENT_SECURITY_POLICY_REPORT_ONLY"]["DIRECTIVES"]
    assert directives["report-uri"] == ["https://reports.example/csp"]
    assert directives["script-src"] == ["'self'"]


def test_media_on_s3_may_load_from_the_store():
    found = production_settings(
        "CONTENT_SECURITY_POLICY",
        AWS_STORAGE_BUCKET_NAME="vivid-media",
        AWS_S3_ENDPOINT_URL="https://s3.example.net",
        CSP_MEDIA_ORIGINS="https://media.vivid.example",
    )
    directives = found["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    for name in ("img-src", "media-src"):
        assert directives[name] == [
            "'self'",
            "data:",
            "blob:",
            "https://media.vivid.example",
            "https://s3.example.net",
            "https://*.s3.example.net",
        ]
    assert directives["connect-src"] == ["'self'", *directives["img-src"][3:]]
    assert directives["script-src"] == ["'self'"]

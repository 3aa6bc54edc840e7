"""Log-in timing: an unknown name and a known name with a wrong password take about as long and
get the same answer, on the API's token endpoint and on the site's log-in form, with the real
password hasher at fewer iterations (the tests' MD5 stand-in would hide any difference). Rate
limits are off here: the limiter's answer is tested elsewhere; this measures the check itself."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from tests.conftest import client_for
from tests.security.conftest import per_response_values_out

pytestmark = pytest.mark.django_db

ATTEMPTS = 15


class TimingPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher, the production default, at a tenth of its iterations: each check
    still costs tens of milliseconds, far above the noise, so skipping it for an unknown name
    would show, while the test does not spend minutes hashing."""

    iterations = PBKDF2PasswordHasher.iterations // 10


@pytest.fixture
def real_hasher(settings):
    # The first hasher is also the one Django runs for an unknown name (its dummy check).
    settings.PASSWORD_HASHERS = [f"{__name__}.TimingPBKDF2PasswordHasher"]
    settings.RATE_LIMITS_ENABLED = False


def _measure(attempt) -> tuple[dict[str, float], dict[str, set]]:
    """Median seconds per name, alternating the two names so drift hits both alike."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    answers: dict[str, set] = {"known": set(), "unknown": set()}
    attempt("known")  # warm-up: the first request pays for imports and connections
    attempt("unknown")
    for _ in range(ATTEMPTS):
        for who in ("known", "unknown"):
            started = time.perf_counter()
            answer = attempt(who)
            times[who].append(time.perf_counter() - started)
            answers[who].add(answer)
    return {who: statistics.median(values) for who, values in times.items()}, answers


def _similar(medians: dict[str, float]) -> bool:
    known, unknown = medians["known"], medians["unknown"]
    return abs(known - unknown) < 0.030 or max(known, unknown) < 3 * min(known, unknown)


NAMES = {"known": "alice", "unknown": "nobody_here"}


def test_the_token_endpoint(real_hasher, make_user):
    make_user("alice")
    client = client_for(None)

    def attempt(who):
        response = client.post(
            "/api/v1/auth/tokens",
            {"username": NAMES[who], "password": "wrong password 1"},
            format="json",
        )
        return response.status_code, response.content

    medians, answers = _measure(attempt)
    print(f"token endpoint: {medians}")
    assert _similar(medians), medians
    assert answers["known"] == answers["unknown"] and len(answers["known"]) == 1
    # The hasher really ran for the unknown name (PBKDF2 is slow on purpose).
    assert medians["unknown"] > 0.02, medians


@pytest.mark.parametrize("path", ["/accounts/login/"])
def test_the_site_log_in_form(real_hasher, make_user, path):
    make_user("alice")

    def attempt(who):
        response = Client().post(
            path,
            {"login": NAMES[who], "username": NAMES[who], "password": "wrong password 1"},
        )
        page = per_response_values_out(response.content).decode()
        page = re.sub(NAMES[who], "NAME", page)
        return response.status_code, page

    medians, answers = _measure(attempt)
    print(f"site log-in: {medians}")
    assert _similar(medians), medians
    assert answers["known"] == answers["unknown"] and len(answers["known"]) == 1
    assert medians["unknown"] > 0.02, medians

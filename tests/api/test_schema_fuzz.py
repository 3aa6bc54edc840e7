"""The API fuzzed against its own OpenAPI schema (schemathesis), as a generated client would use it.

Every operation of ``/api/schema/`` is called in-process (WSGI, the test database and Redis) with
data generated from the schema: valid and invalid. Every response must be one the schema
describes (status code, content type, headers, body), no request may answer 5xx, what the schema
allows must not be refused as invalid and what it forbids must be refused.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.accounts import services as account_services
from apps.config.wsgi import application

# Reproducible and bounded: a fixed seed, derandomized generation, a few examples per operation.
SEED = 20261207
MAX_EXAMPLES = 12

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # DRF refuses a NUL character in every text field ("Null characters are not
        # allowed"): a rule of the framework the schema does not repeat on each string.
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "allow-x00": False},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "operations": [
            {
                # Requests the schema cannot tell apart from good ones, refused by rules that
                # depend on stored data, on the file's bytes or on another field: a password
                # that is wrong, too common or too like the username (sign-up, password change,
                # account deletion), usernames that do not exist (likeness), oneself (follow,
                # block, mute), a file that is not an image (415), a trending cursor sent with
                # sort=recent or the other way round, a video without a duration or an edit's
                # fields that its `op` does not take (or an action's, its kind), a reply to a
                # comment that does not exist, a protected term without a letter or digit, a
                # search cursor the server did not make (opaque: only its alphabet is stated).
                "include-operation-id": [
                    "search",
                    "moderation_terms_add",
                    "moderation_case_action",
                    "posts_comment",
                    "auth_signup",
                    "me_password_change",
                    "me_delete",
                    "generations_create",
                    "edits_create",
                    "consent_likeness_set",
                    "users_follow",
                    "users_block",
                    "users_mute",
                    "me_avatar_set",
                    "provenance_verify",
                    "feed_public",
                ],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            "2xx",
                            "400",
                            "401",
                            "403",
                            "404",
                            "409",
                            "415",
                            "429",
                        ]
                    }
                },
            },
            {
                # Moderators' endpoints answer 404 to everyone else, signed in or not, as if
                # they did not exist (the product's rule), never 401 or 403.
                "include-path-regex": "^/api/v1/moderation/",
                "checks": {"ignored_auth": {"enabled": False}},
            },
            {
                # DRF strips surrounding whitespace before it checks a length, so a note one
                # character over maxLength that starts with a space is (rightly) accepted.
                "include-operation-id": ["moderation_case_escalate", "moderation_case_claim"],
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ],
    }
)

# Real ids of the fuzzing user's data, mixed into generated path parameters so that operations
# are exercised on things that exist as well as on things that do not.
KNOWN: dict[str, list] = {}


# Loaded from the endpoint clients use, through the app itself (no server, no network).
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)


@pytest.fixture
def fuzz_user(db, settings, alice, bob, make_asset, publish):
    """Alice, who owns a post, an asset and a spare token; her token authenticates the calls."""
    # Rate limits are tested on their own (tests/core); here they would answer 429 to a fuzzer
    # making hundreds of writes a minute and hide the answers under test.
    settings.RATE_LIMITS_ENABLED = False
    post = publish(alice, caption="fuzzed")
    asset = make_asset(alice)
    spare, _ = account_services.token_create(user=alice, name="spare")
    auth, raw = account_services.token_create(user=alice, scopes=["read", "write"], name="fuzzer")
    KNOWN.clear()
    KNOWN.update(
        {
            "post_id": [int(post["id"])],
            "asset_id": [asset.id],
            "token_id": [spare.id],
            "username": ["alice", "bob"],
            "_auth_token_id": [auth.id],
        }
    )
    # Calls go through the WSGI handler, whose request signals would close the database
    # connection (and with it the test's transaction); Django's test client stops them the same
    # way, and reconnects them after each of its requests (the ones above), hence here.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield raw
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_moderator(fuzz_user, settings, bob, make_user):
    """An admin (every moderators' endpoint) with a ``moderate`` token, and an open case: a
    report of Bob's post. The other operations are called as Alice (above)."""
    from apps.moderation import cases
    from apps.moderation.roles import role_set

    # Two-factor sign-in required of moderators is tested in tests/moderation; here the admin
    # must reach the endpoints' own answers.
    settings.MFA_REQUIRED_FOR_MODERATORS = False
    admin = make_user("fuzz_admin")
    role_set(user=admin, role="admin")
    reported = make_user("fuzz_reported")
    report = cases.report_create(
        reporter=bob, target_type="user", target_id=str(reported.id), reason="spam"
    )
    KNOWN["case_id"] = [report.case_id]
    KNOWN["username"] = [*KNOWN["username"], "fuzz_reported"]
    _, raw = account_services.token_create(user=admin, scopes=["read", "write", "moderate"])
    return raw


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    # Only where the generated value has the known value's type: a value made invalid on
    # purpose (negative cases) stays invalid.
    choices = {
        name: st.sampled_from([value, *(k for k in KNOWN.get(name, []) if type(k) is type(value))])
        for name, value in path_parameters.items()
    }
    return st.fixed_dictionaries(choices)


@schema.hook
def filter_path_parameters(context, path_parameters):
    # Revoking the fuzzer's own token would turn every later call into a 401.
    return (path_parameters or {}).get("token_id") not in KNOWN.get("_auth_token_id", [])


STATS = {"cases": 0, "operations": 0}
SEEN: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def _figures(request):
    """One line with the run's figures (operations, cases, seconds) in the terminal summary."""
    started = time.monotonic()
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"schemathesis: {STATS['operations']} operations, {STATS['cases']} cases, "
                f"{time.monotonic() - started:.1f} s "
                f"(seed {SEED}, at most {MAX_EXAMPLES} examples per operation)"
            )


@schema.exclude(path_regex="^/api/v1/moderation/").parametrize()
# The data fixture is per operation on purpose: each operation starts from the same rows.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_answers_as_its_schema_says(case, fuzz_user):
    STATS["cases"] += 1
    if case.operation.label not in SEEN:
        SEEN.add(case.operation.label)
        STATS["operations"] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_user}"})


@schema.exclude(path_regex="^(?!/api/v1/moderation/)").parametrize()
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_moderators_api_answers_as_its_schema_says(case, fuzz_moderator):
    """Moderators' endpoints as an admin (anyone else gets 404, which the other test sees)."""
    STATS["cases"] += 1
    if case.operation.label not in SEEN:
        SEEN.add(case.operation.label)
        STATS["operations"] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_moderator}"})

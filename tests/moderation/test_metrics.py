"""Metrics for admins: open cases by reason, median time to first action, actions per reason,
how often appeals reverse a decision, reports per day; a page with a chart and the same figures
as JSON. Moderators without the admin role, and everyone else, get 404."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.moderation import actions, appeals, metrics
from apps.moderation.models import Case, Report
from apps.moderation.roles import role_set
from tests.moderation.helpers_cases import reported, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    user = make_user("boss")
    role_set(user=user, role="admin")
    return user


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


def opened_ago(case: Case, minutes: int) -> None:
    Case.objects.filter(id=case.id).update(
        created_at=timezone.now() - dt.timedelta(minutes=minutes)
    )


def test_the_figures(alice, bob, carol, admin, moderator, publish):
    posts = [publish(alice, caption=f"p{i}") for i in range(5)]
    spam = [reported(bob, posts[i], reason="spam") for i in range(3)]
    sexual = reported(bob, posts[3], reason="sexual")
    reported(carol, posts[4], reason="violence")
    for case, minutes in zip(spam, (10, 30, 50), strict=True):
        opened_ago(case, minutes)
        actions.action_take(
            moderator=moderator, case_id=case.id, action="remove", reason_code="spam"
        )
    actions.action_take(
        moderator=moderator, case_id=sexual.id, action="hide", reason_code="sexual"
    )  # hiding keeps the case open
    for case, decision in zip(spam[:2], ("reversed", "upheld"), strict=True):
        appeal = appeals.appeal_create(author=alice, case_id=case.id, body="Please look again.")
        appeals.appeal_decide(moderator=admin, appeal_id=appeal.id, decision=decision)
    appeals.appeal_create(author=alice, case_id=spam[2].id, body="And this one.")
    Report.objects.filter(case=sexual).update(created_at=timezone.now() - dt.timedelta(days=3))

    answer = token_client(admin).get("/api/v1/moderation/metrics")
    assert answer.status_code == 200, answer.content
    m = answer.json()
    assert m["window_days"] == 30
    open_by = {r["reason"]: r["count"] for r in m["open_cases"]["by_reason"]}
    assert m["open_cases"]["total"] == 2
    assert open_by["sexual"] == 1 and open_by["violence"] == 1 and open_by["spam"] == 0
    # Most harmful first.
    assert m["open_cases"]["by_reason"][0]["reason"] == "minor_safety"

    assert m["first_action"]["cases"] == 4  # three removals and the hide
    waits = sorted([10 * 60, 30 * 60, 50 * 60, 0])
    expected = (waits[1] + waits[2]) / 2  # median of four: 20 minutes
    assert expected <= m["first_action"]["median_seconds"] < expected + 120

    by_reason = {r["reason"]: r for r in m["actions_by_reason"]}
    # Three removals, and a reversal's restore counted with the reason it undid.
    assert by_reason["spam"]["by_kind"] == {"remove": 3, "restore": 1}
    assert by_reason["sexual"]["by_kind"] == {"hide": 1}
    assert by_reason["violence"]["count"] == 0

    assert m["appeals"] == {
        "decided": 2,
        "upheld": 1,
        "reversed": 1,
        "pending": 1,
        "reversal_rate": 0.5,
    }

    days = m["reports_per_day"]
    assert len(days) == 30 and days[-1]["date"] == timezone.now().date().isoformat()
    three_days_ago = (timezone.now() - dt.timedelta(days=3)).date().isoformat()
    assert {d["date"]: d["count"] for d in days}[three_days_ago] == 1
    assert days[-1]["count"] == 4
    assert sum(d["count"] for d in days) == 5

    narrow = token_client(admin).get("/api/v1/moderation/metrics", {"days": "2"}).json()
    assert len(narrow["reports_per_day"]) == 2
    assert sum(d["count"] for d in narrow["reports_per_day"]) == 4
    bad = token_client(admin).get("/api/v1/moderation/metrics", {"days": "0"})
    assert bad.status_code == 400 and "days" in bad.json()["error"]["fields"]


def test_the_page_draws_a_chart_without_script(client, alice, bob, admin, publish):
    reported(bob, publish(alice), reason="spam")
    client.force_login(admin)
    page = client.get("/moderation/metrics")
    assert page.status_code == 200
    body = page.content.decode()
    section = body[body.index('data-testid="metrics"') :]
    assert "<script" not in section
    chart = re.search(r'<svg class="chart" data-testid="reports-chart".*?</svg>', section, re.S)
    assert chart is not None
    bars = re.findall(r'<rect [^>]*height="(\d+)"[^>]*>', chart.group(0))
    assert len(bars) == 30
    # Today's report is the tallest bar; the other days show as thin lines.
    assert int(bars[-1]) > 100 and {int(h) for h in bars[:-1]} == {1}
    assert 'data-testid="open-spam">1<' in section


def test_only_admins(client, anon, api, alice, moderator, admin):
    client.force_login(moderator)
    assert client.get("/moderation/metrics").status_code == 404
    assert client.get("/moderation/audit").status_code == 200  # a moderator, not an admin
    assert token_client(moderator).get("/api/v1/moderation/metrics").status_code == 404
    client.force_login(alice)
    assert client.get("/moderation/metrics").status_code == 404
    assert api(alice).get("/api/v1/moderation/metrics").status_code == 404
    assert anon.get("/api/v1/moderation/metrics").status_code == 404
    # An admin's token needs the moderate scope like any moderator's.
    no_scope = token_client(admin, scopes=("read", "write"))
    assert no_scope.get("/api/v1/moderation/metrics").status_code == 404
    assert token_client(admin).get("/api/v1/moderation/metrics").status_code == 200


def test_queries_do_not_grow_with_the_data(alice, bob, moderator, publish, make_user):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            metrics.metrics_summary()
        return len(queries)

    def acted(n: int, start: int) -> None:
        for i in range(start, start + n):
            case = reported(make_user(f"reporter{i}"), publish(alice), reason="spam")
            actions.action_take(
                moderator=moderator, case_id=case.id, action="warn", reason_code="spam"
            )

    acted(1, 0)
    few = count()
    acted(6, 1)
    assert count() == few <= 7

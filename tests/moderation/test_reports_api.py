"""Reporting: the API (POST /reports, GET /reports/mine), the report form and My reports page,
and the reporter learning the outcome once a moderator decides."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.moderation import actions
from apps.moderation.models import Case, Report
from tests.moderation.helpers_cases import reported

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(publish, alice):
    return publish(alice, caption="a lighthouse at dusk")


def site(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_reporting_a_post_answers_201_with_the_open_report(api, bob, post):
    response = api(bob).post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": post["id"]}, "reason": "spam", "details": "ads"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["target"] == {"type": "post", "id": str(post["id"])}
    assert (body["reason"], body["details"], body["status"]) == ("spam", "ads", "open")
    assert body["outcome"] is None and body["decided_at"] is None
    case = Case.objects.get()
    assert (case.target_type, case.target_id, case.subject.username) == (
        "post",
        int(post["id"]),
        "alice",
    )


def test_comments_and_people_can_be_reported(api, bob, carol, alice, post):
    comment = api(carol).post(
        f"/api/v1/posts/{post['id']}/comments", {"body": "buy followers"}, format="json"
    )
    assert comment.status_code == 201, comment.content
    client = api(bob)
    r1 = client.post(
        "/api/v1/reports",
        {"target": {"type": "comment", "id": comment.json()["id"]}, "reason": "spam"},
        format="json",
    )
    r2 = client.post(
        "/api/v1/reports",
        {"target": {"type": "user", "id": "carol"}, "reason": "harassment"},
        format="json",
    )
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r2.json()["target"] == {"type": "user", "id": str(carol.pk)}
    assert set(Case.objects.values_list("target_type", "subject__username")) == {
        ("comment", "carol"),
        ("user", "carol"),
    }


def test_bad_reports_are_refused_with_the_error_shape(api, anon, alice, bob, post, publish):
    client = api(bob)
    bad_reason = client.post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": post["id"]}, "reason": "boring"},
        format="json",
    )
    assert bad_reason.status_code == 400 and "reason" in bad_reason.json()["error"]["fields"]
    no_target = client.post("/api/v1/reports", {"reason": "spam"}, format="json")
    assert no_target.status_code == 400 and "target" in no_target.json()["error"]["fields"]
    private = publish(alice, visibility="private")
    unseen = client.post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": private["id"]}, "reason": "spam"},
        format="json",
    )
    assert unseen.status_code == 404
    first = client.post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": post["id"]}, "reason": "spam"},
        format="json",
    )
    again = client.post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": post["id"]}, "reason": "sexual"},
        format="json",
    )
    assert (first.status_code, again.status_code) == (201, 409)
    assert again.json()["error"]["code"] == "conflict"
    own = api(alice).post(
        "/api/v1/reports",
        {"target": {"type": "post", "id": post["id"]}, "reason": "spam"},
        format="json",
    )
    assert own.status_code == 400
    assert (
        anon.post(
            "/api/v1/reports",
            {"target": {"type": "post", "id": post["id"]}, "reason": "spam"},
            format="json",
        ).status_code
        == 401
    )


def test_reports_are_rate_limited_through_the_api(settings, api, bob, alice, publish):
    settings.MODERATION_REPORTS_PER_HOUR = 1
    posts = [publish(alice) for _ in range(2)]
    client = api(bob)
    answers = [
        client.post(
            "/api/v1/reports",
            {"target": {"type": "post", "id": p["id"]}, "reason": "spam"},
            format="json",
        ).status_code
        for p in posts
    ]
    assert answers == [201, 429]


def test_my_reports_list_only_mine_newest_first_and_paged(api, bob, carol, alice, publish):
    posts = [publish(alice, caption=f"p{i}") for i in range(3)]
    for p in posts:
        reported(bob, p)
    reported(carol, posts[0])
    client = api(bob)
    first = client.get("/api/v1/reports/mine?limit=2").json()
    assert [i["target"]["id"] for i in first["items"]] == [str(posts[2]["id"]), str(posts[1]["id"])]
    assert first["next_cursor"]
    rest = client.get(f"/api/v1/reports/mine?limit=2&cursor={first['next_cursor']}").json()
    assert [i["target"]["id"] for i in rest["items"]] == [str(posts[0]["id"])]
    assert rest["next_cursor"] is None
    assert len(api(carol).get("/api/v1/reports/mine").json()["items"]) == 1


def test_the_reporter_learns_the_outcome_after_a_decision(
    api, bob, carol, alice, moderator, publish, django_capture_on_commit_callbacks
):
    removed_post, fine_post = publish(alice, caption="spam"), publish(alice, caption="fine")
    removed_case = reported(bob, removed_post)
    fine_case = reported(bob, fine_post, "other")
    reported(carol, removed_post)
    with django_capture_on_commit_callbacks(execute=True):
        actions.action_take(
            moderator=moderator, case_id=removed_case.id, action="remove", reason_code="spam"
        )
        actions.action_take(
            moderator=moderator, case_id=fine_case.id, action="dismiss", reason_code="other"
        )
    items = {i["target"]["id"]: i for i in api(bob).get("/api/v1/reports/mine").json()["items"]}
    upheld, dismissed = items[str(removed_post["id"])], items[str(fine_post["id"])]
    assert (upheld["status"], upheld["outcome"]) == ("upheld", "action_taken")
    assert (dismissed["status"], dismissed["outcome"]) == ("dismissed", "no_breach")
    assert upheld["decided_at"] and dismissed["decided_at"]
    # And on the site.
    page = site(bob).get("/reports/mine").content.decode()
    assert "upheld: the moderators took action" in page
    assert "dismissed: no breach of the rules found" in page


def test_the_report_form_sends_a_report_and_shows_it_under_my_reports(bob, post):
    client = site(bob)
    form = client.get(f"/report?type=post&id={post['id']}")
    assert form.status_code == 200
    assert 'data-testid="report-form"' in form.content.decode()
    sent = client.post(
        "/report", {"type": "post", "id": post["id"], "reason": "violence", "details": "gore"}
    )
    assert sent.status_code == 302 and sent["Location"] == "/reports/mine"
    report = Report.objects.get()
    assert (report.reporter, report.reason, report.details) == (bob, "violence", "gore")
    page = client.get("/reports/mine").content.decode()
    assert f"report-{report.id}" in page and "being reviewed" in page
    # A second report of the same post says why it was refused, on the form.
    again = client.post("/report", {"type": "post", "id": post["id"], "reason": "spam"})
    assert again.status_code == 400 and "already reported" in again.content.decode()


def test_the_report_form_is_for_people_signed_in_and_targets_they_can_see(bob, alice, publish):
    private = publish(alice, visibility="private")
    assert Client().get("/report?type=user&id=alice").status_code == 302  # to log in
    assert site(bob).get(f"/report?type=post&id={private['id']}").status_code == 404
    assert Client().get("/reports/mine").status_code == 302


def test_report_buttons_show_on_others_posts_comments_and_profiles_only(api, alice, bob, post):
    api(bob).post(f"/api/v1/posts/{post['id']}/comments", {"body": "hi"}, format="json")
    as_bob = site(bob).get(f"/p/{post['id']}").content.decode()
    assert 'data-testid="report-post"' in as_bob
    as_alice = site(alice).get(f"/p/{post['id']}").content.decode()
    assert 'data-testid="report-post"' not in as_alice
    # Alice sees a report button on Bob's comment under her post; Bob does not on his own.
    comments_alice = site(alice).get(f"/p/{post['id']}/comments").content.decode()
    assert 'data-testid="report-comment"' in comments_alice
    comments_bob = site(bob).get(f"/p/{post['id']}/comments").content.decode()
    assert 'data-testid="report-comment"' not in comments_bob
    assert 'data-testid="report-user"' in site(bob).get("/u/alice").content.decode()
    assert 'data-testid="report-user"' not in site(alice).get("/u/alice").content.decode()

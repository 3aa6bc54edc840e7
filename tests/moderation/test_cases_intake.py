"""Reports and automatic flags gather in one open case per target."""

from __future__ import annotations

import pytest

from apps.core import ledger
from apps.core.exceptions import ApplicationError
from apps.moderation import cases
from apps.moderation.models import Case, CaseFlag, Report
from apps.moderation.roles import role_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(publish, alice):
    return publish(alice, caption="a lighthouse at dusk")


def report(user, post, reason="spam", details=""):
    return cases.report_create(
        reporter=user, target_type="post", target_id=str(post["id"]), reason=reason, details=details
    )


def test_reports_of_one_target_share_one_case_with_the_most_severe_reason(
    make_user, post, events, django_capture_on_commit_callbacks
):
    people = [make_user() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        report(people[0], post, "spam")
        report(people[1], post, "violence")
        report(people[2], post, "other")
    case = Case.objects.get()
    assert (case.reports_count, case.reason, case.subject.username) == (3, "violence", "alice")
    assert case.status == "open"
    # Each change reached the moderators' stream.
    sent = events.to("moderation")
    assert [e["change"] for e in sent] == ["opened", "updated", "updated"]
    assert sent[-1]["case"]["reason"] == "violence"


def test_one_open_report_per_reporter_and_target(bob, post):
    report(bob, post)
    with pytest.raises(ApplicationError) as e:
        report(bob, post, "sexual")
    assert e.value.code == "conflict"
    assert Report.objects.count() == 1


def test_a_target_the_reporter_cannot_see_answers_not_found(bob, carol, publish, alice):
    private = publish(alice, visibility="private")
    with pytest.raises(ApplicationError) as e:
        report(bob, private)
    assert e.value.code == "not_found"
    with pytest.raises(ApplicationError) as e:
        cases.report_create(reporter=bob, target_type="post", target_id="12345", reason="spam")
    assert e.value.code == "not_found"


def test_bad_reason_and_own_content_are_refused(alice, bob, post):
    with pytest.raises(ApplicationError) as e:
        report(bob, post, "boring")
    assert e.value.code == "invalid" and "reason" in e.value.fields
    with pytest.raises(ApplicationError) as e:
        report(alice, post)
    assert e.value.code == "invalid"
    with pytest.raises(ApplicationError) as e:
        cases.report_create(reporter=alice, target_type="user", target_id="alice", reason="spam")
    assert e.value.code == "invalid"


def test_reports_are_rate_limited_per_reporter(settings, bob, publish, alice):
    settings.MODERATION_REPORTS_PER_HOUR = 2
    posts = [publish(alice) for _ in range(3)]
    report(bob, posts[0])
    report(bob, posts[1])
    with pytest.raises(ApplicationError) as e:
        report(bob, posts[2])
    assert e.value.code == "rate_limited" and e.value.retry_after > 0


def test_a_wave_of_reports_flags_the_case_once(settings, make_user, post):
    settings.MODERATION_REPORT_WAVE_COUNT = 3
    for _ in range(5):
        report(make_user(), post)
    case = Case.objects.get()
    assert case.flags.filter(source="report_wave").count() == 1
    assert case.flags_count == 1


def test_users_and_comments_can_be_reported(api, bob, carol, post):
    url = f"/api/v1/posts/{post['id']}/comments"
    comment = api(carol).post(url, {"body": "rude"}, format="json").json()
    cases.report_create(
        reporter=bob, target_type="comment", target_id=comment["id"], reason="harassment"
    )
    cases.report_create(reporter=bob, target_type="user", target_id="carol", reason="spam")
    kinds = sorted(Case.objects.values_list("target_type", "subject__username"))
    assert kinds == [("comment", "carol"), ("user", "carol")]


def test_claim_and_escalate_are_audited_and_never_on_own_cases(make_user, bob, post):
    moderator = make_user("mod")
    role_set(user=moderator, role="moderator")
    report(bob, post)
    case = Case.objects.get()
    cases.case_claim(moderator=moderator, case_id=case.id)
    other = make_user("mod2")
    role_set(user=other, role="moderator")
    with pytest.raises(ApplicationError) as e:
        cases.case_claim(moderator=other, case_id=case.id)
    assert e.value.code == "conflict"
    cases.case_escalate(moderator=moderator, case_id=case.id, note="needs a second look")
    case.refresh_from_db()
    assert case.assigned_to == moderator and case.escalated
    # A case about the moderator's own content is for someone else.
    own = make_user("mod3")
    role_set(user=own, role="moderator")
    cases.report_create(reporter=bob, target_type="user", target_id="mod3", reason="spam")
    with pytest.raises(ApplicationError) as e:
        cases.case_claim(moderator=own, case_id=Case.objects.get(subject=own).id)
    assert e.value.code == "forbidden"
    audit = ledger.registered()["audit"].objects.filter(actor=moderator).order_by("seq")
    assert list(audit.values_list("action", flat=True)) == [
        "role.grant",
        "case.claim",
        "case.escalate",
    ]
    assert ledger.verify_all(logs=["audit"]) == []


def test_consent_take_downs_and_held_prompts_become_flags_once(alice, bob, post):
    from apps.consent.models import ConsentFlag
    from apps.posts.models import Post

    flag = ConsentFlag.objects.create(
        post=Post.objects.get(id=post["id"]), person=bob, reason="likeness_consent_withdrawn"
    )
    assert cases.flags_ingest() == 1
    assert cases.flags_ingest() == 0  # already in a case
    case = Case.objects.get()
    assert (case.reason, case.flags_count) == ("likeness", 1)
    assert CaseFlag.objects.get().source_id == flag.id

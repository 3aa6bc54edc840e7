"""Moderators' decisions: their effect on what people see, strikes, notices, the audit log."""

from __future__ import annotations

import pytest

from apps.core import ledger
from apps.core.exceptions import ApplicationError
from apps.moderation import actions, cases
from apps.moderation.models import Case, Report
from apps.moderation.roles import role_set
from apps.notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


def reported(reporter, post, reason="spam") -> Case:
    cases.report_create(
        reporter=reporter, target_type="post", target_id=str(post["id"]), reason=reason
    )
    return Case.objects.get(target_id=int(post["id"]), status="open")


def test_remove_takes_the_post_away_everywhere_and_tells_everyone(
    api, anon, alice, bob, moderator, publish, events, django_capture_on_commit_callbacks
):
    post = publish(alice, caption="spam spam")
    case = reported(bob, post)
    with django_capture_on_commit_callbacks(execute=True):
        actions.action_take(
            moderator=moderator, case_id=case.id, action="remove", reason_code="spam"
        )
    for client in (anon, api(bob), api(alice)):
        assert client.get(f"/api/v1/posts/{post['id']}").status_code == 404
        ids = [p["id"] for p in client.get("/api/v1/feed/public").json()["items"]]
        assert post["id"] not in ids
    asset = post["asset"]
    assert anon.get(f"/media/assets/{asset['id']}/original").status_code == 404
    # The deletion is owed through the outbox; run it as the feed worker would.
    from apps.core.models import OutboxMessage
    from apps.posts.tasks import fanout_post_deleted

    owed = OutboxMessage.objects.get(task="apps.posts.tasks.fanout_post_deleted")
    fanout_post_deleted(*owed.args)
    assert "post.deleted" in events.types("public")
    case.refresh_from_db()
    assert (case.status, case.decision) == ("closed", "remove")
    assert Report.objects.get().status == "upheld"
    notices = Notification.objects.filter(kind="moderation")
    to_author = notices.get(recipient=alice)
    assert "removed by the moderators" in to_author.text and "appeal" in to_author.text
    assert "took action" in notices.get(recipient=bob).text
    audit = ledger.registered()["audit"].objects.filter(action="action.remove").get()
    assert audit.before == {"removed_reason": "", "sensitive": False}
    assert audit.after["removed_reason"] == "moderation_removed"
    assert ledger.verify_all(logs=["audit"]) == []


def test_dismiss_changes_nothing_and_tells_the_reporter(api, alice, bob, moderator, publish):
    post = publish(alice)
    case = reported(bob, post)
    actions.action_take(moderator=moderator, case_id=case.id, action="dismiss", reason_code="spam")
    assert api(bob).get(f"/api/v1/posts/{post['id']}").status_code == 200
    assert Report.objects.get().status == "dismissed"
    assert "no breach" in Notification.objects.get(kind="moderation", recipient=bob).text
    assert not Notification.objects.filter(kind="moderation", recipient=alice).exists()


def test_strikes_suspend_at_the_threshold(settings, api, alice, bob, moderator, publish):
    settings.MODERATION_STRIKES_TO_SUSPEND = 2
    posts = [publish(alice) for _ in range(2)]
    for post in posts:
        case = reported(bob, post, "harassment")
        actions.action_take(
            moderator=moderator, case_id=case.id, action="strike", reason_code="harassment"
        )
    alice.refresh_from_db()
    assert not alice.is_active
    # A suspended author's posts are gone from every read path until the suspension is lifted.
    assert api(bob).get(f"/api/v1/posts/{posts[0]['id']}").status_code == 404
    case = Case.objects.filter(subject=alice).order_by("-id").first()
    actions.action_take(
        moderator=moderator, case_id=case.id, action="unsuspend", reason_code="harassment"
    )
    alice.refresh_from_db()
    assert alice.is_active
    assert api(bob).get(f"/api/v1/posts/{posts[0]['id']}").status_code == 200


def test_moderators_never_act_on_their_own_content(make_user, bob, moderator, publish):
    post = publish(moderator)
    case = reported(bob, post)
    with pytest.raises(ApplicationError) as e:
        actions.action_take(
            moderator=moderator, case_id=case.id, action="remove", reason_code="spam"
        )
    assert e.value.code == "forbidden"


def test_a_removed_image_republished_or_reencoded_is_refused(
    api, alice, bob, moderator, publish, make_asset
):
    post = publish(alice)
    case = reported(bob, post)
    actions.action_take(moderator=moderator, case_id=case.id, action="remove", reason_code="spam")
    again = api(alice).post(
        "/api/v1/posts",
        {"asset_id": post["asset"]["id"], "visibility": "public"},
        format="json",
    )
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "policy_violation"
    flagged = Case.objects.get(target_type="user", subject=alice)
    assert flagged.flags.filter(source="media_blocklist").exists()


def test_bulk_actions_over_a_spam_wave(make_user, alice, bob, moderator, publish):
    posts = [publish(alice, caption=f"buy now {i}") for i in range(4)]
    ids = [reported(bob, post).id for post in posts]
    taken = actions.actions_bulk(
        moderator=moderator, case_ids=ids, action="remove", reason_code="spam"
    )
    assert len(taken) == 4 and len({a.batch for a in taken}) == 1
    assert Case.objects.filter(id__in=ids, status="closed").count() == 4

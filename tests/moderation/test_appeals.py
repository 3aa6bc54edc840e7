"""Appeals: the author asks again within 20 days; another moderator decides; a reversal brings
everything back and the author is told."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.core import ledger
from apps.moderation import actions, cases
from apps.moderation.models import Appeal, Case, MediaBlock, ModerationAction, Strike
from apps.moderation.roles import role_set
from apps.notifications.models import Notification
from tests.conftest import client_for
from tests.moderation.test_actions_effects import where_seen

pytestmark = pytest.mark.django_db


@pytest.fixture
def mods(make_user):
    """Two moderators: the first decides, the second hears the appeal."""
    first, second = make_user("mod1"), make_user("mod2")
    for user in (first, second):
        role_set(user=user, role="moderator")
    return first, second


def mod_api(user):
    return client_for(user, scopes=("read", "write", "moderate"))


def removed(alice, carol, post, moderator, action="remove", reason="spam") -> Case:
    cases.report_create(reporter=carol, target_type="post", target_id=post["id"], reason=reason)
    case = Case.objects.get(target_id=int(post["id"]), status="open")
    actions.action_take(moderator=moderator, case_id=case.id, action=action, reason_code=reason)
    return case


def test_a_reversal_restores_the_post_everywhere_and_tells_the_author(
    alice, bob, carol, mods, publish, django_capture_on_commit_callbacks
):
    first, second = mods
    from apps.social import services as social

    social.follow_create(follower=bob, followee=alice)
    post = publish(alice, caption="evening #sunset")
    case = removed(alice, carol, post, first)
    assert not any(where_seen(post, bob).values())
    assert MediaBlock.objects.filter(lifted_at__isnull=True).count() == 1

    author = client_for(alice)
    answer = author.post(
        "/api/v1/appeals", {"case_id": str(case.id), "body": "It is art."}, format="json"
    )
    assert answer.status_code == 201, answer.content
    appeal_id = answer.json()["id"]
    assert answer.json()["status"] == "pending"
    # Once per decision; nobody else may appeal it.
    again = author.post(
        "/api/v1/appeals", {"case_id": str(case.id), "body": "Again."}, format="json"
    )
    assert again.status_code == 409
    stranger = client_for(bob).post(
        "/api/v1/appeals", {"case_id": str(case.id), "body": "x"}, format="json"
    )
    assert stranger.status_code == 404

    pending = mod_api(second).get("/api/v1/moderation/appeals").json()["items"]
    assert [a["id"] for a in pending] == [appeal_id]
    detail = mod_api(second).get(f"/api/v1/moderation/cases/{case.id}").json()
    assert [(a["id"], a["status"], a["body"]) for a in detail["appeals"]] == [
        (appeal_id, "pending", "It is art.")
    ]
    assert client_for(bob).get("/api/v1/moderation/appeals").status_code == 404

    # The moderator who decided may not hear the appeal.
    url = f"/api/v1/moderation/appeals/{appeal_id}"
    own = mod_api(first).post(url, {"decision": "reversed", "note": "fine"}, format="json")
    assert own.status_code == 403
    assert not any(where_seen(post, bob).values())

    with django_capture_on_commit_callbacks(execute=True):
        decided = mod_api(second).post(
            url, {"decision": "reversed", "note": "satire"}, format="json"
        )
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "reversed" and decided.json()["decided_by"] == "mod2"
    for viewer in (None, bob):
        seen = where_seen(post, viewer)
        assert all(seen.values()), seen
    assert MediaBlock.objects.filter(lifted_at__isnull=True).count() == 0
    assert ModerationAction.objects.get(kind="remove").reversed_at is not None
    told = Notification.objects.filter(recipient=alice, kind="moderation").order_by("id")
    assert "reversed" in told.last().text and told.last().post_id == int(post["id"])
    audit = ledger.registered()["audit"].objects
    entry = audit.get(action="appeal.reversed")
    assert entry.actor_id == second.pk and entry.after["status"] == "reversed"
    assert audit.filter(action="action.restore").exists()
    assert ledger.verify_all(logs=["audit"]) == []
    assert mod_api(second).post(url, {"decision": "upheld"}, format="json").status_code == 409


def test_upheld_keeps_the_decision_and_tells_the_author(alice, carol, mods, publish):
    first, second = mods
    post = publish(alice, caption="x")
    case = removed(alice, carol, post, first)
    appeal = client_for(alice).post(
        "/api/v1/appeals", {"case_id": str(case.id), "body": "pls"}, format="json"
    )
    decided = mod_api(second).post(
        f"/api/v1/moderation/appeals/{appeal.json()['id']}",
        {"decision": "upheld", "note": "clear spam"},
        format="json",
    )
    assert decided.status_code == 200
    assert client_for(carol).get(f"/api/v1/posts/{post['id']}").status_code == 404
    last = Notification.objects.filter(recipient=alice, kind="moderation").order_by("id").last()
    assert "kept their decision" in last.text
    assert ledger.registered()["audit"].objects.filter(action="appeal.upheld").count() == 1


def test_an_appeal_after_20_days_is_refused(alice, carol, mods, publish):
    post = publish(alice, caption="x")
    case = removed(alice, carol, post, mods[0])
    body = {"case_id": str(case.id), "body": "late"}
    ModerationAction.objects.update(created_at=timezone.now() - dt.timedelta(days=20, hours=1))
    assert client_for(alice).post("/api/v1/appeals", body, format="json").status_code == 403
    ModerationAction.objects.update(created_at=timezone.now() - dt.timedelta(days=19, hours=23))
    assert client_for(alice).post("/api/v1/appeals", body, format="json").status_code == 201
    assert Appeal.objects.count() == 1


def test_a_reversed_strike_is_lifted(alice, carol, mods, publish):
    first, second = mods
    post = publish(alice, caption="x")
    cases.report_create(reporter=carol, target_type="post", target_id=post["id"], reason="ip")
    case = Case.objects.get(status="open")
    actions.action_take(moderator=first, case_id=case.id, action="strike", reason_code="ip")
    appeal = client_for(alice).post(
        "/api/v1/appeals", {"case_id": str(case.id), "body": "mine"}, format="json"
    )
    assert appeal.status_code == 201
    mod_api(second).post(
        f"/api/v1/moderation/appeals/{appeal.json()['id']}", {"decision": "reversed"}, format="json"
    )
    assert Strike.objects.get(user=alice).lifted_at is not None


def test_the_removed_post_page_tells_its_author_and_takes_the_appeal(
    alice, bob, carol, mods, publish
):
    post = publish(alice, caption="a quiet lake")
    case = removed(alice, carol, post, mods[0], reason="violence")
    author = Client()
    author.force_login(alice)
    page = author.get(f"/p/{post['id']}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "removed by the moderators" in html and "violent content" in html
    assert 'data-testid="appeal-form"' in html
    for other in (bob, None):
        client = Client()
        if other is not None:
            client.force_login(other)
        assert client.get(f"/p/{post['id']}").status_code == 404
    # The notice in notifications links to this page.
    notices = author.get("/notifications").content.decode()
    assert f'href="/p/{post["id"]}"' in notices
    sent = author.post(
        "/appeals/new",
        {"case_id": str(case.id), "body": "This is a lake.", "next": f"/p/{post['id']}"},
    )
    assert sent.status_code == 302 and sent["Location"] == f"/p/{post['id']}"
    assert Appeal.objects.get().body == "This is a lake."
    html = author.get(f"/p/{post['id']}").content.decode()
    assert "waiting for a moderator" in html and 'data-testid="appeal-form"' not in html
    assert "waiting for a moderator" in author.get("/appeals").content.decode()
    # A deletion by the author themself is not a moderators' removal: still 404 for them.
    own = publish(alice, caption="gone")
    assert client_for(alice).delete(f"/api/v1/posts/{own['id']}").status_code == 204
    assert author.get(f"/p/{own['id']}").status_code == 404


def test_the_appeals_queue_page(alice, carol, mods, publish):
    first, second = mods
    post = publish(alice, caption="x")
    case = removed(alice, carol, post, first)
    appeal = Appeal.objects.create(
        action=ModerationAction.objects.get(kind="remove"), case=case, author=alice, body="why"
    )
    pages = {user: Client() for user in (first, second, carol)}
    for user, client in pages.items():
        client.force_login(user)
    assert pages[carol].get("/moderation/appeals").status_code == 404
    assert "another moderator decides" in pages[first].get("/moderation/appeals").content.decode()
    html = pages[second].get("/moderation/appeals").content.decode()
    assert f"appeal-{appeal.id}" in html and 'value="reversed"' in html
    refused = pages[first].post(f"/moderation/appeals/{appeal.id}/decide", {"decision": "reversed"})
    assert refused.status_code == 302
    appeal.refresh_from_db()
    assert appeal.status == "pending"
    pages[second].post(f"/moderation/appeals/{appeal.id}/decide", {"decision": "reversed"})
    appeal.refresh_from_db()
    assert appeal.status == "reversed"
    assert client_for(carol).get(f"/api/v1/posts/{post['id']}").status_code == 200

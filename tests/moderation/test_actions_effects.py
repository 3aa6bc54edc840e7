"""Each moderators' action as people notice it: on every read path (API, feeds, pages, cards,
profiles, tag pages, media URLs) and on sockets, through the actions API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import OutboxMessage
from apps.moderation import cases
from apps.moderation.models import Case, ModerationAction, Report, Strike, Suspension
from apps.moderation.roles import role_set
from apps.notifications.models import Notification
from apps.posts.tasks import fanout_post_deleted
from apps.social import services as social
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


@pytest.fixture
def mod_api(moderator):
    return client_for(moderator, scopes=("read", "write", "moderate"))


def page_client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def reported(reporter, target_type: str, target_id, reason="spam") -> Case:
    cases.report_create(
        reporter=reporter, target_type=target_type, target_id=str(target_id), reason=reason
    )
    return Case.objects.get(target_type=target_type, target_id=int(target_id), status="open")


def where_seen(post: dict, viewer, author_name: str = "alice") -> dict[str, bool]:
    """Every read path of ``post`` as ``viewer`` (None: anonymous) sees it: True where it shows."""
    pid, asset_id = post["id"], post["asset"]["id"]
    api = client_for(viewer)
    pages = page_client(viewer)

    def ids(path: str) -> list[str]:
        answer = api.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        return [item["id"] for item in answer.json()["items"]]

    seen = {
        "api detail": api.get(f"/api/v1/posts/{pid}").status_code == 200,
        "api public feed": pid in ids("/api/v1/feed/public"),
        "api profile": api.get(f"/api/v1/users/{author_name}/posts").status_code == 200
        and pid in ids(f"/api/v1/users/{author_name}/posts"),
        "api tag": pid in ids("/api/v1/tags/sunset/posts"),
        "page": pages.get(f"/p/{pid}").status_code == 200,
        "card": pages.get(f"/p/{pid}/card").status_code == 200,
        "profile page": f"post-{pid}" in pages.get(f"/u/{author_name}").content.decode(),
        "tag page": f"post-{pid}" in pages.get("/tags/sunset").content.decode(),
        "public feed page": f"post-{pid}" in pages.get("/?tab=public").content.decode(),
        "media": api.get(f"/media/assets/{asset_id}/original").status_code == 200,
    }
    if viewer is not None:
        seen["api home feed"] = pid in ids("/api/v1/feed/home")
        seen["home feed page"] = f"post-{pid}" in pages.get("/?tab=home").content.decode()
    return seen


@pytest.fixture
def scene(alice, bob, carol, publish):
    """Alice's public post with a tag; Bob follows her; Carol reports it."""
    social.follow_create(follower=bob, followee=alice)
    post = publish(alice, caption="evening #sunset")
    return post


def act(mod_api, case: Case, action: str, **body):
    return mod_api.post(
        f"/api/v1/moderation/cases/{case.id}/actions",
        {"action": action, "reason_code": body.pop("reason_code", "spam"), **body},
        format="json",
    )


def run_owed_deletions() -> int:
    owed = OutboxMessage.objects.filter(task="apps.posts.tasks.fanout_post_deleted")
    for message in owed:
        fanout_post_deleted(*message.args)
    return owed.count()


@pytest.mark.parametrize("action", ["remove", "hide", "suspend"])
def test_taking_a_post_down_reaches_every_read_path_and_socket(
    action, scene, alice, bob, carol, mod_api, events, django_capture_on_commit_callbacks
):
    post = scene
    for viewer in (None, bob):
        assert all(where_seen(post, viewer).values()), where_seen(post, viewer)
    target = ("user", alice.pk) if action == "suspend" else ("post", post["id"])
    case = reported(carol, *target)
    with django_capture_on_commit_callbacks(execute=True):
        answer = act(mod_api, case, action, note="seen it")
    assert answer.status_code == 201, answer.content
    assert answer.json()["action"] == action and answer.json()["case_id"] == str(case.id)
    for viewer in (None, bob, carol):
        seen = where_seen(post, viewer)
        assert not any(seen.values()), seen
    assert run_owed_deletions() >= 1
    for stream in ("public", f"post.{post['id']}"):
        deleted = [e for e in events.to(stream) if e["type"] == "post.deleted"]
        assert deleted and deleted[0]["post_id"] == post["id"], (stream, events.sent)
    # The author is told what happened and why (and may appeal); the reporter, the outcome.
    notice = Notification.objects.get(recipient=alice, kind="moderation")
    assert "spam" in notice.text
    told = Notification.objects.filter(recipient=carol, kind="moderation")
    if action == "hide":  # the review goes on: the reporter hears when it is decided
        assert not told.exists()
    else:
        assert "took action" in told.get().text


def test_hide_keeps_the_case_open_for_review_and_reports_open(
    scene, carol, mod_api, django_capture_on_commit_callbacks
):
    case = reported(carol, "post", scene["id"])
    assert act(mod_api, case, "hide").status_code == 201
    case.refresh_from_db()
    assert case.status == "open" and Report.objects.get().status == "open"
    # The review goes on: removing it after closes the case.
    assert act(mod_api, case, "remove").status_code == 201
    case.refresh_from_db()
    assert (case.status, case.decision) == ("closed", "remove")


def test_mark_sensitive_keeps_the_post_but_veils_it(scene, bob, carol, mod_api):
    case = reported(carol, "post", scene["id"], "sexual")
    assert act(mod_api, case, "mark_sensitive", reason_code="sexual").status_code == 201
    assert all(where_seen(scene, bob).values())
    detail = client_for(bob).get(f"/api/v1/posts/{scene['id']}").json()
    assert detail["sensitive"] is True
    assert "sensitive-veil" in page_client(bob).get(f"/p/{scene['id']}").content.decode()


def test_dismiss_and_warn_leave_the_post_where_it_was(scene, alice, bob, carol, mod_api):
    case = reported(carol, "post", scene["id"])
    assert act(mod_api, case, "warn", reason_code="harassment").status_code == 201
    assert all(where_seen(scene, bob).values())
    assert "warn you about harassment" in (
        Notification.objects.get(recipient=alice, kind="moderation").text
    )


def test_a_removed_comment_vanishes_from_comment_lists(alice, bob, carol, publish, mod_api):
    post = publish(alice, caption="#sunset")
    comment = client_for(bob).post(
        f"/api/v1/posts/{post['id']}/comments", {"body": "rude words"}, format="json"
    )
    assert comment.status_code == 201
    comment_id = comment.json()["id"]

    def comment_seen(viewer) -> dict[str, bool]:
        listed = client_for(viewer).get(f"/api/v1/posts/{post['id']}/comments").json()["items"]
        pages = page_client(viewer)
        return {
            "api": comment_id in [c["id"] for c in listed],
            "comments partial": "rude words"
            in pages.get(f"/p/{post['id']}/comments").content.decode(),
            "post page": "rude words" in pages.get(f"/p/{post['id']}").content.decode(),
        }

    assert all(comment_seen(carol).values())
    case = reported(alice, "comment", comment_id, "harassment")
    assert act(mod_api, case, "remove", reason_code="harassment").status_code == 201
    for viewer in (None, alice, bob, carol):
        assert not any(comment_seen(viewer).values())
    # The post itself stays; the commenter's notice leads to it.
    assert client_for(carol).get(f"/api/v1/posts/{post['id']}").status_code == 200
    notice = Notification.objects.get(recipient=bob, kind="moderation")
    assert "comment was removed" in notice.text and notice.post_id == int(post["id"])


def test_a_suspension_ends_sessions_and_tokens_and_lifts_on_time(
    alice, carol, mod_api, publish, django_capture_on_commit_callbacks
):
    post = publish(alice, caption="#sunset")
    token_client = client_for(alice)
    session = page_client(alice)
    assert token_client.get("/api/v1/me").status_code == 200
    case = reported(carol, "user", alice.pk, "harassment")
    with django_capture_on_commit_callbacks(execute=True):
        answer = act(mod_api, case, "suspend", reason_code="harassment", duration_days=7)
    assert answer.status_code == 201
    until = dt.datetime.fromisoformat(answer.json()["until"])
    assert abs(until - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=5)
    assert token_client.get("/api/v1/me").status_code == 401
    assert session.get("/api/v1/me").status_code in (401, 403)  # the session ended too
    assert client_for(carol).get(f"/api/v1/posts/{post['id']}").status_code == 404
    # Time passes: the beat lifts it and everything comes back.
    from apps.moderation import actions

    Suspension.objects.update(until=timezone.now() - dt.timedelta(seconds=1))
    assert actions.suspensions_expire() == 1
    alice.refresh_from_db()
    assert alice.is_active
    assert client_for(carol).get(f"/api/v1/posts/{post['id']}").status_code == 200


def test_strikes_lead_to_a_suspension_and_unsuspend_lifts_it(
    settings, alice, carol, publish, mod_api
):
    settings.MODERATION_STRIKES_TO_SUSPEND = 3
    posts = [publish(alice, caption="#sunset") for _ in range(3)]
    for n, post in enumerate(posts, start=1):
        case = reported(carol, "post", post["id"], "harassment")
        assert act(mod_api, case, "strike", reason_code="harassment").status_code == 201
        alice.refresh_from_db()
        assert alice.is_active is (n < 3)
    assert Strike.objects.filter(user=alice).count() == 3
    assert ModerationAction.objects.filter(kind="suspend").count() == 1
    assert client_for(carol).get(f"/api/v1/posts/{posts[0]['id']}").status_code == 404
    texts = list(Notification.objects.filter(recipient=alice).values_list("text", flat=True))
    assert any("strike" in t for t in texts) and any("suspended for good" in t for t in texts)
    # Lifting it (on the case that led to it; a suspended person cannot be reported).
    case = Case.objects.filter(subject=alice).order_by("-id").first()
    assert act(mod_api, case, "unsuspend", reason_code="harassment").status_code == 201
    alice.refresh_from_db()
    assert alice.is_active
    assert client_for(carol).get(f"/api/v1/posts/{posts[0]['id']}").status_code == 200


def test_the_actions_api_is_for_moderators_with_the_moderate_scope(
    scene, alice, bob, carol, moderator, anon
):
    case = reported(carol, "post", scene["id"])
    body = {"action": "remove", "reason_code": "spam"}
    url = f"/api/v1/moderation/cases/{case.id}/actions"
    for client in (anon, client_for(bob), client_for(moderator)):  # the last lacks `moderate`
        assert client.post(url, body, format="json").status_code == 404
    assert (
        client_for(bob).post("/api/v1/moderation/actions/bulk", {}, format="json").status_code
        == 404
    )
    assert client_for(bob).get("/api/v1/moderation/appeals").status_code == 404
    assert client_for(carol).get(f"/api/v1/posts/{scene['id']}").status_code == 200
    mod = client_for(moderator, scopes=("moderate",))
    assert (
        mod.post(url, {"action": "explode", "reason_code": "spam"}, format="json").status_code
        == 400
    )
    assert (
        mod.post(url, {**body, "until": "2099-01-01T00:00:00Z"}, format="json").status_code == 400
    )
    assert mod.post(url, body, format="json").status_code == 201
    assert mod.post(url, body, format="json").status_code == 409  # already decided
    assert client_for(carol).get(f"/api/v1/posts/{scene['id']}").status_code == 404


def test_a_moderator_cannot_act_on_a_case_about_themselves(moderator, carol, publish):
    post = publish(moderator, caption="mine")
    case = reported(carol, "post", post["id"])
    mod = client_for(moderator, scopes=("moderate",))
    answer = mod.post(
        f"/api/v1/moderation/cases/{case.id}/actions",
        {"action": "dismiss", "reason_code": "spam"},
        format="json",
    )
    assert answer.status_code == 403
    case.refresh_from_db()
    assert case.status == "open"


def test_bulk_over_a_spam_wave(make_user, carol, moderator, mod_api, publish, events):
    spammer = make_user("spammer")
    wave = [publish(spammer, caption=f"cheap pills {i} #sunset") for i in range(8)]
    ids = [reported(carol, "post", p["id"]).id for p in wave]
    own = reported(carol, "post", publish(moderator, caption="mine")["id"]).id
    answer = mod_api.post(
        "/api/v1/moderation/actions/bulk",
        {
            "case_ids": [str(i) for i in [*ids, own]],
            "action": "remove",
            "reason_code": "spam",
            "message_template": "spam_wave",
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert len(body["items"]) == 8 and body["skipped"] == [str(own)]
    assert len({item["batch"] for item in body["items"]}) == 1
    assert "same content many times" in body["items"][0]["message"]
    public = [p["id"] for p in client_for(carol).get("/api/v1/feed/public").json()["items"]]
    assert not set(public) & {p["id"] for p in wave}
    assert Case.objects.filter(id__in=ids, status="closed").count() == 8
    assert Case.objects.get(id=own).status == "open"
    run_owed_deletions()
    gone = {e["post_id"] for e in events.to("public") if e["type"] == "post.deleted"}
    assert gone == {p["id"] for p in wave}
    # The same through one case's endpoint with case_ids.
    more = [reported(carol, "post", publish(spammer, caption="again")["id"]).id for _ in range(2)]
    answer = mod_api.post(
        f"/api/v1/moderation/cases/{more[0]}/actions",
        {"action": "remove", "reason_code": "spam", "case_ids": [str(more[1])]},
        format="json",
    )
    assert answer.status_code == 200 and len(answer.json()["items"]) == 2


def test_the_action_form_and_bulk_pages(scene, alice, carol, moderator, publish):
    case = reported(carol, "post", scene["id"])
    pages = page_client(moderator)
    assert (
        page_client(carol)
        .post(f"/moderation/cases/{case.id}/act", {"action": "remove", "reason_code": "spam"})
        .status_code
        == 404
    )
    answer = pages.post(
        f"/moderation/cases/{case.id}/act",
        {
            "action": "remove",
            "reason_code": "spam",
            "note": "a wave",
            "next": "/moderation/appeals",
        },
    )
    assert answer.status_code == 302 and answer["Location"] == "/moderation/appeals"
    assert client_for(carol).get(f"/api/v1/posts/{scene['id']}").status_code == 404
    assert ModerationAction.objects.get(case=case).note == "a wave"
    # A suspension from the form, for a number of days.
    other = reported(carol, "user", alice.pk, "harassment")
    pages.post(
        f"/moderation/cases/{other.id}/act",
        {"action": "suspend", "reason_code": "harassment", "duration_days": "3"},
    )
    suspension = Suspension.objects.get(user=alice)
    assert suspension.until - timezone.now() > dt.timedelta(days=2, hours=23)
    # Bulk from the queue's checkboxes.
    posts = [publish(carol, caption="spam") for _ in range(3)]
    ids = [reported(moderator, "post", p["id"]).id for p in posts]
    assert page_client(carol).post("/moderation/bulk", {"case_ids": ids}).status_code == 404
    helper = page_client(_second_moderator())
    queue = helper.get("/moderation/queue").content.decode()
    assert 'id="bulk-form"' in queue
    assert all(f'name="case_ids" value="{i}" form="bulk-form"' in queue for i in ids)
    answer = helper.post(
        "/moderation/bulk",
        {"case_ids": [str(i) for i in ids], "action": "remove", "reason_code": "spam"},
    )
    assert answer.status_code == 302
    assert Case.objects.filter(id__in=ids, status="closed").count() == 3


def _second_moderator():
    from apps.accounts import services as account_services

    user = account_services.user_create(
        username="mod2", email="mod2@example.com", password="correct horse battery 9"
    )
    role_set(user=user, role="moderator")
    return user


def test_only_moderators_are_issued_a_moderate_token(anon, alice, moderator, scene, carol):
    body = {"password": "correct horse battery 9", "scopes": ["read", "moderate"]}
    refused = anon.post("/api/v1/auth/tokens", {**body, "username": "alice"}, format="json")
    assert refused.status_code == 403, refused.content
    issued = anon.post("/api/v1/auth/tokens", {**body, "username": "mod"}, format="json")
    assert issued.status_code == 201 and "moderate" in issued.json()["scopes"]
    case = reported(carol, "post", scene["id"])
    mod = client_for(None)
    mod.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.json()['token']}")
    answer = mod.post(
        f"/api/v1/moderation/cases/{case.id}/actions",
        {"action": "dismiss", "reason_code": "spam"},
        format="json",
    )
    assert answer.status_code == 201

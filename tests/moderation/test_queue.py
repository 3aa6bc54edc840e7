"""The moderators' queue: most urgent first, filters, keyset pages, a bounded number of queries,
claim and escalate, 404 for everyone else, and live updates on the ``moderation`` stream."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from apps.moderation import cases, queue
from apps.moderation.models import SEVERITY, Case
from apps.moderation.roles import role_set
from tests.conftest import client_for
from tests.moderation.helpers_cases import reported, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _many_reports_allowed(settings):
    settings.MODERATION_REPORTS_PER_HOUR = 10_000


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


@pytest.fixture
def mod_api(moderator):
    return token_client(moderator)


def site(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_open_cases_come_most_severe_first_then_oldest(mod_api, make_user, alice, publish):
    reporter = make_user()
    spam_old = reported(reporter, publish(alice), "spam")
    violence = reported(reporter, publish(alice), "violence")
    spam_new = reported(reporter, publish(alice), "spam")
    minor = reported(reporter, publish(alice), "minor_safety")
    closed = reported(reporter, publish(alice), "sexual")
    Case.objects.filter(id=closed.id).update(status="closed")
    body = mod_api.get("/api/v1/moderation/queue").json()
    assert [i["id"] for i in body["items"]] == [
        str(c.id) for c in (minor, violence, spam_old, spam_new)
    ]
    assert body["open_count"] == 4 and body["next_cursor"] is None
    first = body["items"][0]
    assert first["target"]["type"] == "post" and first["subject"] == "alice"
    assert (first["reason"], first["severity"]) == ("minor_safety", SEVERITY["minor_safety"])
    assert first["reports_count"] == 1 and first["assigned_to"] is None
    assert first["preview"]["caption"] == "hello" and first["preview"]["thumb_url"]


def test_filters_by_reason_kind_assignment_and_escalation(
    api, mod_api, moderator, make_user, alice, bob, publish
):
    reporter = make_user()
    post_case = reported(reporter, publish(alice), "spam")
    violent = reported(reporter, publish(alice), "violence")
    comment = api(bob).post(
        f"/api/v1/posts/{publish(alice)['id']}/comments", {"body": "nasty"}, format="json"
    )
    cases.report_create(
        reporter=reporter,
        target_type="comment",
        target_id=comment.json()["id"],
        reason="harassment",
    )
    cases.report_create(reporter=reporter, target_type="user", target_id="bob", reason="spam")
    cases.case_claim(moderator=moderator, case_id=violent.id)
    cases.case_escalate(moderator=moderator, case_id=post_case.id)

    def ids(query):
        response = mod_api.get(f"/api/v1/moderation/queue?{query}")
        assert response.status_code == 200, response.content
        return [(i["target"]["type"], i["reason"]) for i in response.json()["items"]]

    assert ids("reason=spam") == [("post", "spam"), ("user", "spam")]
    assert ids("kind=comment") == [("comment", "harassment")]
    assert ids("kind=user") == [("user", "spam")]
    assert ids("assigned=me") == [("post", "violence")]
    assert ids("escalated=1") == [("post", "spam")]
    assert ids("escalated=1&reason=violence") == []
    bad = mod_api.get("/api/v1/moderation/queue?reason=boring&kind=thing&cursor=x")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"reason", "kind", "cursor"}


def test_pages_follow_the_queue_order_without_gaps_or_repeats(mod_api, make_user, alice, publish):
    reporter = make_user()
    reasons = ["spam", "violence", "other", "sexual", "spam", "violence", "ip"]
    made = [reported(reporter, publish(alice), r) for r in reasons]
    expected = [str(c.id) for c in sorted(made, key=lambda c: (-c.severity, c.id))]
    seen, cursor = [], ""
    while True:
        body = mod_api.get(f"/api/v1/moderation/queue?limit=3{cursor}").json()
        seen += [i["id"] for i in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert seen == expected


def test_a_page_takes_a_fixed_number_of_queries_whatever_its_size(
    django_assert_max_num_queries, moderator, api, make_user, alice, bob, publish
):
    reporter = make_user()
    for i in range(12):
        reported(reporter, publish(alice), ["spam", "sexual", "other"][i % 3])
    for i in range(6):
        comment = api(bob).post(
            f"/api/v1/posts/{publish(alice)['id']}/comments", {"body": f"c{i}"}, format="json"
        )
        cases.report_create(
            reporter=reporter, target_type="comment", target_id=comment.json()["id"], reason="spam"
        )
    for user in [make_user() for _ in range(4)]:
        cases.report_create(
            reporter=reporter, target_type="user", target_id=user.username, reason="other"
        )
    filters = queue.QueueFilters(limit=100)
    with django_assert_max_num_queries(6):
        page = queue.queue_page(moderator=moderator, filters=filters)
    assert len(page.items) == 22 and all(i["preview"] for i in page.items)
    with django_assert_max_num_queries(6):
        small = queue.queue_page(moderator=moderator, filters=queue.QueueFilters(limit=2))
    assert len(small.items) == 2


def test_the_api_page_costs_the_same_queries_for_5_or_40_cases(
    django_assert_max_num_queries, mod_api, make_user, alice, publish
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    reporter = make_user()
    for _ in range(5):
        reported(reporter, publish(alice))
    mod_api.get("/api/v1/moderation/queue?limit=100")  # the token's last-use touch
    with CaptureQueriesContext(connection) as few:
        assert len(mod_api.get("/api/v1/moderation/queue?limit=100").json()["items"]) == 5
    for _ in range(35):
        reported(reporter, publish(alice))
    with CaptureQueriesContext(connection) as many:
        assert len(mod_api.get("/api/v1/moderation/queue?limit=100").json()["items"]) == 40
    assert len(many) == len(few) <= 10


def test_a_moderators_own_cases_are_not_in_their_queue(mod_api, moderator, make_user, publish):
    own = reported(make_user(), publish(moderator), "spam")
    assert mod_api.get("/api/v1/moderation/queue").json()["items"] == []
    assert mod_api.get(f"/api/v1/moderation/cases/{own.id}").status_code == 403
    assert mod_api.post(f"/api/v1/moderation/cases/{own.id}/claim").status_code == 403


def test_claim_release_and_escalate_over_the_api(mod_api, make_user, alice, publish):
    other = make_user("mod2")
    role_set(user=other, role="moderator")
    case = reported(make_user(), publish(alice), "violence")
    claimed = mod_api.post(f"/api/v1/moderation/cases/{case.id}/claim", {}, format="json")
    assert claimed.status_code == 200 and claimed.json()["assigned_to"] == "mod"
    taken = token_client(other).post(f"/api/v1/moderation/cases/{case.id}/claim")
    assert taken.status_code == 409
    released = mod_api.post(
        f"/api/v1/moderation/cases/{case.id}/claim", {"release": True}, format="json"
    )
    assert released.status_code == 200 and released.json()["assigned_to"] is None
    escalated = mod_api.post(
        f"/api/v1/moderation/cases/{case.id}/escalate", {"note": "needs legal"}, format="json"
    )
    assert escalated.status_code == 200 and escalated.json()["escalated"] is True
    assert mod_api.post("/api/v1/moderation/cases/999/claim").status_code == 404


def test_every_endpoint_and_page_is_404_for_non_moderators(
    anon, moderator, make_user, alice, bob, publish
):
    case = reported(make_user(), publish(alice), "spam")
    endpoints = [
        ("get", "/api/v1/moderation/queue"),
        ("get", f"/api/v1/moderation/cases/{case.id}"),
        ("post", f"/api/v1/moderation/cases/{case.id}/claim"),
        ("post", f"/api/v1/moderation/cases/{case.id}/escalate"),
    ]
    clients = {
        "anonymous": anon,
        "user": client_for(bob),
        "user token with moderate": token_client(bob),
        "moderator token without moderate": token_client(moderator, ("read", "write")),
    }
    for who, client in clients.items():
        for method, path in endpoints:
            response = getattr(client, method)(path)
            assert response.status_code == 404, (who, path, response.status_code)
            assert response.json()["error"]["code"] == "not_found"
    asset_id = case and Case.objects.get(id=case.id)
    from apps.posts.models import Post

    asset_id = Post.objects.get(id=case.target_id).asset_id
    pages = [
        ("get", "/moderation/"),
        ("get", "/moderation/queue"),
        ("get", f"/moderation/cases/{case.id}"),
        ("post", f"/moderation/cases/{case.id}/claim"),
        ("post", f"/moderation/cases/{case.id}/escalate"),
        ("get", f"/moderation/media/{asset_id}/original"),
    ]
    for user in (None, bob):
        for method, path in pages:
            response = getattr(site(user), method)(path)
            assert response.status_code == 404, (user, path, response.status_code)
    Case.objects.get(id=case.id).refresh_from_db()
    assert Case.objects.get(id=case.id).assigned_to is None  # nothing happened
    # The moderator, for contrast, reaches them all.
    assert site(moderator).get("/moderation/").status_code == 200
    assert site(moderator).get(f"/moderation/media/{asset_id}/original").status_code == 200


def test_the_queue_page_lists_cases_with_filters_and_claim_buttons(
    moderator, make_user, alice, publish
):
    reporter = make_user()
    spam = reported(reporter, publish(alice, caption="cheap pills"), "spam")
    violent = reported(reporter, publish(alice, caption="a fight"), "violence")
    client = site(moderator)
    page = client.get("/moderation/").content.decode()
    assert page.index(f'id="case-{violent.id}"') < page.index(f'id="case-{spam.id}"')
    assert "cheap pills" in page and 'data-testid="claim"' in page
    assert 'data-testid="open-count">2<' in page
    only_spam = client.get("/moderation/?reason=spam").content.decode()
    assert f'id="case-{spam.id}"' in only_spam and f'id="case-{violent.id}"' not in only_spam
    claimed = client.post(
        f"/moderation/cases/{spam.id}/claim", {"next": "/moderation/?reason=spam"}
    )
    assert claimed.status_code == 302 and claimed["Location"] == "/moderation/?reason=spam"
    assert Case.objects.get(id=spam.id).assigned_to == moderator
    client.post(f"/moderation/cases/{violent.id}/escalate")
    assert Case.objects.get(id=violent.id).escalated
    mine = client.get("/moderation/?assigned=me").content.decode()
    assert f'id="case-{spam.id}"' in mine and f'id="case-{violent.id}"' not in mine


def test_moderators_see_the_open_count_in_the_navigation(moderator, bob, make_user, alice, publish):
    reporter = make_user()
    for _ in range(3):
        reported(reporter, publish(alice))
    nav = site(moderator).get("/").content.decode()
    assert 'id="moderation-badge" data-open="3"' in nav and "js/moderation.js" in nav
    assert "moderation-badge" not in site(bob).get("/").content.decode()


# --- Live ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_report_opening_a_case_reaches_moderators_sockets_at_once(make_user, alice):
    from tests.realtime.sockets import publish as socket_publish
    from tests.realtime.sockets import session_cookie, session_socket, subscribe, token_socket

    moderator = await sync_to_async(make_user)("mod")
    await sync_to_async(role_set)(user=moderator, role="moderator")
    reporter = await sync_to_async(make_user)("reporter")
    ws = await session_socket(await session_cookie(moderator))
    assert (await subscribe(ws, "moderation"))["subscribed"] == ["moderation"]
    outsider = await token_socket(reporter)
    assert (await subscribe(outsider, "moderation"))["subscribed"] == []
    post = await socket_publish(alice)
    await sync_to_async(cases.report_create)(
        reporter=reporter, target_type="post", target_id=str(post.id), reason="sexual"
    )
    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "moderation.case" and event["stream"] == "moderation"
    assert event["change"] == "opened"
    assert event["case"]["target"] == {"type": "post", "id": str(post.id)}
    assert (event["case"]["reason"], event["case"]["reports_count"]) == ("sexual", 1)
    assert await outsider.receive_nothing(timeout=0.5)
    case_id = int(event["case"]["id"])
    await sync_to_async(cases.case_claim)(moderator=moderator, case_id=case_id)
    claimed = await ws.receive_json_from(timeout=5)
    assert (claimed["change"], claimed["case"]["assigned_to"]) == ("claimed", "mod")
    await ws.disconnect()
    await outsider.disconnect()


def test_the_open_count_stops_at_the_cap(monkeypatch, moderator, make_user, alice, publish):
    reporter = make_user()
    for _ in range(4):
        reported(reporter, publish(alice))
    assert queue.queue_count() == 4
    monkeypatch.setattr(queue, "OPEN_COUNT_CAP", 3)
    assert queue.queue_count() == 3
    nav = site(moderator).get("/").content.decode()
    assert 'id="moderation-badge" data-open="3+"' in nav

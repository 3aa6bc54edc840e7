"""Who may reach what: every moderation route, found in the URL resolver (so a route added later
is covered without touching this file), tried by everyone who is not a moderator.

- Moderators' routes (``/api/v1/moderation/…`` and ``/moderation/…``) answer 404 to anonymous
  visitors, plain users (session or token) and moderators whose token lacks ``moderate``, for
  every method they serve, with a body that would have worked for a moderator; and nothing
  changes. The metrics answer 404 to moderators who are not admins too.
- Reports and appeals are for everyone signed in (API.md): anonymous visitors get 401 from the
  API and the login page from the site; signed-in people, tokens without ``moderate`` included,
  read their own.
- Every sample id is real: an admin reaches every route (each request rolled back), so a 404
  above means "hidden", not "no such case".
- A moderator cannot act on their own content nor on a case about themselves (403), through the
  services, the API and the pages, and the ``moderation`` socket stream refuses non-moderators.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.core.exceptions import ApplicationError
from apps.generation.models import GenerationJob
from apps.moderation import actions, appeals, cases, services
from apps.moderation.models import (
    Appeal,
    AuditEntry,
    Case,
    MediaBlock,
    ModerationAction,
    PolicyHold,
    ProtectedTerm,
    Report,
    Strike,
    Suspension,
)
from apps.moderation.roles import role_set
from apps.posts.models import Post
from tests.moderation.helpers_cases import reported, token_client

PREFIXES = (
    "api/v1/moderation/",
    "api/v1/reports",
    "api/v1/appeals",
    "moderation/",
    "report",
    "reports/",
    "appeals",
)
# For every signed-in person (API.md: anyone may report, an author may appeal).
EVERYONE = ("api/v1/reports", "api/v1/appeals", "report", "reports/", "appeals")
ADMINS_ONLY = {"api/v1/moderation/metrics", "moderation/metrics"}
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def moderation_routes() -> list[tuple[str, object]]:
    """Every route of the moderation surface, as (route, pattern), API and pages."""
    found = [
        (route, pattern)
        for route, pattern in _walk(get_resolver().url_patterns)
        if route.startswith(PREFIXES)
        and getattr(pattern.callback, "view_class", pattern.callback).__module__.startswith(
            "apps.moderation"
        )
    ]
    assert len(found) >= 30, "the resolver walk lost routes"
    return found


def methods_of(pattern) -> list[str]:
    view_class = getattr(pattern.callback, "view_class", None)
    if view_class is None:  # a function view: its decorators decide, try both
        return ["get", "post"]
    return [m for m in METHODS if hasattr(view_class, m)]


def url_for(route: str, samples: dict[str, str]) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in samples:
            pytest.fail(f"{route}: no sample value for <{name}>; add a real one to `world`")
        return samples[name]

    return "/" + _PARAM.sub(fill, route)


def is_api(route: str) -> bool:
    return route.startswith("api/")


def kind_of(route: str) -> str:
    if route in ADMINS_ONLY:
        return "admin"
    if route.startswith(EVERYONE):
        return "everyone"
    return "moderator"


def state() -> dict:
    """Everything a moderation request could change."""
    return {
        "cases": list(
            Case.objects.order_by("id").values_list(
                "id", "status", "assigned_to_id", "escalated", "decision", "first_action_at"
            )
        ),
        "reports": list(Report.objects.order_by("id").values_list("id", "status")),
        "appeals": list(Appeal.objects.order_by("id").values_list("id", "status")),
        "terms": list(ProtectedTerm.objects.order_by("id").values_list("id", "action")),
        "holds": list(PolicyHold.objects.order_by("id").values_list("id", "cleared_at")),
        "posts": list(
            Post.objects.order_by("id").values_list(
                "id", "removed_at", "removed_reason", "sensitive"
            )
        ),
        "counts": [
            m.objects.count()
            for m in (ModerationAction, AuditEntry, Strike, Suspension, MediaBlock)
        ],
    }


@pytest.fixture
def world(make_user, publish, alice, bob):
    """Real rows behind every sample id: an open case, a pending appeal, a case's media, a term,
    a held prompt; and a moderator (Mona) with a case about her post and one about herself."""
    mona = make_user("mona")
    role_set(user=mona, role="moderator")
    boss = make_user("boss")
    role_set(user=boss, role="admin")
    reported_post = publish(alice, caption="reported")
    open_case = reported(bob, reported_post)
    removed_case = reported(bob, publish(alice, caption="removed"))
    actions.action_take(
        moderator=mona, case_id=removed_case.id, action="remove", reason_code="spam"
    )
    appeal = appeals.appeal_create(author=alice, case_id=removed_case.id, body="Look again.")
    term, _ = services.term_add(term="Matrix Star", action="refuse")
    job = GenerationJob.objects.create(
        owner=alice,
        kind="image",
        prompt="a matrix star portrait",
        backend="procedural",
        seed=1,
        params={"width": 8, "height": 8, "quality": "draft"},
    )
    hold = PolicyHold.objects.create(job=job, terms=["Matrix Star"])
    own_case = reported(bob, publish(mona, caption="mine"))
    cases.report_create(reporter=bob, target_type="user", target_id=str(mona.pk), reason="other")
    self_case = Case.objects.get(target_type="user", target_id=mona.pk, status="open")
    mona_removed = reported(bob, publish(mona, caption="mine, removed"))
    actions.action_take(
        moderator=boss, case_id=mona_removed.id, action="remove", reason_code="spam"
    )
    own_appeal = appeals.appeal_create(author=mona, case_id=mona_removed.id, body="Not spam.")
    samples = {
        "case_id": str(open_case.id),
        "appeal_id": str(appeal.id),
        "asset_id": str(reported_post["asset"]["id"]),
        "variant": "original",
        "term_id": str(term.id),
        "hold_id": str(hold.id),
    }
    # A body that a moderator's request could succeed with, whatever the route.
    body = {
        "action": "remove",
        "reason_code": "spam",
        "note": "matrix",
        "decision": "reversed",
        "case_ids": [str(open_case.id)],
        "term": "Another Star",
        "release": False,
    }
    return {
        "mona": mona,
        "boss": boss,
        "samples": samples,
        "body": body,
        "open_case": open_case,
        "own_case": own_case,
        "self_case": self_case,
        "own_appeal": own_appeal,
    }


def send(client, method: str, url: str, body: dict, *, api: bool):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    if api:
        return getattr(client, method)(url, body, format="json")
    return getattr(client, method)(url, body)


def page_client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api_session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_no_one_but_moderators_reaches_a_moderation_route(world, alice, bob, make_user):
    staff = make_user("staffer", is_staff=True)  # staff alone is not a moderator
    page_clients = {
        "anonymous": page_client(),
        "plain user": page_client(bob),
        "author": page_client(alice),
        "staff": page_client(staff),
    }
    api_clients = {
        "anonymous": APIClient(),
        "plain user's token": token_client(bob, scopes=("read", "write")),
        "plain user's session": api_session(bob),
        "author's token": token_client(alice, scopes=("read", "write")),
        "moderator's token without moderate": token_client(world["mona"], scopes=("read", "write")),
        "admin's token without moderate": token_client(world["boss"], scopes=("read", "write")),
    }
    before = state()
    wrong = []
    tried = 0
    for route, pattern in moderation_routes():
        kind = kind_of(route)
        url = url_for(route, world["samples"])
        api = is_api(route)
        clients = api_clients if api else page_clients
        if kind == "admin":  # moderators who are not admins do not see it either
            clients = {
                **clients,
                "moderator": token_client(world["mona"]) if api else page_client(world["mona"]),
            }
        for method in methods_of(pattern):
            for who, client in clients.items():
                if kind == "everyone" and who != "anonymous":
                    continue  # theirs to use; checked below
                tried += 1
                answer = send(client, method, url, world["body"], api=api)
                if kind == "everyone":
                    if api:
                        expected_ok = answer.status_code == 401
                    else:
                        expected_ok = answer.status_code == 302 and "/login" in answer["Location"]
                else:
                    expected_ok = answer.status_code == 404
                    if api and expected_ok:
                        expected_ok = answer.json()["error"]["code"] == "not_found"
                if not expected_ok:
                    wrong.append(f"{who}: {method.upper()} {url} → {answer.status_code}")
    assert not wrong, "\n".join(wrong)
    assert tried > 150
    assert state() == before, "a refused request changed something"


@pytest.mark.django_db
def test_reports_and_appeals_are_for_everyone_signed_in(world, alice, bob):
    readers = {
        "plain user's token": token_client(bob, scopes=("read", "write")),
        "plain user's session": api_session(bob),
        "read-only token": token_client(bob, scopes=("read",)),
    }
    for route, pattern in moderation_routes():
        if kind_of(route) != "everyone" or "get" not in methods_of(pattern):
            continue
        url = url_for(route, world["samples"])
        if route == "report":  # the form is for one target
            url += f"?type=post&id={world['open_case'].target_id}"
        clients = readers if is_api(route) else {"plain user": page_client(bob)}
        # A page that only takes a form's POST says so (405); none is hidden.
        ok = (200,) if is_api(route) else (200, 405)
        for who, client in clients.items():
            assert client.get(url).status_code in ok, f"{who}: GET {url}"
    mine = token_client(bob, scopes=("read",)).get("/api/v1/reports/mine").json()["items"]
    assert {r["target"]["id"] for r in mine} >= {str(world["open_case"].target_id)}
    # A new report from a plain user's token works; an appeal of someone else's case is unseen.
    fresh = token_client(alice, scopes=("read", "write")).post(
        "/api/v1/reports",
        {"target": {"type": "user", "id": str(bob.pk)}, "reason": "spam"},
        format="json",
    )
    assert fresh.status_code == 201, fresh.content
    other = token_client(bob, scopes=("read", "write")).post(
        "/api/v1/appeals",
        {"case_id": world["samples"]["case_id"], "body": "not mine"},
        format="json",
    )
    assert other.status_code == 404


@pytest.mark.django_db
def test_every_sample_is_real_an_admin_reaches_every_route(world):
    """The control: what others were refused exists (each request rolled back afterwards)."""
    boss = world["boss"]
    api_client, pages = token_client(boss), page_client(boss)
    unreachable = []
    for route, pattern in moderation_routes():
        if kind_of(route) == "everyone":
            continue  # not hidden from anyone signed in
        url = url_for(route, world["samples"])
        for method in methods_of(pattern):
            with transaction.atomic():
                answer = send(
                    api_client if is_api(route) else pages,
                    method,
                    url,
                    world["body"],
                    api=is_api(route),
                )
                transaction.set_rollback(True)
            if answer.status_code in (401, 404):
                unreachable.append(f"{method.upper()} {url} → {answer.status_code}")
    assert not unreachable, unreachable


@pytest.mark.django_db
def test_a_moderator_cannot_act_on_their_own_content_or_about_themselves(world):
    mona = world["mona"]
    own, about_me = world["own_case"], world["self_case"]
    before = state()
    for case, action in ((own, "remove"), (about_me, "suspend"), (about_me, "warn")):
        with pytest.raises(ApplicationError) as refused:
            actions.action_take(moderator=mona, case_id=case.id, action=action, reason_code="spam")
        assert refused.value.code == "forbidden"
    for call in (cases.case_claim, cases.case_escalate):
        with pytest.raises(ApplicationError, match="about you"):
            call(moderator=mona, case_id=own.id)
    with pytest.raises(ApplicationError) as refused:
        appeals.appeal_decide(moderator=mona, appeal_id=world["own_appeal"].id, decision="reversed")
    assert refused.value.code == "forbidden"

    client = token_client(mona)
    for case in (own, about_me):
        for method, path, body in (
            ("get", "", None),
            ("post", "/actions", {"action": "warn", "reason_code": "spam"}),
            ("post", "/claim", {}),
            ("post", "/escalate", {}),
        ):
            answer = send(
                client, method, f"/api/v1/moderation/cases/{case.id}{path}", body, api=True
            )
            assert answer.status_code == 403, (case.target_type, path, answer.content)
            assert answer.json()["error"]["code"] == "forbidden"
    decided = client.post(
        f"/api/v1/moderation/appeals/{world['own_appeal'].id}",
        {"decision": "reversed"},
        format="json",
    )
    assert decided.status_code == 403
    bulk = client.post(
        "/api/v1/moderation/actions/bulk",
        {"case_ids": [str(own.id), str(about_me.id)], "action": "warn", "reason_code": "spam"},
        format="json",
    )
    assert bulk.status_code in (200, 403)
    if bulk.status_code == 200:
        assert bulk.json()["items"] == []

    pages = page_client(mona)
    for case in (own, about_me):
        pages.post(f"/moderation/cases/{case.id}/act", {"action": "warn", "reason_code": "spam"})
        pages.post(f"/moderation/cases/{case.id}/claim")
        pages.post(f"/moderation/cases/{case.id}/escalate")
        shown = pages.get(f"/moderation/cases/{case.id}")
        assert shown.status_code in (302, 403)
    pages.post(f"/moderation/appeals/{world['own_appeal'].id}/decide", {"decision": "reversed"})
    after = state()
    # Viewing nothing, deciding nothing: not even an audit entry was written.
    assert after == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_moderation_stream_refuses_everyone_else(make_user):
    from tests.realtime.sockets import connect, session_cookie, session_socket, subscribe

    plain = await sync_to_async(make_user)("plain")
    mod = await sync_to_async(make_user)("streammod")
    await sync_to_async(role_set)(user=mod, role="moderator")

    @sync_to_async
    def bearer(user, scopes):
        from tests.moderation.helpers_cases import token_client

        return token_client(user, scopes=scopes)._credentials["HTTP_AUTHORIZATION"]

    sockets = {
        "plain user's session": await session_socket(await session_cookie(plain)),
        "anonymous": await connect(),
        "moderator's token without moderate": await connect(
            [(b"authorization", (await bearer(mod, ("read", "write"))).encode())]
        ),
    }
    for who, ws in sockets.items():
        result = await subscribe(ws, "moderation")
        assert result["subscribed"] == [], who
        error = result["errors"][0]
        assert (error["type"], error["code"], error["stream"]) == (
            "error",
            "forbidden",
            "moderation",
        ), who
        await ws.disconnect()
    scoped = await connect([(b"authorization", (await bearer(mod, ("read", "moderate"))).encode())])
    assert (await subscribe(scoped, "moderation"))["subscribed"] == ["moderation"]
    await scoped.disconnect()

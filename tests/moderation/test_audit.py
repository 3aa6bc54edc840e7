"""The audit log: every moderator action, case view, appeal decision and role change is an entry;
moderators read it (API and page) with filters, newest first; the chain verifies, and an entry
edited behind the code's back is named by ``provenance_verify``, by the API and on the page."""

from __future__ import annotations

from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.core import ledger
from apps.moderation import actions, appeals, cases
from apps.moderation.models import AuditEntry
from apps.moderation.roles import role_set
from tests.moderation.helpers_cases import reported, token_client

pytestmark = pytest.mark.django_db

ENTRY_KEYS = {
    "id",
    "actor",
    "action",
    "target",
    "case_id",
    "reason_code",
    "note",
    "before",
    "after",
    "created_at",
    "prev_hash",
    "hash",
    "valid",
}


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


@pytest.fixture
def second_moderator(make_user):
    user = make_user("mod2")
    role_set(user=user, role="moderator")
    return user


def log(client, **query) -> list[dict]:
    answer = client.get("/api/v1/moderation/audit", query)
    assert answer.status_code == 200, answer.content
    return answer.json()["items"]


def edit_behind_the_codes_back(entry: AuditEntry, note: str) -> None:
    """What someone with database access could do: switch the trigger off and change a row."""
    name = ledger.trigger_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE moderation_auditentry DISABLE TRIGGER "{name}"')
        cursor.execute("UPDATE moderation_auditentry SET note = %s WHERE id = %s", [note, entry.id])
        cursor.execute(f'ALTER TABLE moderation_auditentry ENABLE TRIGGER "{name}"')


def test_every_action_claim_view_and_appeal_decision_is_an_entry(
    alice, bob, moderator, second_moderator, publish
):
    kinds = ["dismiss", "hide", "remove", "mark_sensitive", "warn", "strike", "suspend"]
    posts = {kind: publish(alice, caption=f"about {kind}") for kind in kinds}
    case_of = {kind: reported(bob, post, reason="harassment") for kind, post in posts.items()}
    client = token_client(moderator)

    cases.case_claim(moderator=moderator, case_id=case_of["remove"].id)
    assert client.get(f"/api/v1/moderation/cases/{case_of['remove'].id}").status_code == 200
    for kind in kinds:
        actions.action_take(
            moderator=moderator,
            case_id=case_of[kind].id,
            action=kind,
            reason_code="harassment",
            note=f"note for {kind}",
        )
    actions.action_take(
        moderator=moderator,
        case_id=case_of["suspend"].id,
        action="unsuspend",
        reason_code="harassment",
    )
    appeal = appeals.appeal_create(author=alice, case_id=case_of["remove"].id, body="Mine.")
    appeals.appeal_decide(
        moderator=second_moderator, appeal_id=appeal.id, decision="reversed", note="fair"
    )

    mine = log(client, actor="mod", limit=100)
    actions_seen = [e["action"] for e in mine]
    for kind in [*kinds, "unsuspend"]:
        assert f"action.{kind}" in actions_seen, kind
    assert "case.claim" in actions_seen and "case.view" in actions_seen
    # Newest first.
    assert [int(e["id"]) for e in mine] == sorted((int(e["id"]) for e in mine), reverse=True)
    assert all(set(e) >= ENTRY_KEYS and e["valid"] for e in mine)
    remove = next(e for e in mine if e["action"] == "action.remove")
    assert remove["actor"]["username"] == "mod"
    assert remove["target"] == {"type": "post", "id": str(posts["remove"]["id"])}
    assert remove["case_id"] == str(case_of["remove"].id)
    assert remove["reason_code"] == "harassment" and remove["note"] == "note for remove"
    assert remove["before"]["removed_reason"] == ""
    assert remove["after"]["removed_reason"] == "moderation_removed"
    # The chain: each of this moderator's entries points at the one before.
    oldest_first = list(reversed(mine))
    assert oldest_first[0]["prev_hash"] == ledger.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(oldest_first))

    decided = log(client, actor="mod2")
    assert [e["action"] for e in decided] == ["appeal.reversed", "action.restore", "role.grant"]
    # The roles given at the start are entries too.
    assert {e["action"] for e in log(client, action="role")} == {"role.grant"}


def test_filters_and_pages(alice, bob, moderator, publish):
    first, second = publish(alice), publish(alice)
    case_a, case_b = reported(bob, first), reported(bob, second)
    cases.case_claim(moderator=moderator, case_id=case_a.id)
    cases.case_escalate(moderator=moderator, case_id=case_b.id, note="needs a second look")
    actions.action_take(moderator=moderator, case_id=case_a.id, action="remove", reason_code="spam")
    client = token_client(moderator)

    assert [e["action"] for e in log(client, case=case_a.id)] == ["action.remove", "case.claim"]
    assert [e["action"] for e in log(client, action="case.escalate")] == ["case.escalate"]
    assert {e["action"] for e in log(client, action="case")} == {"case.claim", "case.escalate"}
    by_target = log(client, target_type="post", target_id=second["id"])
    assert [e["note"] for e in by_target] == ["needs a second look"]
    assert log(client, actor=str(moderator.pk)) == log(client, actor="MOD")
    assert log(client, actor="nobody-at-all") == []

    first_page = client.get("/api/v1/moderation/audit", {"limit": 2}).json()
    assert len(first_page["items"]) == 2 and first_page["next_cursor"]
    rest = client.get(
        "/api/v1/moderation/audit", {"limit": 100, "cursor": first_page["next_cursor"]}
    ).json()
    ids = [e["id"] for e in first_page["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == AuditEntry.objects.count()

    bad = client.get("/api/v1/moderation/audit", {"case": "x", "action": "DROP TABLE"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"case", "action"}


def test_the_page_shows_and_filters_the_log(client, alice, bob, moderator, publish):
    post = publish(alice, caption="spam wave")
    case = reported(bob, post)
    actions.action_take(
        moderator=moderator, case_id=case.id, action="remove", reason_code="spam", note="wave #3"
    )
    client.force_login(moderator)
    page = client.get("/moderation/audit")
    assert page.status_code == 200
    body = page.content.decode()
    assert "action.remove" in body and "wave #3" in body and "@mod" in body
    filtered = client.get("/moderation/audit", {"action": "role"}).content.decode()
    assert 'data-action="role.grant"' in filtered and 'data-action="action.remove"' not in filtered
    assert "edited" not in filtered.split('data-testid="audit-table"')[1]
    wrong = client.get("/moderation/audit", {"case": "abc"})
    assert wrong.status_code == 200 and 'data-testid="audit-error"' in wrong.content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_chain_verifies_and_an_edited_entry_is_named(client, alice, bob, moderator, publish):
    post = publish(alice)
    case = reported(bob, post)
    actions.action_take(
        moderator=moderator, case_id=case.id, action="remove", reason_code="spam", note="spam"
    )
    out = StringIO()
    call_command("provenance_verify", "--log", "audit", "--no-progress", stdout=out)
    assert "All chains intact" in out.getvalue()

    entry = AuditEntry.objects.get(action="action.remove")
    edit_behind_the_codes_back(entry, note="nothing to see here")

    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("provenance_verify", "--no-progress", stdout=out)
    assert failed.value.returncode == 1
    report = out.getvalue()
    assert f"audit user:{moderator.pk} #{entry.seq} (row {entry.id}): hash_mismatch" in report

    client_api = token_client(moderator)
    shown = {e["id"]: e for e in log(client_api)}
    assert shown[str(entry.id)]["valid"] is False
    assert shown[str(entry.id)]["note"] == "nothing to see here"
    assert sum(1 for e in shown.values() if not e["valid"]) == 1
    client.force_login(moderator)
    page = client.get("/moderation/audit").content.decode()
    assert 'data-testid="audit-invalid"' in page and 'data-testid="audit-broken"' in page


def test_the_database_refuses_changes_to_entries(moderator):
    from django.db import DatabaseError, transaction

    entry = AuditEntry.objects.filter(chain=f"user:{moderator.pk}").first()
    assert entry is not None  # the role grant
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(id=entry.id).update(note="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(id=entry.id).delete()
    assert AuditEntry.objects.get(id=entry.id).note == entry.note


def test_a_page_of_the_log_is_two_queries_however_many_moderators(make_user, alice, publish):
    from django.test.utils import CaptureQueriesContext

    from apps.core.pagination import PageParams
    from apps.moderation.auditlog import AuditFilters, audit_page

    moderators = [make_user(f"moderator{i}") for i in range(5)]
    for mod in moderators:
        role_set(user=mod, role="moderator")
    for mod in moderators:
        cases.case_escalate(moderator=mod, case_id=reported(alice, publish(make_user())).id)
    with CaptureQueriesContext(connection) as queries:
        page = audit_page(filters=AuditFilters(), params=PageParams(limit=100))
    assert len(page.items) == 10 and len(queries) == 2
    assert {e["actor"]["username"] for e in page.items} == {m.username for m in moderators}

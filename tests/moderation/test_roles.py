"""Roles: operators grant and take away the moderator and admin roles from the command line,
tokens act as a moderator only with the ``moderate`` scope, which only moderators may hold."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from apps.moderation.models import AuditEntry
from apps.moderation.roles import is_admin, is_moderator, role_of
from tests.moderation.helpers_cases import token_client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery 9"


def grant(*args: str) -> str:
    out = StringIO()
    call_command("grant_moderator", *args, stdout=out)
    return out.getvalue()


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no cached permissions


def test_grant_moderator_makes_a_moderator_who_sees_the_queue(client, alice):
    client.force_login(alice)
    assert client.get("/moderation/").status_code == 404
    out = grant("alice")
    assert "a moderator" in out
    assert is_moderator(fresh(alice)) and not is_admin(fresh(alice))
    assert client.get("/moderation/").status_code == 200
    entry = AuditEntry.objects.get(action="role.grant", target_id=alice.pk)
    assert entry.before == {"role": "none"} and entry.after == {"role": "moderator"}
    assert entry.note == "manage.py grant_moderator"


def test_admin_then_back_to_moderator_then_nothing(client, alice, bob):
    grant("alice", "--admin", "--by", "bob")
    assert role_of(fresh(alice)) == "admin" and is_admin(fresh(alice))
    entry = AuditEntry.objects.get(action="role.grant")
    assert entry.actor_id == bob.pk and entry.chain == f"user:{bob.pk}"

    grant("alice", "--admin", "--revoke")
    assert role_of(fresh(alice)) == "moderator" and not is_admin(fresh(alice))

    client.force_login(alice)
    assert client.get("/moderation/").status_code == 200
    grant("alice", "--revoke")
    assert role_of(fresh(alice)) == "none" and not is_moderator(fresh(alice))
    assert client.get("/moderation/").status_code == 404
    assert list(
        AuditEntry.objects.filter(target_id=alice.pk).order_by("id").values_list("after", flat=True)
    ) == [{"role": "admin"}, {"role": "moderator"}, {"role": "none"}]
    assert AuditEntry.objects.filter(action="role.revoke").count() == 1


def test_granting_twice_changes_nothing_and_unknown_people_are_refused(alice):
    grant("alice")
    assert "already a moderator" in grant("@ALICE")
    assert AuditEntry.objects.filter(action__startswith="role.").count() == 1
    with pytest.raises(CommandError, match="No account named"):
        grant("nobody")


def test_staff_alone_is_no_moderator(client, make_user):
    client.force_login(make_user("staffer", is_staff=True))
    assert client.get("/moderation/audit").status_code == 404
    assert client.get("/moderation/").status_code == 404


# --- Tokens and the moderate scope ----------------------------------------------------------


def token_request(username: str, scopes: list[str]):
    return APIClient().post(
        "/api/v1/auth/tokens",
        {"username": username, "password": PASSWORD, "scopes": scopes},
        format="json",
    )


def test_only_moderators_get_a_moderate_token(alice):
    refused = token_request("alice", ["read", "moderate"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "moderator role" in refused.json()["error"]["message"]

    grant("alice")
    made = token_request("alice", ["read", "moderate"])
    assert made.status_code == 201, made.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {made.json()['token']}")
    assert client.get("/api/v1/moderation/queue").status_code == 200
    assert client.get("/api/v1/moderation/audit").status_code == 200


def test_a_moderators_token_without_the_scope_is_not_a_moderator(alice):
    grant("alice")
    plain = token_client(alice, scopes=("read", "write"))
    assert plain.get("/api/v1/moderation/queue").status_code == 404
    assert plain.get("/api/v1/moderation/audit").status_code == 404
    # Revoking the role makes the moderate token useless at once.
    scoped = token_client(alice)
    assert scoped.get("/api/v1/moderation/audit").status_code == 200
    grant("alice", "--revoke")
    assert scoped.get("/api/v1/moderation/audit").status_code == 404


def test_a_call_outside_the_tokens_scopes_names_the_scope_needed(alice):
    reader = token_client(alice, scopes=("read",))
    answer = reader.patch("/api/v1/me", {"bio": "x"}, format="json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "'write'" in answer.json()["error"]["message"]
    assert reader.get("/api/v1/me").status_code == 200

"""Likeness consent: each person's policy and approved list, checked when a generation is
requested and when its result is published; every use listed for the person depicted."""

from __future__ import annotations

import itertools

import pytest

from apps.consent.models import ConsentEvent, LikenessUse
from apps.consent.selectors import likeness_consent_event_ids
from apps.core import ledger
from apps.notifications.models import Notification
from apps.social import services as social

pytestmark = pytest.mark.django_db


def generate(api, user, **body):
    return api(user).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a portrait in the park", "quality": "draft", **body},
        format="json",
    )


def test_nobody_may_use_my_likeness_until_i_say_so(api, alice, bob):
    assert api(bob).get("/api/v1/me/consent/likeness").json() == {
        "policy": "nobody",
        "approved": [],
    }
    response = generate(api, alice, likeness=["bob"])
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "consent_required" and "@bob" in error["message"]
    assert error["fields"] == {"likeness": ["@bob has not given consent."]}
    # An @mention in the prompt names the person just the same.
    response = generate(api, alice, prompt="@bob surfing a big wave")
    assert response.status_code == 422 and "@bob" in response.json()["error"]["message"]
    assert not LikenessUse.objects.exists()


def test_a_person_always_may_use_their_own_likeness(api, alice):
    assert generate(api, alice, likeness=["alice"], prompt="@alice on the moon").status_code == 202
    assert not LikenessUse.objects.exists()


def test_an_unknown_name_in_likeness_is_invalid_but_a_stray_mention_is_text(api, alice):
    response = generate(api, alice, likeness=["nosuchperson"])
    assert response.status_code == 400
    assert "nosuchperson" in response.json()["error"]["fields"]["likeness"][0]
    assert generate(api, alice, prompt="hello @nosuchperson").status_code == 202


def test_approved_people_may_and_others_may_not(api, alice, bob, carol, set_consent):
    body = set_consent(bob, "approved", approved=[alice])
    assert body == {"policy": "approved", "approved": ["alice"]}
    response = generate(api, alice, likeness=["bob"])
    assert response.status_code == 202, response.content
    assert generate(api, carol, likeness=["bob"]).status_code == 422

    use = LikenessUse.objects.get()
    assert (use.person, use.requester, use.status) == (bob, alice, "active")
    approve = ConsentEvent.objects.get(user_id=bob.pk, kind="likeness_approve")
    assert use.consent_event_id == approve.id
    job = use.job
    assert likeness_consent_event_ids(job=job) == [approve.id]
    notice = Notification.objects.get(recipient=bob)
    assert (notice.kind, notice.actor) == ("likeness_used", alice)


def test_followers_policy_covers_followers_only(api, alice, bob, carol, set_consent):
    set_consent(bob, "followers")
    social.follow_create(follower=carol, followee=bob)
    assert generate(api, carol, likeness=["bob"]).status_code == 202
    assert generate(api, alice, likeness=["bob"]).status_code == 422


def test_a_block_refuses_even_under_everyone(api, alice, bob, carol, set_consent):
    set_consent(bob, "everyone")
    assert generate(api, carol, likeness=["bob"]).status_code == 202
    social.block_create(blocker=bob, blocked=alice)
    assert generate(api, alice, likeness=["bob"]).status_code == 422


def test_nobody_overrides_the_approved_list(api, alice, bob, set_consent):
    set_consent(bob, "approved", approved=[alice])
    set_consent(bob, "nobody")
    assert api(bob).get("/api/v1/me/consent/likeness").json()["approved"] == ["alice"]
    assert generate(api, alice, likeness=["bob"]).status_code == 422


def test_several_refusals_name_everyone(api, alice, bob, carol):
    response = generate(api, alice, likeness=["bob", "carol"])
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "@bob" in message and "@carol" in message


def test_unknown_approved_names_are_refused_whole(api, alice, bob):
    response = api(bob).put(
        "/api/v1/me/consent/likeness",
        {"policy": "approved", "approved": ["alice", "ghost"]},
        format="json",
    )
    assert response.status_code == 400 and "@ghost" in str(response.json())
    assert api(bob).get("/api/v1/me/consent/likeness").json()["policy"] == "nobody"
    assert not ConsentEvent.objects.filter(user_id=bob.pk).exists()


def test_publish_rechecks_consent(api, alice, bob, set_consent, draft):
    set_consent(bob, "approved", approved=[alice])
    _, asset = draft(alice, bob)
    set_consent(bob, approved=[])  # withdrawn before alice publishes
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "consent_required"
    assert "@bob" in response.json()["error"]["message"]

    set_consent(bob, approved=[alice])  # given again: the draft may go out
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 201
    post_id = int(response.json()["id"])
    assert Notification.objects.filter(
        recipient=bob, kind="likeness_used", post_id=post_id
    ).exists()


def test_uses_are_listed_for_the_person_depicted_drafts_included(
    api, alice, bob, carol, set_consent, draft, publish_asset
):
    set_consent(bob, "everyone")
    draft_job, _ = draft(alice, bob)
    posted_job, asset = draft(carol, bob)
    publish_asset(carol, asset, visibility="followers")
    queued = generate(api, alice, likeness=["bob"]).json()

    body = api(bob).get("/api/v1/me/consent/likeness/uses").json()
    rows = {item["job_id"]: item for item in body["items"]}
    assert list(rows) == [queued["id"], str(posted_job.id), str(draft_job.id)]  # newest first
    assert rows[str(draft_job.id)]["requester"] == "alice"
    assert rows[str(draft_job.id)]["published"] is False
    assert rows[str(draft_job.id)]["job_status"] == "succeeded"
    assert rows[str(posted_job.id)]["published"] is True
    assert rows[str(posted_job.id)]["requester"] == "carol"
    assert rows[queued["id"]]["job_status"] == "queued"
    assert {r["status"] for r in rows.values()} == {"active"}
    assert "prompt" not in rows[queued["id"]]
    # Nobody else sees them; the requester's own list of uses of their likeness is empty.
    assert api(alice).get("/api/v1/me/consent/likeness/uses").json()["items"] == []

    page = api(bob).get("/api/v1/me/consent/likeness/uses?limit=2").json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api(bob).get(f"/api/v1/me/consent/likeness/uses?cursor={page['next_cursor']}").json()
    assert [i["job_id"] for i in rest["items"]] == [str(draft_job.id)]


def test_every_change_is_a_signed_chained_event(api, alice, bob, carol, set_consent):
    set_consent(bob, "approved", approved=[alice, carol])
    set_consent(bob, "approved", approved=[alice, carol])  # a repeat changes nothing
    set_consent(bob, "followers", approved=[carol])
    api(bob).put("/api/v1/me/consent/training", {"default_allowed": True}, format="json")

    body = api(bob).get("/api/v1/me/consent/events").json()
    kinds = [e["kind"] for e in reversed(body["items"])]
    assert kinds == [
        "likeness_policy",
        "likeness_approve",
        "likeness_approve",
        "likeness_policy",
        "likeness_unapprove",
        "training_default",
    ]
    events = list(reversed(body["items"]))
    assert events[0]["prev_hash"] == ledger.GENESIS
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]
    assert events[0]["value"] == {"policy": "approved"}
    assert events[4]["value"]["username"] == "alice"
    assert set(events[0]) == {"id", "kind", "scope", "value", "created_at", "prev_hash", "hash"}
    assert api(alice).get("/api/v1/me/consent/events").json()["items"] == []
    assert ledger.verify_all(logs=["consent"]) == []


def test_a_rewritten_consent_event_is_reported(alice, bob, set_consent):
    from django.db import connection

    set_consent(bob, "everyone")
    set_consent(bob, "nobody")
    first = ConsentEvent.objects.filter(user_id=bob.pk).order_by("seq").first()
    with connection.cursor() as cursor:
        table = ConsentEvent._meta.db_table
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        cursor.execute(
            f'UPDATE "{table}" SET value = \'{{"policy": "nobody"}}\' WHERE id = %s',
            [first.id],
        )
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
    problems = ledger.verify_all(logs=["consent"])
    assert [(p.chain, p.seq, p.kind) for p in problems] == [(f"user:{bob.pk}", 1, "hash_mismatch")]


def test_the_consent_log_refuses_updates_and_deletes(bob, set_consent):
    from django.db import DatabaseError, connection, transaction

    set_consent(bob, "everyone")
    table = ConsentEvent._meta.db_table
    for sql in (f"UPDATE \"{table}\" SET scope = 'x'", f'DELETE FROM "{table}"'):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_an_edit_depicts_whoever_its_inputs_depict(api, alice, bob, set_consent, draft):
    from apps.generation.models import GenerationJob
    from apps.media.services import asset_create
    from tests.conftest import png_bytes

    set_consent(bob, "everyone")
    job, asset = draft(alice, bob)
    response = api(alice).post(
        "/api/v1/edits", {"op": "upscale", "assets": [asset.id]}, format="json"
    )
    assert response.status_code == 202, response.content
    edit = GenerationJob.objects.get(id=response.json()["id"])
    assert LikenessUse.objects.get(job=edit).person == bob
    edited = asset_create(
        owner=alice, data=png_bytes((16, 16)), mime="image/png", width=16, height=16, job=edit
    )
    GenerationJob.objects.filter(id=edit.id).update(status="succeeded")

    set_consent(bob, "nobody")
    response = api(alice).post(
        "/api/v1/edits", {"op": "upscale", "assets": [asset.id]}, format="json"
    )
    assert response.status_code == 422 and "@bob" in response.json()["error"]["message"]

    # Taking back the first use takes back the edit made from it too.
    assert api(bob).delete(f"/api/v1/me/consent/likeness/uses/{job.id}").status_code == 204
    edited.refresh_from_db()
    assert edited.removed_at is not None
    assert LikenessUse.objects.get(job=edit).status == "removed"
    assert api(alice).get(f"/api/v1/generations/{edit.id}").status_code == 404


def test_each_flag_names_the_decision_that_withdrew_the_consent(
    api, alice, bob, carol, set_consent, draft, publish_asset
):
    from apps.consent.models import ConsentFlag

    set_consent(bob, "everyone", approved=[alice])
    alices = publish_asset(alice, draft(alice, bob)[1])
    carols = publish_asset(carol, draft(carol, bob)[1])
    set_consent(bob, "approved", approved=[])  # one request: narrower policy, alice taken off

    policy = ConsentEvent.objects.filter(user_id=bob.pk, kind="likeness_policy").latest("seq")
    unapprove = ConsentEvent.objects.get(user_id=bob.pk, kind="likeness_unapprove")
    flags = {str(f.post_id): f.event_id for f in ConsentFlag.objects.filter(person=bob)}
    assert flags == {alices["id"]: unapprove.id, carols["id"]: policy.id}
    for post in (alices, carols):
        assert api(alice).get(f"/api/v1/posts/{post['id']}").status_code == 404

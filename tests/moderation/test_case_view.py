"""One case with everything about it: the target (its hidden prompt to moderators only), the
reports with each reporter's upheld rate, flags, provenance and whether it verifies, lineage,
consent, the author's history; every view audited; the page with blurred media and the form."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core import ledger
from apps.moderation import actions, cases
from apps.moderation.models import AuditEntry, Case
from apps.moderation.roles import role_set
from tests.moderation.helpers_cases import reported, token_client
from tests.provenance.conftest import made, post_of  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

SECRET = "a lighthouse keeper named Orla, copper light"


@pytest.fixture(autouse=True)
def _many_reports_allowed(settings):
    settings.MODERATION_REPORTS_PER_HOUR = 10_000


@pytest.fixture
def moderator(make_user):
    user = make_user("mod")
    role_set(user=user, role="moderator")
    return user


@pytest.fixture
def hidden(made, post_of, alice):  # noqa: F811
    """Alice's generated post whose prompt she hides from others."""
    asset = made(alice, SECRET)
    return post_of(alice, asset, caption="harbour at night", hide_prompt=True)


def site(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_the_case_gathers_target_reports_provenance_consent_and_history(
    moderator, make_user, alice, bob, hidden, publish, django_capture_on_commit_callbacks
):
    # Bob reported before: one report upheld, one dismissed (rate 0.5).
    earlier = [publish(alice, caption=f"old {i}") for i in range(2)]
    decided = [reported(bob, p) for p in earlier]
    with django_capture_on_commit_callbacks(execute=True):
        actions.action_take(
            moderator=moderator, case_id=decided[0].id, action="strike", reason_code="spam"
        )
        actions.action_take(
            moderator=moderator, case_id=decided[1].id, action="dismiss", reason_code="spam"
        )
    case = reported(bob, hidden, "likeness", details="that is my neighbour")
    reported(make_user("newcomer"), hidden, "other")

    response = token_client(moderator).get(f"/api/v1/moderation/cases/{case.id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["reason"]) == (str(case.id), "open", "likeness")
    target = body["target"]
    assert target["type"] == "post" and target["caption"] == "harbour at night"
    assert target["hide_prompt"] is True and target["prompt"] == SECRET
    assert target["author"]["username"] == "alice"
    assert target["media"]["original_url"].startswith("/moderation/media/")
    assert [(r["reporter"]["username"], r["reason"]) for r in body["reports"]] == [
        ("bob", "likeness"),
        ("newcomer", "other"),
    ]
    bob_row, new_row = body["reports"]
    assert bob_row["details"] == "that is my neighbour"
    assert (bob_row["reporter"]["upheld"], bob_row["reporter"]["dismissed"]) == (1, 1)
    assert bob_row["reporter"]["upheld_rate"] == 0.5
    assert new_row["reporter"]["upheld_rate"] is None
    assert body["provenance"]["verified"] is True
    assert body["provenance"]["id"] == hidden["asset"]["provenance_id"]
    assert [n["relation"] for n in body["lineage"]["nodes"]] == ["self"]
    assert body["consent"]["likeness"] == [] and body["consent"]["training"]["holds"] is False
    history = body["author_history"]
    assert history["user"]["username"] == "alice"
    assert (history["strikes_active"], history["strikes_expired"]) == (1, 0)
    assert {(c["id"], c["decision"]) for c in history["cases"]} == {
        (str(decided[0].id), "strike"),
        (str(decided[1].id), "dismiss"),
    }
    assert [e["action"] for e in body["audit"]] == ["case.view"]


def test_a_broken_record_shows_as_not_verifying(moderator, make_user, hidden):
    from apps.provenance.models import ProvenanceRecord

    case = reported(make_user(), hidden)
    record_id = int(hidden["asset"]["provenance_id"])
    # An edit behind the log's back (the trigger refuses UPDATE, so go around it).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        ProvenanceRecord.objects.filter(id=record_id).update(prompt="something else")
        cursor.execute("SET session_replication_role = DEFAULT")
    body = token_client(moderator).get(f"/api/v1/moderation/cases/{case.id}").json()
    assert body["provenance"]["verified"] is False


def test_every_view_of_a_case_is_audited_in_the_signed_log(moderator, make_user, hidden):
    case = reported(make_user(), hidden)
    client = token_client(moderator)
    client.get(f"/api/v1/moderation/cases/{case.id}")
    site(moderator).get(f"/moderation/cases/{case.id}")
    views = list(AuditEntry.objects.filter(action="case.view").order_by("id"))
    assert len(views) == 2
    assert all(
        (e.actor_id, e.case_id, e.target_type, e.target_id)
        == (moderator.pk, case.id, "post", case.target_id)
        for e in views
    )
    assert all(ledger.record_valid(e) for e in views)
    # Refused looks are not views: nothing is written for a non-moderator.
    client_for_other = token_client(make_user())
    assert client_for_other.get(f"/api/v1/moderation/cases/{case.id}").status_code == 404
    assert AuditEntry.objects.filter(action="case.view").count() == 2


def test_the_hidden_prompt_shows_to_moderators_only(moderator, make_user, bob, hidden, anon):
    case = reported(make_user(), hidden)
    page = site(moderator).get(f"/moderation/cases/{case.id}")
    assert page.status_code == 200 and SECRET in page.content.decode()
    for client in (site(None), site(bob), token_client(bob), anon):
        path = (
            f"/moderation/cases/{case.id}"
            if isinstance(client, Client) and not hasattr(client, "credentials")
            else f"/api/v1/moderation/cases/{case.id}"
        )
        response = client.get(path)
        assert response.status_code == 404
        assert SECRET not in response.content.decode()
    # Nor does the reporter's view of their report or the public post page carry it.
    assert SECRET not in site(bob).get(f"/p/{hidden['id']}").content.decode()


def test_the_case_page_blurs_media_and_posts_the_action_form(
    moderator, make_user, hidden, settings
):
    settings.MODERATION_REPORT_WAVE_COUNT = 2
    reporters = [make_user() for _ in range(2)]
    case = reported(reporters[0], hidden, "sexual")
    reported(reporters[1], hidden, "sexual")
    html = site(moderator).get(f"/moderation/cases/{case.id}").content.decode()
    assert 'class="case-media blurred"' in html
    assert "harbour at night" in html
    assert f'action="/moderation/cases/{case.id}/act"' in html
    for field in ('name="action"', 'name="reason_code"', 'name="note"', 'name="until"'):
        assert field in html
    assert 'data-testid="provenance-verified">record verifies' in html
    assert "report_wave" in html  # the automatic flag a wave of reports raised
    assert "no decided reports yet" in html
    assert "case.view" in html  # the audit trail, this view included


def test_the_case_media_door_serves_taken_down_media_to_moderators(
    moderator, make_user, hidden, bob, django_capture_on_commit_callbacks
):
    case = reported(make_user(), hidden)
    with django_capture_on_commit_callbacks(execute=True):
        actions.action_take(
            moderator=moderator, case_id=case.id, action="remove", reason_code="spam"
        )
    asset_id = hidden["asset"]["id"]
    assert site(bob).get(f"/media/assets/{asset_id}/original").status_code == 404
    served = site(moderator).get(f"/moderation/media/{asset_id}/original")
    assert served.status_code == 200
    assert b"".join(served.streaming_content if served.streaming else [served.content])
    # Media no case is about stays behind the ordinary door.
    other = make_user()
    from apps.media.services import asset_create
    from tests.conftest import png_bytes

    lone = asset_create(owner=other, data=png_bytes(), mime="image/png", width=8, height=8)
    assert site(moderator).get(f"/moderation/media/{lone.id}/original").status_code == 404


def test_a_comment_and_a_user_case_show_their_targets(
    api, moderator, make_user, alice, bob, publish
):
    post = publish(alice, caption="sunset")
    comment = (
        api(bob)
        .post(f"/api/v1/posts/{post['id']}/comments", {"body": "you are awful"}, format="json")
        .json()
    )
    reporter = make_user()
    cases.report_create(
        reporter=reporter, target_type="comment", target_id=comment["id"], reason="harassment"
    )
    cases.report_create(reporter=reporter, target_type="user", target_id="bob", reason="spam")
    client = token_client(moderator)
    by_kind = {c.target_type: c for c in Case.objects.all()}
    about_comment = client.get(f"/api/v1/moderation/cases/{by_kind['comment'].id}").json()
    assert about_comment["target"]["body"] == "you are awful"
    assert about_comment["target"]["post_id"] == str(post["id"])
    assert about_comment["provenance"] is None and about_comment["consent"] is None
    about_user = client.get(f"/api/v1/moderation/cases/{by_kind['user'].id}").json()
    assert about_user["target"]["username"] == "bob" and about_user["target"]["active"] is True
    assert about_user["author_history"]["cases"][0]["target"]["type"] == "comment"
    html = site(moderator).get(f"/moderation/cases/{by_kind['comment'].id}").content.decode()
    assert "you are awful" in html

"""Managing the list: ``manage.py protected_terms`` and the moderators' page."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.generation.models import GenerationJob
from apps.moderation.models import PolicyHold, ProtectedTerm
from apps.moderation.policy import prompt_check

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "platform" / "protected_terms.example.txt"


def run(*args: str) -> str:
    out = StringIO()
    call_command("protected_terms", *args, stdout=out)
    return out.getvalue()


def test_add_list_remove(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert "Added “Jane Examplestar” (review)" in run(
            "add", "Jane  Examplestar", "--action", "review", "--note", "public figure"
        )
        assert "Updated" in run("add", "JANE EXAMPLESTÄR", "--action", "refuse")
        run("add", "Globex")
    assert run("list").splitlines() == ["Globex\trefuse", "JANE EXAMPLESTÄR\trefuse\tpublic figure"]
    assert run("list", "--action", "review") == ""
    assert prompt_check(prompt="jane examplestar waving").refused.term == "JANE EXAMPLESTÄR"

    with django_capture_on_commit_callbacks(execute=True):
        assert "Removed" in run("remove", "jane examplestar")
    assert prompt_check(prompt="jane examplestar waving").refused is None
    with pytest.raises(CommandError, match="not on the list"):
        run("remove", "jane examplestar")
    with pytest.raises(CommandError, match="at least one letter"):
        run("add", "--- !!! ---")


def test_load_the_example_file_twice(tmp_path):
    assert "5 added, 0 updated" in run("load", str(EXAMPLE))
    assert "0 added, 5 updated" in run("load", str(EXAMPLE))
    assert dict(ProtectedTerm.objects.values_list("term", "action")) == {
        "Acme Corporation": "refuse",
        "Globex": "refuse",
        "Initech": "review",
        "Jane Examplestar": "review",
        "Sir Fictional Person": "refuse",
    }
    bad = tmp_path / "bad.txt"
    bad.write_text("# fine\nGood Term\tReview\nOther | forbid\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Line 3: Choose from refuse, review"):
        run("load", str(bad))
    assert not ProtectedTerm.objects.filter(term="Good Term").exists(), "a bad file loads nothing"


def test_only_moderators_reach_the_page(make_user, moderator):
    page = "/moderation/terms"
    assert Client().get(page).status_code == 404
    someone = Client()
    someone.force_login(make_user("someone", is_staff=True))  # staff alone is not a moderator
    assert someone.get(page).status_code == 404
    assert someone.post("/moderation/terms/add", {"term": "x"}).status_code == 404
    assert not ProtectedTerm.objects.exists()
    mod = Client()
    mod.force_login(moderator)
    assert mod.get(page).status_code == 200
    assert "Protected terms" in mod.get("/").content.decode(), "no link in the top bar"


def test_moderators_add_and_remove_terms_and_clear_holds(moderator, alice):
    from apps.moderation.models import AuditEntry

    mod, moderator = moderator, Client()
    moderator.force_login(mod)

    response = moderator.post(
        "/moderation/terms/add",
        {"term": "Initech", "action": "review", "note": "mark"},
        follow=True,
    )
    assert "Added “Initech” (review)" in response.content.decode()
    term = ProtectedTerm.objects.get(normalized="initech")
    assert term.created_by.username == "mod"

    job = GenerationJob.objects.create(
        owner=alice,
        kind="image",
        prompt="the initech printer",
        backend="procedural",
        seed=1,
        params={"width": 8, "height": 8, "quality": "draft"},
    )
    hold = PolicyHold.objects.create(job=job, terms=["Initech"])
    page = moderator.get("/moderation/terms").content.decode()
    assert f'id="hold-{hold.id}"' in page and "@alice" in page and "the initech printer" in page

    moderator.post(f"/moderation/holds/{hold.id}/clear")
    hold.refresh_from_db()
    assert hold.cleared_by.username == "mod" and hold.cleared_at is not None
    assert f'id="hold-{hold.id}"' not in moderator.get("/moderation/terms").content.decode()

    moderator.post(f"/moderation/terms/{term.id}/remove")
    assert not ProtectedTerm.objects.exists()
    assert list(
        AuditEntry.objects.filter(actor=mod).order_by("seq").values_list("action", flat=True)
    ) == ["role.grant", "protected_term.add", "policy_hold.clear", "protected_term.remove"]


def moderate_token(user) -> str:
    """A token with the ``moderate`` scope (made directly: issuing them is the accounts' job)."""
    import secrets

    from apps.accounts.models import AccessToken, hash_token

    raw = "vvd_" + secrets.token_urlsafe(32)
    AccessToken.objects.create(
        user=user, prefix=raw[:12], key_hash=hash_token(raw), scopes=["read", "write", "moderate"]
    )
    return raw


def test_the_moderators_api(api, alice, moderator):
    from rest_framework.test import APIClient

    mod = moderator
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {moderate_token(mod)}")

    # Not a moderator, a moderator's token without the scope, a visitor: as if it did not exist.
    alice_moderate = APIClient()
    alice_moderate.credentials(HTTP_AUTHORIZATION=f"Bearer {moderate_token(alice)}")
    for other in (api(alice), api(mod), APIClient(), alice_moderate):
        for url in ("/api/v1/moderation/terms", "/api/v1/moderation/holds"):
            assert other.get(url).status_code == 404
        response = other.post("/api/v1/moderation/terms", {"term": "x", "action": "refuse"})
        assert response.status_code == 404

    added = client.post(
        "/api/v1/moderation/terms", {"term": "Globex", "action": "review"}, format="json"
    )
    assert added.status_code == 201 and added.json()["normalized"] == "globex"
    again = client.post(
        "/api/v1/moderation/terms", {"term": "GLOBEX", "action": "refuse"}, format="json"
    )
    assert again.status_code == 200 and again.json()["action"] == "refuse"
    listed = client.get("/api/v1/moderation/terms?q=glob").json()["items"]
    assert [t["term"] for t in listed] == ["GLOBEX"]

    job = GenerationJob.objects.create(
        owner=alice,
        kind="image",
        prompt="globex tower",
        backend="procedural",
        seed=1,
        params={"width": 8, "height": 8, "quality": "draft"},
    )
    hold = PolicyHold.objects.create(job=job, terms=["GLOBEX"])
    open_holds = client.get("/api/v1/moderation/holds").json()["items"]
    assert [(h["id"], h["prompt"], h["owner"]["username"]) for h in open_holds] == [
        (str(hold.id), "globex tower", "alice")
    ]
    cleared = client.post(f"/api/v1/moderation/holds/{hold.id}/clear")
    assert cleared.status_code == 200 and cleared.json()["cleared_by"] == "mod"
    assert client.get("/api/v1/moderation/holds").json()["items"] == []
    assert len(client.get("/api/v1/moderation/holds?status=cleared").json()["items"]) == 1

    term_id = listed[0]["id"]
    assert client.delete(f"/api/v1/moderation/terms/{term_id}").status_code == 204
    assert client.delete(f"/api/v1/moderation/terms/{term_id}").status_code == 404

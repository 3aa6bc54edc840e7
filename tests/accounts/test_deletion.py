"""Deleting an account: gone for everyone at once, purged after the grace period, resumable,
remixes by others kept, the signed chains still verifying."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts import deletion
from apps.accounts import tasks as account_tasks
from apps.accounts.models import AccessToken, User
from apps.collections.models import Collection, CollectionItem
from apps.core import ledger
from apps.core.exceptions import ApplicationError
from apps.core.models import OutboxMessage
from apps.media.models import Asset
from apps.media.services import asset_make_variants
from apps.posts.models import Comment, Post, Reaction
from apps.social import services as social
from apps.social.models import Follow
from tests.conftest import client_for

PASSWORD = "correct horse battery 9"


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    """Ledger keys of this test's own, so provenance_verify checks what this test signed."""
    settings.LEDGER_KEYS_DIR = tmp_path / "keys"
    settings.LEDGER_SIGNING_KEY = ""
    ledger.reset_key_cache()
    yield
    ledger.reset_key_cache()


@pytest.fixture
def made(db):
    """``made(owner, prompt, remix_of=None)``: an asset as a finished generation leaves it, with
    its signed provenance record (as tests/provenance's fixture of the same name)."""
    from django.db import transaction

    from apps.generation.models import GenerationJob
    from apps.media.services import asset_create
    from apps.provenance.services import record_write
    from tests.conftest import png_bytes

    def make(owner, prompt, *, remix_of=None):
        params = {"quality": "draft", "width": 8, "height": 8, "count": 1}
        if remix_of is not None:
            params["remix_of"] = str(remix_of)
        with transaction.atomic():
            job = GenerationJob.objects.create(
                owner=owner,
                kind="image",
                op="generate",
                prompt=prompt,
                backend="procedural",
                seed=1,
                params=params,
                status="succeeded",
            )
            asset = asset_create(
                owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job
            )
            record_write(asset=asset, job=job)
        return asset

    return make


@pytest.fixture
def post_of(api):
    def publish(author, asset, **fields):
        response = api(author).post(
            "/api/v1/posts", {"asset_id": asset.id, "visibility": "public", **fields}, format="json"
        )
        assert response.status_code == 201, response.content
        return response.json()

    return publish


def delete_me(client, password=PASSWORD, **extra):
    return client.delete("/api/v1/me", {"password": password, **extra}, format="json")


def media_files(settings, asset: Asset) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [root / p for p in [asset.original, *asset.variants.values()] if p]


def grace_over(user: User) -> None:
    """The grace period ends now (as if ACCOUNT_DELETION_GRACE_DAYS had passed)."""
    User.objects.filter(pk=user.pk).update(
        deletion_purge_at=timezone.now() - dt.timedelta(seconds=1)
    )


@pytest.fixture
def world(alice, bob, publish, make_asset, api):
    """Alice with a post (media with variants), a comment and a reaction on bob's post, a follow
    each way; bob with a post."""
    bobs = publish(bob, caption="bob's harbour")
    alices = publish(alice, caption="alice's lighthouse #sea")
    asset = Asset.objects.get(id=alices["asset"]["id"])
    asset_make_variants(asset=asset)
    asset.refresh_from_db()
    alice_api = api(alice)
    comment = alice_api.post(
        f"/api/v1/posts/{bobs['id']}/comments", {"body": "lovely"}, format="json"
    )
    assert comment.status_code == 201
    assert (
        alice_api.post(
            f"/api/v1/posts/{bobs['id']}/reactions", {"kind": "love"}, format="json"
        ).status_code
        == 200
    )
    social.follow_create(follower=alice, followee=bob)
    social.follow_create(follower=bob, followee=alice)
    return {"alice_post": alices, "bob_post": bobs, "asset": asset, "comment": comment.json()}


def test_a_wrong_password_changes_nothing(alice, api, anon, world):
    client = api(alice)
    response = delete_me(client, password="not my password")
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid" and "password" in body["fields"]
    alice.refresh_from_db()
    assert alice.is_active and alice.deletion_requested_at is None
    assert client.get("/api/v1/me").status_code == 200
    assert anon.get("/api/v1/users/alice").status_code == 200
    assert anon.get(f"/api/v1/posts/{world['alice_post']['id']}").status_code == 200


def test_wrong_passwords_count_against_the_accounts_login_limit(alice, api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_account": "3/15m"}
    client = api(alice)
    codes = [delete_me(client, password=f"guess {i}").status_code for i in range(4)]
    assert codes == [400, 400, 400, 429]
    refused = delete_me(client)  # even the right one waits for the window
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    alice.refresh_from_db()
    assert alice.is_active


def test_the_account_and_everything_it_made_answer_404_at_once(
    alice, bob, api, anon, world, settings
):
    browser = Client()  # signed in on the log-in page: on the session list
    assert browser.post("/login", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert browser.get("/settings/data/delete").status_code == 200
    unlisted = Client()  # a session the session list never saw (made before it existed)
    unlisted.force_login(alice)
    token_client = api(alice)
    bob_api = api(bob)
    post_id = world["alice_post"]["id"]
    asset = world["asset"]
    assert anon.get(f"/media/assets/{asset.id}/original").status_code == 200
    bob_page = Client()
    bob_page.force_login(bob)
    notifications = bob_page.get("/notifications")
    assert notifications.status_code == 200 and "alice" in notifications.content.decode()
    assert "lovely" in bob_page.get(f"/p/{world['bob_post']['id']}").content.decode()
    assert bob_api.get("/api/v1/users/bob").json()["followers_count"] == 1

    before = timezone.now()
    response = delete_me(api(alice))
    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "pending"
    purge_at = dt.datetime.fromisoformat(answer["purge_at"].replace("Z", "+00:00"))
    assert before + dt.timedelta(days=7) <= purge_at <= timezone.now() + dt.timedelta(days=7)

    # Profile, post, media, feeds, comments, remixes list: gone for everyone.
    for client in (anon, bob_api):
        assert client.get("/api/v1/users/alice").status_code == 404
        assert client.get(f"/api/v1/posts/{post_id}").status_code == 404
        assert client.get("/api/v1/users/alice/posts").status_code == 404
        assert client.get(f"/api/v1/posts/{post_id}/remixes").status_code == 404
        public = client.get("/api/v1/feed/public").json()["items"]
        assert post_id not in {p["id"] for p in public}
        assert client.get("/api/v1/tags/sea/posts").json()["items"] == []
        comments = client.get(f"/api/v1/posts/{world['bob_post']['id']}/comments").json()
        assert comments["items"] == []
        media = client.get(f"/media/assets/{asset.id}/original")
        assert media.status_code == 404
        for variant in asset.variants:
            assert client.get(f"/media/assets/{asset.id}/{variant}").status_code == 404
    page = Client()
    assert page.get("/u/alice").status_code == 404
    assert page.get(f"/p/{post_id}").status_code == 404
    detail = bob_page.get(f"/p/{world['bob_post']['id']}").content.decode()
    assert "lovely" not in detail
    assert "alice" not in bob_page.get("/notifications").content.decode()
    assert bob_api.get("/api/v1/users/bob").json()["followers_count"] == 0
    notes = bob_api.get("/api/v1/notifications").json()["items"]
    assert all((n.get("actor") or {}).get("username") != "alice" for n in notes)

    # Her tokens and sessions end; the page that took her here logs her out.
    assert token_client.get("/api/v1/me").status_code == 401
    assert AccessToken.objects.filter(user=alice, revoked_at__isnull=True).count() == 0
    assert browser.get("/settings/data/delete").status_code == 302
    assert unlisted.get("/settings/data/delete").status_code == 302  # inactive: signed out

    def sessions_of_alice() -> list:
        return [
            s
            for s in Session.objects.all()
            if s.get_decoded().get("_auth_user_id") == str(alice.pk)
        ]

    assert len(sessions_of_alice()) == 1  # the unlisted one, until the scan right after
    assert OutboxMessage.objects.filter(
        task="apps.accounts.tasks.deletion_sessions_end", args=[alice.pk]
    ).exists()
    account_tasks.deletion_sessions_end(alice.pk)
    assert sessions_of_alice() == []
    # Open pages hear her posts are gone.
    assert OutboxMessage.objects.filter(
        task="apps.posts.tasks.fanout_post_deleted", args__0=int(post_id)
    ).exists()
    # The purge waits for the grace period.
    assert alice.pk not in deletion.deletions_due()
    assert deletion.account_purge(user_id=alice.pk) == {}
    assert Post.objects.filter(id=post_id).exists()
    assert all(f.exists() for f in media_files(settings, asset))


def test_unfinished_generations_stop(alice, api):
    from apps.generation.models import GenerationJob

    job = api(alice).post(
        "/api/v1/generations", {"kind": "image", "prompt": "a quiet harbour"}, format="json"
    )
    assert job.status_code == 202
    assert delete_me(api(alice)).status_code == 202
    assert GenerationJob.objects.get(id=job.json()["id"]).status == "canceled"


def test_open_pages_hear_the_comments_are_gone(
    alice, world, events, django_capture_on_commit_callbacks
):
    bob_post = world["bob_post"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        deletion.deletion_request(user=User.objects.get(pk=alice.pk), password=PASSWORD)
    assert events.to(f"post.{bob_post}") == [
        {
            "type": "comment.deleted",
            "stream": f"post:{bob_post}",
            "post_id": bob_post,
            "comment_id": world["comment"]["id"],
        }
    ]
    assert events.to(f"user.{alice.pk}") == [{"type": "vivid.close", "code": 4001}]


def test_the_settings_page_explains_and_deletes(alice, client):
    client.force_login(alice)
    page = client.get("/settings/data/delete").content.decode()
    assert 'data-testid="deletion-explained"' in page and "What stays" in page
    wrong = client.post("/settings/data/delete", {"password": "nope"})
    assert wrong.status_code == 400 and "Wrong password." in wrong.content.decode()
    alice.refresh_from_db()
    assert alice.is_active
    done = client.post("/settings/data/delete", {"password": PASSWORD})
    assert done.status_code == 200
    assert 'data-testid="deletion-pending"' in done.content.decode()
    alice.refresh_from_db()
    assert not alice.is_active and alice.deletion_purge_at is not None
    assert client.get("/settings/data/delete").status_code == 302  # logged out


def test_cancelling_within_the_grace_period_brings_everything_back(alice, api, anon, world):
    post_id = world["alice_post"]["id"]
    assert delete_me(api(alice)).status_code == 202
    assert anon.get(f"/api/v1/posts/{post_id}").status_code == 404

    back = deletion.deletion_cancel(user=User.objects.get(pk=alice.pk))
    assert back.is_active and back.deletion_requested_at is None and back.deletion_purge_at is None
    assert anon.get("/api/v1/users/alice").status_code == 200
    assert anon.get(f"/api/v1/posts/{post_id}").status_code == 200
    assert anon.get(f"/media/assets/{world['asset'].id}/original").status_code == 200
    assert Client().get("/u/alice").status_code == 200
    comments = anon.get(f"/api/v1/posts/{world['bob_post']['id']}/comments").json()["items"]
    assert [c["body"] for c in comments] == ["lovely"]
    assert api(alice).get("/api/v1/me").status_code == 200  # new tokens work
    # Nothing is due any more.
    grace_over(alice)
    assert deletion.account_purge(user_id=alice.pk) == {}
    assert Post.objects.filter(id=post_id).exists()


def test_a_suspended_accounts_cancellation_stays_refused(alice, api, make_user, bob):
    from apps.moderation import actions, cases
    from apps.moderation.models import Case
    from apps.moderation.roles import role_set

    moderator = make_user("mod")
    role_set(user=moderator, role="moderator")
    cases.report_create(reporter=bob, target_type="user", target_id=str(alice.pk), reason="spam")
    case = Case.objects.get(target_type="user", target_id=alice.pk, status="open")
    actions.action_take(moderator=moderator, case_id=case.id, action="suspend", reason_code="spam")

    deletion.deletion_request(user=User.objects.get(pk=alice.pk), password=PASSWORD)
    with pytest.raises(ApplicationError) as refused:
        deletion.deletion_cancel(user=User.objects.get(pk=alice.pk))
    assert refused.value.code == "forbidden"
    alice.refresh_from_db()
    assert not alice.is_active and alice.deletion_requested_at is not None
    assert Client().get("/u/alice").status_code == 404


def test_the_purge_removes_rows_and_files_and_keeps_a_pseudonymous_row(
    alice, bob, api, world, settings
):
    asset = world["asset"]
    files = media_files(settings, asset)
    assert len(files) >= 3 and all(f.exists() for f in files)
    bob_post = world["bob_post"]["id"]
    assert Post.objects.get(id=bob_post).love_count == 1
    mine = Collection.objects.create(owner=alice, name="skies")
    CollectionItem.objects.create(collection=mine, post_id=bob_post, position=1)
    his = Collection.objects.create(owner=bob, name="friends")
    CollectionItem.objects.create(collection=his, post_id=world["alice_post"]["id"], position=1)
    assert delete_me(api(alice)).status_code == 202

    grace_over(alice)
    assert deletion.deletions_due() == [alice.pk]
    counts = account_tasks.account_purge(alice.pk)  # the task, run in place
    assert counts["posts"] == 1 and counts["assets"] == 1

    assert not Post.objects.filter(author=alice).exists()
    assert not Asset.objects.filter(id=asset.id).exists()
    assert not any(f.exists() for f in files)
    assert not Comment.objects.filter(author=alice).exists()
    assert not Reaction.objects.filter(user=alice).exists()
    assert not Follow.objects.filter(follower=alice).exists()
    assert not Follow.objects.filter(followee=alice).exists()
    assert not AccessToken.objects.filter(user=alice).exists()
    assert not alice.notifications.exists()
    counted = Post.objects.get(id=bob_post)
    assert counted.love_count == 0 and counted.comments_count == 0

    assert not Collection.objects.filter(owner=alice).exists()
    assert not CollectionItem.objects.filter(post_id=world["alice_post"]["id"]).exists()
    assert Collection.objects.filter(owner=bob).exists()  # bob's keeps his own things
    gone = User.objects.get(pk=alice.pk)
    assert gone.username == f"deleted-{alice.pk}" and gone.email == ""
    assert gone.display_name == "" and gone.bio == "" and gone.links == []
    assert not gone.has_usable_password() and not gone.is_active
    assert gone.deleted_at is not None
    # Nobody can take the name's place in the chains, and the purge is done.
    assert deletion.deletions_due() == []
    assert account_tasks.account_purge(alice.pk) == {}
    assert api(bob).get("/api/v1/users/alice").status_code == 404


def test_a_purge_interrupted_halfway_completes_when_run_again(
    alice, api, publish, settings, monkeypatch
):
    for i in range(4):
        publish(alice, caption=f"picture {i}")
    assets = list(Asset.objects.filter(owner=alice))
    files = [f for a in assets for f in media_files(settings, a)]
    assert all(f.exists() for f in files)
    assert delete_me(api(alice)).status_code == 202
    grace_over(alice)
    settings.ACCOUNT_DELETION_BATCH = 1

    real = deletion._files_delete
    calls = {"n": 0}

    def dies_on_the_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(deletion, "_files_delete", dies_on_the_third)
    with pytest.raises(RuntimeError):
        deletion.account_purge(user_id=alice.pk)
    left = Asset.objects.filter(owner=alice).count()
    assert 0 < left < len(assets)
    assert User.objects.get(pk=alice.pk).deleted_at is None
    assert deletion.deletions_due() == [alice.pk]

    deletion.account_purge(user_id=alice.pk)  # the next beat's run
    assert not Asset.objects.filter(owner=alice).exists()
    assert not Post.objects.filter(author=alice).exists()
    assert not any(f.exists() for f in files)
    assert User.objects.get(pk=alice.pk).deleted_at is not None


def test_others_remixes_keep_working_and_say_original_deleted(
    alice, bob, api, anon, made, post_of, settings
):
    original = post_of(alice, made(alice, "a red lighthouse"))
    remix_asset = made(bob, "a blue lighthouse", remix_of=original["id"])
    remix = post_of(bob, remix_asset, remix_of=int(original["id"]))
    assert anon.get(f"/api/v1/posts/{remix['id']}").json()["remix_of"] == original["id"]
    assert delete_me(api(alice)).status_code == 202

    def check() -> None:
        shown = anon.get(f"/api/v1/posts/{remix['id']}")
        assert shown.status_code == 200
        assert shown.json()["remix_of"] is None and shown.json()["remix_of_deleted"] is True
        feed = anon.get("/api/v1/users/bob/posts").json()["items"]
        assert feed[0]["remix_of_deleted"] is True and feed[0]["remix_of"] is None
        page = Client().get(f"/p/{remix['id']}").content.decode()
        assert 'data-testid="remix-of-deleted"' in page and "original deleted" in page
        assert "alice" not in page
        lineage = anon.get(f"/api/v1/provenance/{remix['provenance_id']}/lineage").json()
        parents = [n for n in lineage["nodes"] if n["relation"] == "ancestor"]
        assert len(parents) == 1 and parents[0]["hidden"] is True
        assert anon.get(f"/api/v1/posts/{original['id']}").status_code == 404

    check()
    grace_over(alice)
    deletion.account_purge(user_id=alice.pk)
    check()
    # The original's files are gone; its row stays empty for the chains and the remix's link.
    kept = Asset.objects.get(id=original["asset"]["id"])
    assert kept.original == "" and kept.variants == {} and kept.removed_at is not None
    assert Post.objects.get(id=original["id"]).caption == ""
    from django.db import connection

    if connection.vendor == "postgresql":  # its text left the search storage with it
        from apps.search.models import PostSearch

        assert not PostSearch.objects.filter(post_id=original["id"]).exists()
        assert PostSearch.objects.filter(post_id=remix["id"]).exists()
    assert remix_asset.original and Path(settings.MEDIA_ROOT, remix_asset.original).exists()


def test_provenance_verify_passes_after_a_purge(alice, bob, api, made, post_of):
    post_of(alice, made(alice, "first"))
    made(alice, "second, kept in the library")
    client = api(alice)
    assert (
        client.put("/api/v1/me/consent/training", {"default_allowed": True}, format="json")
    ).status_code == 200
    post_of(bob, made(bob, "bob's own"))
    assert delete_me(client).status_code == 202
    grace_over(alice)
    deletion.account_purge(user_id=alice.pk)
    assert User.objects.get(pk=alice.pk).deleted_at is not None

    out = StringIO()
    call_command("provenance_verify", "--no-progress", stdout=out)
    assert "All chains intact" in out.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_deletion_closes_the_accounts_sockets(alice, bob):
    from apps.realtime.limits import CLOSE_AUTH
    from tests.realtime.sockets import closed_with, session_cookie, session_socket, token_socket

    token_ws = await token_socket(alice)
    session_ws = await session_socket(await session_cookie(alice))
    bob_ws = await token_socket(bob)
    await sync_to_async(deletion.deletion_request)(
        user=await sync_to_async(User.objects.get)(pk=alice.pk), password=PASSWORD
    )
    assert await closed_with(token_ws, timeout=5) == CLOSE_AUTH
    assert await closed_with(session_ws, timeout=5) == CLOSE_AUTH
    assert await bob_ws.receive_nothing(timeout=0.3)
    await bob_ws.disconnect()


def test_a_token_client_needs_the_write_scope(alice):
    read_only = client_for(alice, scopes=("read",))
    assert delete_me(read_only).status_code == 403
    alice.refresh_from_db()
    assert alice.is_active


def test_with_two_factor_on_the_code_is_needed_too(alice, api, client):
    from tests.accounts.helpers_auth import totp_code, totp_turn_on

    secret, _ = totp_turn_on(alice)
    token_client = api(alice)
    missing = delete_me(token_client)
    assert missing.status_code == 400 and "otp" in missing.json()["error"]["fields"]
    wrong = delete_me(token_client, otp="000000" if totp_code(secret) != "000000" else "111111")
    assert wrong.status_code == 400 and "otp" in wrong.json()["error"]["fields"]
    alice.refresh_from_db()
    assert alice.is_active

    client.force_login(alice)
    page = client.get("/settings/data/delete").content.decode()
    assert 'name="otp"' in page
    assert delete_me(token_client, otp=totp_code(secret)).status_code == 202
    alice.refresh_from_db()
    assert not alice.is_active

    # The purge takes the authenticators, email addresses and session list with it.
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator

    EmailAddress.objects.get_or_create(user=alice, email=alice.email)
    grace_over(alice)
    deletion.account_purge(user_id=alice.pk)
    assert not Authenticator.objects.filter(user=alice).exists()
    assert not EmailAddress.objects.filter(user=alice).exists()


def test_a_browser_session_deleting_through_the_api_is_logged_out(alice):
    from rest_framework.test import APIClient

    browser = APIClient()
    browser.force_login(alice)
    assert browser.get("/api/v1/me").status_code == 200
    assert delete_me(browser).status_code == 202
    assert browser.get("/api/v1/me").status_code in (401, 403)
    assert "_auth_user_id" not in browser.session

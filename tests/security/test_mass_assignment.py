"""Mass assignment: every create and patch endpoint, sent fields a client must never set
(author, owner, user, is_staff, is_superuser, is_active, counters, id, created_at,
provenance_id, status …). Each is ignored or refused with 400; none is ever applied."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import AccessToken, User
from apps.generation.models import GenerationJob
from apps.moderation.models import Report
from apps.posts.models import Comment, Post

pytestmark = pytest.mark.django_db

LONG_AGO = "2001-01-01T00:00:00Z"
FORCED_ID = "4242"
PRIVILEGE = {"is_staff": True, "is_superuser": True, "is_active": False}
OWNERSHIP = {"author": "{victim}", "owner": "{victim}", "user": "{victim}", "user_id": "{victim}"}
COUNTERS = {
    "remix_count": 999,
    "followers_count": 999,
    "following_count": 999,
    "posts_count": 999,
    "comments_count": 999,
    "reactions": {"like": 999},
    "reaction_counts": {"like": 999},
}
IDENTITY = {"id": FORCED_ID, "pk": FORCED_ID, "created_at": LONG_AGO, "provenance_id": FORCED_ID}
HOSTILE = {**PRIVILEGE, **OWNERSHIP, **COUNTERS, **IDENTITY}


def hostile(victim, **fields):
    body = {k: (str(victim.pk) if v == "{victim}" else v) for k, v in HOSTILE.items()}
    return {**body, **fields}


def _accepted_or_invalid(response):
    assert response.status_code in (200, 201, 202, 204, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid"
    return response


def _recent(moment) -> bool:
    return timezone.now() - moment < dt.timedelta(minutes=5)


def _users_unchanged(*users):
    for user in users:
        fresh = User.objects.get(pk=user.pk)
        assert (fresh.is_staff, fresh.is_superuser, fresh.is_active) == (False, False, True)


def test_signup(anon, make_user):
    victim = make_user("victim")
    body = hostile(
        victim, username="mallory", email="m@example.com", password="correct horse battery 9"
    )
    _accepted_or_invalid(anon.post("/api/v1/auth/signup", body, format="json"))
    mallory = User.objects.filter(username="mallory").first()
    if mallory is not None:
        assert str(mallory.pk) != FORCED_ID and _recent(mallory.date_joined)
        _users_unchanged(mallory)
    _users_unchanged(victim)


def test_site_signup_form(make_user):
    victim = make_user("victim")
    Client().post(
        "/signup",
        hostile(
            victim,
            username="mallory",
            email="m@example.com",
            password="correct horse battery 9",
            password1="correct horse battery 9",
            password2="correct horse battery 9",
        ),
    )
    _users_unchanged(victim, *User.objects.filter(username="mallory"))


def test_patch_me(api, make_user):
    mallory, victim = make_user("mallory"), make_user("victim")
    body = hostile(
        victim,
        username="admin",
        email="x@evil.example",
        date_joined=LONG_AGO,
        password="x",
        avatar=FORCED_ID,
        bio="fine",
    )
    _accepted_or_invalid(api(mallory).patch("/api/v1/me", body, format="json"))
    fresh = User.objects.get(pk=mallory.pk)
    assert (fresh.username, fresh.email) == ("mallory", "mallory@example.com")
    assert fresh.check_password("correct horse battery 9") and fresh.avatar_id is None
    assert _recent(fresh.date_joined)
    _users_unchanged(mallory, victim)
    profile = api(victim).get("/api/v1/users/mallory").json()
    assert profile["followers_count"] == profile["posts_count"] == 0


def test_site_profile_form(make_user):
    mallory, victim = make_user("mallory"), make_user("victim")
    browser = Client()
    browser.force_login(mallory)
    browser.post("/settings/profile", hostile(victim, display_name="M", username="admin"))
    browser.post("/settings/privacy", hostile(victim, sensitive_media="show"))
    assert User.objects.get(pk=mallory.pk).username == "mallory"
    _users_unchanged(mallory, victim)


def test_publish(api, make_user, make_asset):
    mallory, victim = make_user("mallory"), make_user("victim")
    asset = make_asset(mallory)
    body = hostile(
        victim,
        asset_id=asset.id,
        visibility="public",
        caption="mine",
        hashtags=["forced"],
        labels=[],
        cursor=FORCED_ID,
    )
    response = _accepted_or_invalid(api(mallory).post("/api/v1/posts", body, format="json"))
    for post in Post.objects.all():
        assert post.author_id == mallory.pk and str(post.pk) != FORCED_ID
        assert post.remix_count == 0 and post.comments_count == 0 and _recent(post.created_at)
    if response.status_code == 201:
        data = response.json()
        assert data["author"]["username"] == "mallory" and not any(data["reactions"].values())
        assert data["hashtags"] == [] and data["provenance_id"] != FORCED_ID
    _users_unchanged(mallory, victim)


def test_patch_post(api, make_user, publish):
    mallory, victim = make_user("mallory"), make_user("victim")
    post = publish(mallory, caption="original")
    body = hostile(victim, caption="changed", visibility="private", hide_prompt=True)
    _accepted_or_invalid(api(mallory).patch(f"/api/v1/posts/{post['id']}", body, format="json"))
    fresh = Post.objects.get(pk=post["id"])
    assert fresh.author_id == mallory.pk and fresh.remix_count == 0
    assert fresh.caption == "original" and fresh.visibility == "public"
    assert fresh.created_at.isoformat() != LONG_AGO


def test_comment(api, make_user, publish):
    mallory, victim = make_user("mallory"), make_user("victim")
    post = publish(victim)
    body = hostile(victim, body="hello", post=FORCED_ID, post_id=FORCED_ID)
    _accepted_or_invalid(
        api(mallory).post(f"/api/v1/posts/{post['id']}/comments", body, format="json")
    )
    for comment in Comment.objects.all():
        assert comment.author_id == mallory.pk and comment.post_id == int(post["id"])
        assert _recent(comment.created_at)


def test_reaction(api, make_user, publish):
    mallory, victim = make_user("mallory"), make_user("victim")
    post = publish(victim)
    body = hostile(victim, kind="like", count=999)
    response = api(mallory).post(f"/api/v1/posts/{post['id']}/reactions", body, format="json")
    _accepted_or_invalid(response)
    assert api(victim).get(f"/api/v1/posts/{post['id']}").json()["reactions"].get("like", 0) <= 1


def test_generation(api, make_user):
    mallory, victim = make_user("mallory"), make_user("victim")
    body = hostile(
        victim,
        kind="image",
        prompt="a field",
        quality="draft",
        status="succeeded",
        progress=1,
        backend_job_id="x",
    )
    _accepted_or_invalid(api(mallory).post("/api/v1/generations", body, format="json"))
    for job in GenerationJob.objects.all():
        assert job.owner_id == mallory.pk and job.status == "queued"
        assert str(job.pk) != FORCED_ID and _recent(job.created_at)


def test_token(anon, make_user):
    mallory, victim = make_user("mallory"), make_user("victim")
    body = hostile(
        victim,
        username="mallory",
        password="correct horse battery 9",
        key_hash="0" * 64,
        prefix="vvd_forged",
        revoked_at=None,
        last_used_at=LONG_AGO,
    )
    _accepted_or_invalid(anon.post("/api/v1/auth/tokens", body, format="json"))
    # The moderate scope is not something one grants oneself.
    moderate = anon.post(
        "/api/v1/auth/tokens",
        {"username": "mallory", "password": "correct horse battery 9", "scopes": ["moderate"]},
        format="json",
    )
    assert moderate.status_code == 403
    for token in AccessToken.objects.all():
        assert token.user_id == mallory.pk and token.key_hash != "0" * 64
        assert "moderate" not in token.scopes and token.last_used_at is None


def test_report_and_appeal(api, make_user, publish):
    mallory, victim = make_user("mallory"), make_user("victim")
    post = publish(victim)
    body = hostile(
        victim,
        target={"type": "post", "id": post["id"]},
        reason="spam",
        status="closed",
        reporter=str(victim.pk),
        outcome="removed",
    )
    _accepted_or_invalid(api(mallory).post("/api/v1/reports", body, format="json"))
    for report in Report.objects.all():
        assert report.reporter_id == mallory.pk
    assert Post.objects.get(pk=post["id"]).removed_at is None


def test_consent(api, make_user):
    from apps.consent.models import ConsentEvent, ConsentSettings

    mallory, victim = make_user("mallory"), make_user("victim")
    client = api(mallory)
    _accepted_or_invalid(
        client.put(
            "/api/v1/me/consent/training", hostile(victim, default_allowed=True), format="json"
        )
    )
    _accepted_or_invalid(
        client.put("/api/v1/me/consent/likeness", hostile(victim, policy="everyone"), format="json")
    )
    assert not ConsentEvent.objects.filter(user=victim).exists()
    assert not ConsentSettings.objects.filter(user=victim, training_default_allowed=True).exists()


def test_follow(api, make_user):
    mallory, victim, third = make_user("mallory"), make_user("victim"), make_user("third")
    body = hostile(victim, follower=str(victim.pk), followee=str(third.pk), state="following")
    _accepted_or_invalid(api(mallory).post("/api/v1/users/third/follow", body, format="json"))
    from apps.social.models import Follow

    assert not Follow.objects.filter(follower=victim).exists()

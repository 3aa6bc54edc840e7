"""The attack suite's world: a victim (alice) who owns one of everything that is addressed by
id, an attacker (bob) with a token and a logged-in browser session, and a snapshot of every row
the attacks aim at, so each case can assert that nothing changed."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.forms.models import model_to_dict
from django.test import Client, override_settings

from apps.accounts import services as account_services
from apps.consent import services as consent_services
from apps.generation.models import GenerationJob
from apps.generation.services import job_request
from apps.media.services import asset_create
from apps.moderation import actions, appeals, cases
from apps.moderation.models import Appeal, Case, Report
from apps.moderation.roles import role_set
from apps.notifications.services import notice_add
from apps.posts import services as post_services
from apps.provenance.services import record_write
from tests.conftest import client_for, png_bytes

MISSING_ID = 9_000_000_000_000_000  # no row has it (ids are time-sortable, far below)


# Values that differ per response whatever was asked: the masked CSRF token and the CSP nonce.
PER_RESPONSE = [
    (re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"'), b"csrf"),
    (re.compile(rb"nonce-[A-Za-z0-9+/=_-]+"), b"nonce-N"),
    (re.compile(rb'nonce="[^"]+"'), b'nonce="N"'),
    (re.compile(rb'name="csrf-token" content="[^"]+"'), b"csrf-meta"),
    (re.compile(rb'"X-CSRFToken": "[^"]+"'), b"csrf-header"),
]


def per_response_values_out(body: bytes) -> bytes:
    for pattern, stand_in in PER_RESPONSE:
        body = pattern.sub(stand_in, body)
    return body


@dataclass
class World:
    alice: Any
    bob: Any
    carol: Any
    moderator: Any
    media: Any
    ids: dict[str, str] = field(default_factory=dict)


def finished_job(owner, prompt="a quiet harbour at dusk", **extra) -> tuple[GenerationJob, Any]:
    """A succeeded generation with one asset and its signed record, unpublished (a draft)."""
    with transaction.atomic():
        job = GenerationJob.objects.create(
            owner=owner,
            kind="image",
            prompt=prompt,
            backend="procedural",
            seed=1,
            params={"quality": "draft", "width": 8, "height": 8, "count": 1},
            status="succeeded",
            **extra,
        )
        asset = asset_create(
            owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job
        )
        record_write(asset=asset, job=job)
    return job, asset


def session_client(user) -> Client:
    """A browser that logged in, with CSRF checks on as a real browser meets them."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


def person(username: str):
    return account_services.user_create(
        username=username, email=f"{username}@example.com", password="correct horse battery 9"
    )


def publish_via_api(author, visibility: str, caption: str, asset=None) -> dict:
    if asset is None:
        asset = asset_create(owner=author, data=png_bytes(), mime="image/png", width=8, height=8)
    response = client_for(author).post(
        "/api/v1/posts",
        {"asset_id": asset.id, "caption": caption, "visibility": visibility},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@contextmanager
def rolled_back(django_db_blocker, tmp_path_factory, name: str):
    """Data made once for a whole module, inside a transaction rolled back at its end; each test
    runs in a savepoint of it (pytest-django's own), so an attack that did change something
    could not leak into the next case. Yields the media directory the data's files are in."""
    media = tmp_path_factory.mktemp(f"{name}-media")
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=media,
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            RATE_LIMITS_KEY_PREFIX=f"{name}:{media.name}",
        ),
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield media
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    from apps.moderation import policy

    with rolled_back(django_db_blocker, tmp_path_factory, "world") as media:
        yield _build_world(media)
    policy.index_invalidate()  # the world's protected term is gone with it


@pytest.fixture(autouse=True)
def _module_media(request, settings) -> None:
    """Tests of a module with data made once read that data's media files."""
    for name in ("world", "stored"):
        if name in request.fixturenames:
            settings.MEDIA_ROOT = request.getfixturevalue(name).media


def _build_world(media) -> World:
    alice, bob, carol = person("alice"), person("bob"), person("carol")
    moderator = person("mod")
    role_set(user=moderator, role="moderator")
    w = World(alice=alice, bob=bob, carol=carol, moderator=moderator, media=media)

    queued = GenerationJob.objects.create(
        owner=alice, kind="image", prompt="a lighthouse", backend="procedural", seed=2, params={}
    )
    draft_job, draft_asset = finished_job(alice)
    token, _ = account_services.token_create(user=alice, scopes=["read"], name="alice's")
    private_post = publish_via_api(alice, "private", "mine only")
    public_post = publish_via_api(alice, "public", "for all")
    comment = post_services.comment_create(
        user=alice, post_id=int(public_post["id"]), body="alice's comment"
    )
    notification = notice_add(recipient=alice, text="About your post.")
    # A moderation case on alice's post (reported by carol), decided, and alice's appeal of it.
    removed_post = publish_via_api(alice, "public", "to be removed")
    cases.report_create(
        reporter=carol, target_type="post", target_id=removed_post["id"], reason="spam"
    )
    case = Case.objects.get(target_id=int(removed_post["id"]))
    actions.action_take(moderator=moderator, case_id=case.id, action="remove", reason_code="spam")
    appeal = appeals.appeal_create(author=alice, case_id=case.id, body="It was art.")
    # A report alice made, on carol's post, still open.
    carols = publish_via_api(carol, "public", "carol's")
    cases.report_create(reporter=alice, target_type="post", target_id=carols["id"], reason="spam")
    open_case = Case.objects.get(target_id=int(carols["id"]))
    # A consent record of alice's, and carol's draft that used alice's likeness under it.
    consent_services.training_default_set(user=alice, default_allowed=True)
    consent_services.likeness_consent_set(user=alice, policy="everyone")
    likeness_job = job_request(
        owner=carol, kind="image", prompt="a portrait", quality="draft", likeness=["alice"]
    )
    # A finished data export of alice's, and one of bob's whose signed link bob holds.
    from apps.accounts.export import export_link
    from apps.accounts.models import DataExport

    done = {"status": "succeeded", "progress": 1.0, "size": 22, "sha256": "0" * 64}
    export = DataExport.objects.create(user=alice, file_name="exports/alice.zip", **done)
    bobs_export = DataExport.objects.create(user=bob, file_name="exports/bob.zip", **done)
    bobs_sig = export_link(bobs_export).split("sig=")[1]
    # Alice's private collection holding her public post; bob's own collection; a protected
    # term and a policy hold (moderators' rows).
    from apps.collections import services as collection_services
    from apps.moderation import services as moderation_services

    collection = collection_services.collection_create(
        owner=alice, name="Secret", visibility="private"
    )
    collection_services.collection_post_add(
        user=alice, collection_id=collection.id, post_id=int(public_post["id"])
    )
    bobs_collection = collection_services.collection_create(owner=bob, name="Mine")
    term, _ = moderation_services.term_add(term="Forbidden Name", action="review")
    hold = moderation_services.hold_create(job=queued, terms=["forbidden name"])
    # An appeal link for alice's decision, signed with a key that is not the appeal links'.
    from django.core import signing

    forged = signing.dumps({"action": case.actions.first().id, "user": alice.pk}, salt="forged")
    w.ids = {
        "forged_appeal_link": forged,
        "collection": str(collection.id),
        "bobs_collection": str(bobs_collection.id),
        "term": str(term.id),
        "hold": str(hold.id),
        "export": str(export.id),
        "bobs_sig": bobs_sig,
        "queued_job": str(queued.id),
        "likeness_job": str(likeness_job.id),
        "draft_job": str(draft_job.id),
        "draft_asset": str(draft_asset.id),
        "provenance": str(draft_asset.provenance.id),
        "token": str(token.id),
        "private_post": private_post["id"],
        "public_post": public_post["id"],
        "public_asset": public_post["asset"]["id"],
        "comment": str(comment.id),
        "notification": str(notification.id),
        "case": str(case.id),
        "open_case": str(open_case.id),
        "appeal": str(appeal.id),
        "report": str(Report.objects.get(reporter=alice).id),
    }
    return w


def snapshot(w: World) -> dict[str, list[dict]]:
    """Every row an attack in this suite aims at, as plain values."""
    from apps.accounts.models import AccessToken, DataExport, User
    from apps.collections.models import Collection, CollectionItem
    from apps.consent.models import ConsentEvent, ConsentSettings, LikenessUse
    from apps.media.models import Asset
    from apps.moderation.models import PolicyHold, ProtectedTerm
    from apps.notifications.models import Notification
    from apps.posts.models import Comment, Post, Reaction
    from apps.social.models import Block, Follow

    models = [
        User,
        AccessToken,
        DataExport,
        GenerationJob,
        Asset,
        Post,
        Comment,
        Reaction,
        Notification,
        Case,
        Report,
        Appeal,
        ConsentEvent,
        ConsentSettings,
        LikenessUse,
        Follow,
        Block,
        Collection,
        CollectionItem,
        ProtectedTerm,
        PolicyHold,
    ]
    out = {}
    for model in models:
        rows = model.objects.order_by("pk")
        out[model.__name__] = [
            {k: v for k, v in model_to_dict(row).items() if k not in ("last_login", "last_used_at")}
            for row in rows
        ]
    return out


__all__ = [
    "MISSING_ID",
    "World",
    "client_for",
    "finished_job",
    "person",
    "publish_via_api",
    "rolled_back",
    "session_client",
    "snapshot",
]

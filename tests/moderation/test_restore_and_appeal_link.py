"""What an appeal's reversal gives back, and how a suspended person reaches the appeal at all.

- a suspension is emailed with a personal link that opens the appeal form without signing in
  (a suspended person's sessions and tokens are gone); the link names one decision and person;
- reversing the strike that set off a suspension lifts that suspension when too few strikes
  are left, and only then;
- a restored post comes back to open pages live (``post.created``), as a suspended person's
  recent posts do when the suspension is lifted.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async
from django.core import mail, signing
from django.test import Client

from apps.moderation import actions, appeals, cases
from apps.moderation.models import Appeal, Case, ModerationAction, Strike, Suspension
from apps.moderation.notices import suspension_email_send
from apps.moderation.roles import role_set
from apps.social import services as social
from tests.conftest import client_for
from tests.realtime.sockets import publish as socket_publish
from tests.realtime.sockets import subscribe, token_socket


@pytest.fixture
def mods(make_user):
    first, second = make_user("mod1"), make_user("mod2")
    for user in (first, second):
        role_set(user=user, role="moderator")
    return first, second


def decide(moderator, reporter, target_type, target_id, action, reason="spam") -> Case:
    cases.report_create(
        reporter=reporter, target_type=target_type, target_id=str(target_id), reason=reason
    )
    case = Case.objects.get(target_type=target_type, target_id=int(target_id), status="open")
    actions.action_take(moderator=moderator, case_id=case.id, action=action, reason_code=reason)
    return case


def reverse(moderator, author, case) -> None:
    appeal = Appeal.objects.create(
        action=appeals.appealable_action(case=case), case=case, author=author, body="please"
    )
    appeals.appeal_decide(moderator=moderator, appeal_id=appeal.id, decision="reversed")


# --- the emailed appeal link --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_suspended_person_appeals_from_the_emailed_link(
    alice, carol, mods, django_capture_on_commit_callbacks
):
    first, second = mods
    with django_capture_on_commit_callbacks(execute=False):
        case = decide(first, carol, "user", alice.pk, "suspend", reason="harassment")
    action = ModerationAction.objects.get(kind="suspend")
    assert suspension_email_send(action_id=action.id) is True
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert action.message in email.body
    link = re.search(r"https?://\S+(/appeal/\S+)", email.body).group(1)

    # Alice cannot sign in; the link alone opens her appeal form.
    assert not Client().login(username="alice", password="correct horse battery 9")
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert action.message in html and 'data-testid="appeal-form"' in html
    sent = visitor.post(link, {"body": "I was quoting them."})
    assert sent.status_code == 200 and "Your appeal is sent" in sent.content.decode()
    appeal = Appeal.objects.get()
    assert (appeal.author_id, appeal.case_id, appeal.body) == (
        alice.pk,
        case.id,
        "I was quoting them.",
    )
    # Once: the form is gone, and a second post changes nothing.
    assert 'data-testid="appeal-form"' not in visitor.get(link).content.decode()
    visitor.post(link, {"body": "again"})
    assert Appeal.objects.count() == 1

    appeals.appeal_decide(moderator=second, appeal_id=appeal.id, decision="reversed")
    alice.refresh_from_db()
    assert alice.is_active
    assert "undone" in visitor.get(link).content.decode()
    assert Client().login(username="alice", password="correct horse battery 9")


@pytest.mark.django_db
def test_a_forged_or_stale_link_opens_nothing(alice, bob, carol, mods):
    decide(mods[0], carol, "user", alice.pk, "suspend")
    action = ModerationAction.objects.get(kind="suspend")
    good = appeals.appeal_link_token(action=action)
    # Someone else's decision named in a token signed with another key, a tampered token, and a
    # token naming the decision but another person: all answer like a page that does not exist.
    forged = signing.dumps({"action": action.id, "user": bob.pk}, salt=appeals.APPEAL_LINK_SALT)
    for token in (good[:-2] + "xx", forged, signing.dumps({"action": action.id}, salt="other")):
        assert Client().get(f"/appeal/{token}").status_code == 404
        assert Client().post(f"/appeal/{token}", {"body": "x"}).status_code == 404
    assert Appeal.objects.count() == 0
    # Past the appeal window (plus a day of grace for the link itself): 404.
    signer = signing.TimestampSigner(salt=appeals.APPEAL_LINK_SALT)
    old = signer.sign_object({"action": action.id, "user": alice.pk})
    import time

    real = time.time
    try:
        time.time = lambda: real() + (actions.APPEAL_DAYS + 2) * 86400
        assert Client().get(f"/appeal/{old}").status_code == 404
    finally:
        time.time = real
    assert Client().get(f"/appeal/{old}").status_code == 200


@pytest.mark.django_db
def test_nobody_to_write_to(alice, carol, mods):
    alice.email = ""
    alice.save(update_fields=["email"])
    decide(mods[0], carol, "user", alice.pk, "suspend")
    assert suspension_email_send(action_id=ModerationAction.objects.get().id) is False
    assert mail.outbox == []


# --- strikes and the suspension they set off ----------------------------------------------------


@pytest.mark.django_db
def test_reversing_the_strike_that_suspended_lifts_the_suspension(
    alice, carol, mods, publish, settings
):
    settings.MODERATION_STRIKES_TO_SUSPEND = 2
    first, second = mods
    posts = [publish(alice, caption=f"p{i}") for i in range(3)]
    struck = [decide(first, carol, "post", p["id"], "strike", reason="ip") for p in posts[:2]]
    alice.refresh_from_db()
    assert not alice.is_active
    assert Suspension.objects.filter(user=alice, lifted_at__isnull=True).count() == 1

    reverse(second, alice, struck[1])
    alice.refresh_from_db()
    assert alice.is_active, "one strike left of two: the suspension it set off ends"
    assert Suspension.objects.get(user=alice).lifted_at is not None
    assert ModerationAction.objects.get(kind="suspend").reversed_at is not None
    assert client_for(carol).get(f"/api/v1/posts/{posts[0]['id']}").status_code == 200


@pytest.mark.django_db
def test_enough_strikes_left_keep_the_suspension(alice, carol, mods, publish, settings):
    settings.MODERATION_STRIKES_TO_SUSPEND = 2
    first, second = mods
    posts = [publish(alice, caption=f"p{i}") for i in range(3)]
    for p in posts:  # three cases open before the first decision
        cases.report_create(reporter=carol, target_type="post", target_id=p["id"], reason="ip")
    struck = list(Case.objects.filter(status="open").order_by("id"))
    for case in struck:
        actions.action_take(moderator=first, case_id=case.id, action="strike", reason_code="ip")
    assert Strike.objects.filter(user=alice, lifted_at__isnull=True).count() == 3
    reverse(second, alice, struck[0])
    alice.refresh_from_db()
    assert not alice.is_active, "two strikes left: still at the limit"


@pytest.mark.django_db
def test_a_suspension_decided_on_its_own_stays_when_a_strike_is_reversed(
    alice, carol, mods, publish
):
    first, second = mods
    post = publish(alice, caption="p")
    struck = decide(first, carol, "post", post["id"], "strike", reason="ip")
    decide(first, carol, "user", alice.pk, "suspend")
    reverse(second, alice, struck)
    alice.refresh_from_db()
    assert not alice.is_active


@pytest.mark.django_db
def test_an_account_being_deleted_stays_gone_when_its_suspension_ends(alice, carol, mods):
    from django.utils import timezone

    first, second = mods
    case = decide(first, carol, "user", alice.pk, "suspend")
    type(alice).objects.filter(pk=alice.pk).update(deletion_requested_at=timezone.now())
    reverse(second, alice, case)
    alice.refresh_from_db()
    assert not alice.is_active


# --- back on open pages ---------------------------------------------------------------------


async def created_ids(ws, want: int, timeout: float = 15) -> set[str]:
    got: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want:
        frame = await ws.receive_json_from(timeout=max(deadline - loop.time(), 0.1))
        if frame["type"] == "post.created":
            got.add(frame["post"]["id"])
    return got


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("action", ["remove", "suspend"])
async def test_what_a_reversal_restores_comes_back_to_open_pages(
    action, celery_worker, make_user, alice, bob, carol
):
    first = await sync_to_async(make_user)("mod1")
    second = await sync_to_async(make_user)("mod2")
    for moderator in (first, second):
        await sync_to_async(role_set)(user=moderator, role="moderator")
    await sync_to_async(social.follow_create)(follower=bob, followee=alice)
    post = await socket_publish(alice)
    follower = await token_socket(bob)
    await subscribe(follower, "home")
    await asyncio.sleep(0.3)  # presence of the new socket is recorded

    target = ("user", alice.pk) if action == "suspend" else ("post", post.id)
    case = await sync_to_async(decide)(first, carol, *target, action)
    deadline = asyncio.get_running_loop().time() + 15
    while True:  # the post leaves the page first
        frame = await follower.receive_json_from(
            timeout=deadline - asyncio.get_running_loop().time()
        )
        if frame["type"] == "post.deleted" and frame["post_id"] == str(post.id):
            break
    await sync_to_async(reverse)(second, alice, case)
    assert await created_ids(follower, 1) == {str(post.id)}
    await follower.disconnect()

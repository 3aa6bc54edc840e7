"""Taking consent back: a withdrawn consent takes down every published post that relied on it
(feeds, pages, API, media URLs, open sockets) and flags it; a removed use also takes the draft
out of the other person's Library; a job whose consent lapsed while queued fails."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.consent.models import ConsentEvent, ConsentFlag, LikenessUse
from apps.generation.models import GenerationJob
from apps.notifications.models import Notification
from apps.realtime import groups
from apps.social import services as social
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def ids(response, viewer=None) -> set[str]:
    assert response.status_code == 200, (viewer, response.content)
    return {item["id"] for item in response.json()["items"]}


def seen_by(api, anon, viewer, post_id: str, author) -> dict[str, bool]:
    """Every read path of one post, for one viewer (None: a visitor)."""
    client = api(viewer) if viewer else anon
    page = Client()
    if viewer:
        page.force_login(viewer)
    out = {
        "api": client.get(f"/api/v1/posts/{post_id}").status_code == 200,
        "public_feed": post_id in ids(client.get("/api/v1/feed/public")),
        "profile": post_id in ids(client.get(f"/api/v1/users/{author.username}/posts"), viewer),
        "page": page.get(f"/p/{post_id}").status_code == 200,
    }
    if viewer:
        out["home_feed"] = post_id in ids(client.get("/api/v1/feed/home"))
    return out


def media_status(client, post) -> int:
    return client.get(post["asset"]["original_url"]).status_code


def test_withdrawing_consent_takes_down_every_post_that_relied_on_it(
    celery_worker,
    api,
    anon,
    alice,
    bob,
    carol,
    make_user,
    set_consent,
    draft,
    publish_asset,
    events,
    make_asset,
):
    dave = make_user("dave")
    set_consent(bob, "approved", approved=[alice, dave])
    social.follow_create(follower=carol, followee=alice)
    _, public_asset = draft(alice, bob)
    _, followers_asset = draft(alice, bob)
    public = publish_asset(alice, public_asset, "public")
    followers = publish_asset(alice, followers_asset, "followers")
    unrelated = publish_asset(alice, make_asset(alice), "public")
    _, dave_asset = draft(dave, bob)
    daves = publish_asset(dave, dave_asset, "public")

    assert all(seen_by(api, anon, carol, public["id"], alice).values())
    assert seen_by(api, anon, carol, followers["id"], alice)["home_feed"]
    assert media_status(anon, public) == 200
    assert media_status(api(carol), followers) == 200

    set_consent(bob, approved=[dave])  # bob no longer lets alice use his likeness

    # Gone at once, from every read path, for everyone (alice included), media too.
    for viewer in (None, carol, alice):
        assert not any(seen_by(api, anon, viewer, public["id"], alice).values()), viewer
        assert not any(seen_by(api, anon, viewer, followers["id"], alice).values()), viewer
    assert media_status(anon, public) == 404
    assert media_status(api(carol), public) == 404
    assert media_status(api(carol), followers) == 404
    # What did not rely on it stays.
    assert all(seen_by(api, anon, carol, unrelated["id"], alice).values())
    assert all(seen_by(api, anon, None, daves["id"], dave).values())

    unapprove = ConsentEvent.objects.get(user_id=bob.pk, kind="likeness_unapprove")
    flags = ConsentFlag.objects.filter(person=bob)
    assert {(str(f.post_id), f.reason, f.event_id) for f in flags} == {
        (public["id"], "likeness_consent_withdrawn", unapprove.id),
        (followers["id"], "likeness_consent_withdrawn", unapprove.id),
    }
    notice = Notification.objects.get(recipient=alice, kind="likeness_removed")
    assert notice.actor == bob and "2 posts" in notice.text

    # post.deleted goes out to every socket that could have shown them.
    def deleted(group: str) -> set[str]:
        return {e["post_id"] for e in events.to(group) if e["type"] == "post.deleted"}

    wait_for(lambda: public["id"] in deleted(groups.PUBLIC), timeout=20)
    wait_for(lambda: public["id"] in deleted(groups.post_group(int(public["id"]))), timeout=20)
    wait_for(
        lambda: followers["id"] in deleted(groups.post_group(int(followers["id"]))), timeout=20
    )
    assert followers["id"] not in deleted(groups.PUBLIC)
    assert unrelated["id"] not in deleted(groups.PUBLIC) | deleted(groups.post_group(0))

    # The draft stays in alice's Library, but cannot go out again while consent is withheld.
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": public_asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 422 and "@bob" in response.json()["error"]["message"]


def test_narrowing_the_policy_takes_down_only_those_it_no_longer_covers(
    celery_worker, api, anon, alice, bob, carol, set_consent, draft, publish_asset
):
    set_consent(bob, "everyone")
    social.follow_create(follower=carol, followee=bob)
    alices = publish_asset(alice, draft(alice, bob)[1])
    carols = publish_asset(carol, draft(carol, bob)[1])
    set_consent(bob, "followers")
    assert anon.get(f"/api/v1/posts/{alices['id']}").status_code == 404
    assert anon.get(f"/api/v1/posts/{carols['id']}").status_code == 200
    set_consent(bob, "everyone")  # given back: what was taken down stays down
    assert anon.get(f"/api/v1/posts/{alices['id']}").status_code == 404
    assert ConsentFlag.objects.filter(person=bob).count() == 1


def test_removing_a_use_takes_the_draft_out_of_the_other_library(
    celery_worker, api, alice, bob, carol, set_consent, draft, publish_asset, events
):
    set_consent(bob, "everyone")
    kept_job, _ = draft(alice, bob)
    job, asset = draft(alice, bob)
    post = publish_asset(alice, asset, "public")
    other_job, _ = draft(carol, bob)
    library = {j["id"] for j in api(alice).get("/api/v1/generations").json()["items"]}
    assert {str(job.id), str(kept_job.id)} <= library
    original = api(alice).get(f"/api/v1/generations/{job.id}").json()["assets"][0]["original_url"]
    assert api(alice).get(original).status_code == 200

    assert api(bob).delete(f"/api/v1/me/consent/likeness/uses/{job.id}").status_code == 204

    library = {j["id"] for j in api(alice).get("/api/v1/generations").json()["items"]}
    assert str(job.id) not in library and str(kept_job.id) in library
    assert api(alice).get(f"/api/v1/generations/{job.id}").status_code == 404
    assert api(alice).get(original).status_code == 404
    assert api(alice).get(f"/api/v1/posts/{post['id']}").status_code == 404
    page = Client()
    page.force_login(alice)
    assert str(job.id) not in page.get("/library").content.decode()
    # Neither published again nor edited.
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 404
    notice = Notification.objects.get(recipient=alice, kind="likeness_removed")
    assert notice.actor == bob
    assert ConsentFlag.objects.get(person=bob).reason == "likeness_use_removed"
    wait_for(
        lambda: any(
            e["type"] == "post.deleted" for e in events.to(groups.post_group(int(post["id"])))
        ),
        timeout=20,
    )

    listed = api(bob).get("/api/v1/me/consent/likeness/uses").json()["items"]
    uses = {u["job_id"]: u for u in listed}
    assert uses[str(job.id)]["status"] == "removed" and uses[str(job.id)]["published"] is False
    assert uses[str(kept_job.id)]["status"] == "active"
    event = ConsentEvent.objects.get(user_id=bob.pk, kind="likeness_use_removed")
    assert event.scope == f"job:{job.id}"

    # Again: nothing more happens. Someone else's job, or one that never named bob: 404.
    assert api(bob).delete(f"/api/v1/me/consent/likeness/uses/{job.id}").status_code == 204
    assert ConsentEvent.objects.filter(kind="likeness_use_removed").count() == 1
    assert api(carol).delete(f"/api/v1/me/consent/likeness/uses/{job.id}").status_code == 404
    assert api(bob).delete("/api/v1/me/consent/likeness/uses/12345").status_code == 404
    assert LikenessUse.objects.get(job=other_job).status == "active"


def test_consent_withdrawn_while_queued_fails_the_job(request, api, alice, bob, set_consent):
    set_consent(bob, "approved", approved=[alice])
    response = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "@bob at the beach", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202
    job_id = response.json()["id"]
    set_consent(bob, approved=[])  # while the job waits for a worker

    request.getfixturevalue("celery_worker")  # a worker starts (and clears the queue)
    from apps.generation.tasks import run_generation

    run_generation.delay(int(job_id))

    def finished():
        job = GenerationJob.objects.get(id=job_id)
        return job if job.is_finished else None

    job = wait_for(finished, timeout=60)
    assert job.status == "failed"
    assert job.error.startswith("consent_required") and "@bob" in job.error
    assert not job.assets.exists()
    body = api(alice).get(f"/api/v1/generations/{job_id}").json()
    assert body["status"] == "failed" and "consent_required" in body["error"]


def test_a_job_with_consent_runs(celery_worker, api, alice, bob, set_consent):
    set_consent(bob, "everyone")
    response = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "@bob at the beach", "quality": "draft"},
        format="json",
    )

    def finished():
        job = GenerationJob.objects.get(id=response.json()["id"])
        return job if job.is_finished else None

    job = wait_for(finished, timeout=60)
    assert job.status == "succeeded", job.error
    assert LikenessUse.objects.get(job=job).status == "active"


def test_a_block_ends_the_consent_and_takes_the_posts_down(
    celery_worker, api, anon, alice, bob, carol, set_consent, draft, publish_asset
):
    set_consent(bob, "everyone")
    alices = publish_asset(alice, draft(alice, bob)[1])
    carols = publish_asset(carol, draft(carol, bob)[1])
    social.block_create(blocker=bob, blocked=alice)
    assert anon.get(f"/api/v1/posts/{alices['id']}").status_code == 404
    assert anon.get(f"/api/v1/posts/{carols['id']}").status_code == 200
    flag = ConsentFlag.objects.get(person=bob)
    assert (str(flag.post_id), flag.reason, flag.event_id) == (
        alices["id"],
        "likeness_consent_withdrawn",
        None,
    )


def test_moderation_reads_the_flags_and_the_consent_state(
    alice, bob, set_consent, draft, publish_asset
):
    from apps.consent.selectors import consent_flags_open, likeness_state_for_post
    from apps.posts.models import Post

    set_consent(bob, "everyone")
    post = Post.objects.get(id=publish_asset(alice, draft(alice, bob)[1])["id"])
    state = likeness_state_for_post(post=post)
    assert [(s["person"], s["use_status"], s["allowed_now"]) for s in state] == [
        ("bob", "active", True)
    ]
    assert not consent_flags_open().exists()
    set_consent(bob, "nobody")
    assert [(f.post_id, f.person) for f in consent_flags_open()] == [(post.id, bob)]
    assert likeness_state_for_post(post=post)[0]["allowed_now"] is False

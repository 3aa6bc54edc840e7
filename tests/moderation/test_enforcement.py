"""Protected names at request, run and publish: refused (422) or held until a moderator clears."""

import pytest

from apps.generation.models import GenerationJob
from apps.moderation.models import PolicyHold
from tests.helpers import wait_for


def assert_policy_violation(response, field: str, term: str) -> None:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    assert term in error["message"]
    assert term in error["fields"][field][0]


@pytest.mark.django_db
def test_a_refused_term_answers_422_and_saves_nothing(api, alice, protect):
    protect("Sir Fictional Person")
    client = api(alice)
    before = client.get("/api/v1/generation/quota").json()

    response = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "portrait of sir FICTIONAL pérson, oil", "quality": "draft"},
        format="json",
    )
    assert_policy_violation(response, "prompt", "Sir Fictional Person")
    response = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a garden", "negative_prompt": "sir fictional person"},
        format="json",
    )
    assert_policy_violation(response, "negative_prompt", "Sir Fictional Person")

    assert not GenerationJob.objects.filter(owner=alice).exists()
    assert client.get("/api/v1/generation/quota").json() == before
    assert client.get("/api/v1/generations").json()["items"] == []


@pytest.mark.django_db
def test_words_that_merely_contain_a_term_are_not_refused(api, alice, protect):
    protect("peg")
    response = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a pegboard in a workshop", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert not PolicyHold.objects.exists()


@pytest.mark.django_db
def test_an_extend_with_a_refused_prompt_is_refused_before_anything_is_queued(
    api, alice, protect, make_video_asset
):
    protect("Globex")
    clip = make_video_asset(alice, seconds=1)
    GenerationJob.objects.create(
        owner=alice,
        kind="video",
        prompt="clouds",
        backend="procedural",
        seed=1,
        params={"width": 320, "height": 180, "quality": "draft", "duration_s": 1},
        status="succeeded",
    )
    clip.job = GenerationJob.objects.get(owner=alice)
    clip.save(update_fields=["job"])
    client = api(alice)
    response = client.post(
        "/api/v1/edits",
        {"op": "extend", "assets": [clip.id], "duration_s": 1, "prompt": "the Globex tower"},
        format="json",
    )
    assert_policy_violation(response, "prompt", "Globex")
    assert GenerationJob.objects.filter(owner=alice).count() == 1
    assert client.get("/api/v1/generation/quota").json()["used_today"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_review_term_runs_but_is_held_from_publishing_until_cleared(
    celery_worker, api, alice, make_user, protect
):
    protect("Initech", "review")
    client = api(alice)
    response = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "the INITECH office at night", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = wait_for(
        lambda: GenerationJob.objects.filter(id=response.json()["id"], status="succeeded").first(),
        timeout=60,
    )
    asset = job.assets.get()
    hold = PolicyHold.objects.get(job=job)
    assert hold.terms == ["Initech"] and hold.cleared_at is None

    refused = client.post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "policy_violation"
    assert "held for review" in refused.json()["error"]["message"]
    assert client.get("/api/v1/feed/public").json()["items"] == []

    # An edit of the held result is held with it.
    upscale = client.post(
        "/api/v1/edits", {"op": "upscale", "assets": [asset.id], "quality": "draft"}, format="json"
    )
    edited = wait_for(
        lambda: GenerationJob.objects.filter(id=upscale.json()["id"], status="succeeded").first(),
        timeout=60,
    )
    edited_asset = edited.assets.get()
    again = client.post(
        "/api/v1/posts", {"asset_id": edited_asset.id, "visibility": "public"}, format="json"
    )
    assert again.status_code == 422

    from apps.moderation.roles import role_set
    from apps.moderation.services import hold_clear

    moderator = make_user("mod")
    role_set(user=moderator, role="moderator")
    hold_clear(hold_id=hold.id, moderator=moderator)

    published = client.post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert published.status_code == 201, published.content
    assert (
        client.post(
            "/api/v1/posts", {"asset_id": edited_asset.id, "visibility": "public"}, format="json"
        ).status_code
        == 201
    )


@pytest.mark.django_db
def test_publishing_checks_the_list_as_it_is_now(api, alice, make_user, make_asset, protect):
    """A term listed after the job ran still counts when its result is published."""
    job = GenerationJob.objects.create(
        owner=alice,
        kind="image",
        prompt="Acme rocket skates",
        backend="procedural",
        seed=1,
        params={"width": 8, "height": 8, "quality": "draft"},
        status="succeeded",
    )
    asset = make_asset(alice)
    asset.job = job
    asset.save(update_fields=["job"])
    client = api(alice)
    body = {"asset_id": asset.id, "visibility": "public"}

    protect("Acme Rocket", "refuse")
    response = client.post("/api/v1/posts", body, format="json")
    assert_policy_violation(response, "asset_id", "Acme Rocket")

    protect("Acme Rocket", "review")
    response = client.post("/api/v1/posts", body, format="json")
    assert response.status_code == 422 and "held for review" in response.json()["error"]["message"]
    assert PolicyHold.objects.get(job=job).terms == ["Acme Rocket"]

    # The Library says why it cannot be published, until a moderator clears it.
    from django.test import Client

    from apps.moderation.roles import role_set
    from apps.moderation.services import hold_clear

    site = Client()
    site.force_login(alice)
    assert 'data-role="held"' in site.get("/library").content.decode()
    mod = make_user("mod")
    role_set(user=mod, role="moderator")
    hold_clear(hold_id=PolicyHold.objects.get(job=job).id, moderator=mod)
    assert 'data-role="held"' not in site.get("/library").content.decode()
    assert client.post("/api/v1/posts", body, format="json").status_code == 201


@pytest.mark.django_db
def test_a_post_without_protected_terms_publishes(publish, alice, protect):
    protect("Globex")
    assert publish(alice)["id"]

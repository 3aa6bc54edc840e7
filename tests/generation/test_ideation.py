"""Ideation: a draft grid of up to 16 variations, a final of one of them, and "vary" around it."""

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image
from skimage.metrics import structural_similarity

from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_usage
from apps.generation.services import job_run
from apps.provenance.models import ProvenanceRecord
from apps.realtime import groups
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db

PROMPT = "golden hour mountains above a calm lake, drifting clouds"


def post(client, **fields):
    body = {"kind": "image", "prompt": PROMPT, **fields}
    return client.post("/api/v1/generations", body, format="json")


def run(client, capture, **fields) -> dict:
    """Ask for a job, run it as the worker would, answer the job as the API shows it."""
    with capture(execute=False):
        response = post(client, **fields)
    assert response.status_code == 202, response.content
    with capture(execute=True):
        job_run(job_id=int(response.json()["id"]))
    job = client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert job["status"] == "succeeded", job["error"]
    return job


def grey(asset: dict, size: int = 256) -> np.ndarray:
    from apps.media.models import Asset

    with default_storage.open(Asset.objects.get(id=asset["id"]).original, "rb") as f:
        image = Image.open(io.BytesIO(f.read())).convert("L")
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def similarity(a: dict, b: dict) -> float:
    return structural_similarity(grey(a), grey(b), data_range=255)


def parents_of(asset: dict) -> list[str]:
    return ProvenanceRecord.objects.get(asset_id=asset["id"]).parents


def record_of(asset: dict) -> str:
    return str(ProvenanceRecord.objects.get(asset_id=asset["id"]).id)


# --- the grid ----------------------------------------------------------------------------------


def test_a_grid_of_16_drafts_is_accepted_and_costs_16_drafts(
    api, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = post(api(alice), quality="draft", count=16, seed=100)
    assert response.status_code == 202
    assert response.json()["params"]["count"] == 16
    assert quota_usage(user_id=alice.pk)["used_today"] == 16


@pytest.mark.parametrize(
    "fields",
    [
        {"quality": "draft", "count": 17},
        {"quality": "final", "count": 5},  # finals come up to 4 at a time
        {"quality": "draft", "count": 0},
    ],
)
def test_grid_sizes_out_of_bounds_are_refused(api, alice, fields):
    error = assert_error(post(api(alice), **fields), 400, "invalid")
    assert "count" in error["fields"]
    assert not GenerationJob.objects.exists()
    assert quota_usage(user_id=alice.pk)["used_today"] == 0


def test_a_grid_beyond_the_daily_budget_is_refused(
    settings, api, alice, django_capture_on_commit_callbacks
):
    settings.GENERATION_DAILY_BUDGET = 20
    client = api(alice)
    with django_capture_on_commit_callbacks(execute=False):
        assert post(client, quality="draft", count=16).status_code == 202
    refused = post(client, quality="draft", count=16)
    assert_error(refused, 429, "quota_exceeded")
    assert int(refused["Retry-After"]) > 0
    assert GenerationJob.objects.filter(owner=alice).count() == 1
    assert quota_usage(user_id=alice.pk)["used_today"] == 16
    with django_capture_on_commit_callbacks(execute=False):  # 4 drafts still fit
        assert post(client, quality="draft", count=4).status_code == 202


def test_grid_images_are_stored_and_announced_one_by_one_with_their_seeds(
    api, alice, events, django_capture_on_commit_callbacks
):
    job = run(api(alice), django_capture_on_commit_callbacks, quality="draft", count=4, seed=500)

    assert [a["seed"] for a in job["assets"]] == [500, 501, 502, 503]
    assert all(a["variations"] == [] for a in job["assets"])
    assert all((a["width"], a["height"]) == (512, 512) for a in job["assets"])
    updates = [e["job"] for e in events.to(groups.user_group(alice.pk))]
    running = [len(u["assets"]) for u in updates if u["status"] == "running"]
    # Each draft reached the creator's page while the others were still rendering.
    for n in (1, 2, 3):
        assert n in running, running
    assert updates[-1]["status"] == "succeeded" and len(updates[-1]["assets"]) == 4
    assert quota_usage(user_id=alice.pk)["active_jobs"] == 0


def test_a_failed_grid_keeps_what_it_made_and_refunds_the_rest(
    api, alice, django_capture_on_commit_callbacks
):
    from apps.generation.services import _result_store, job_fail
    from apps.generation.services import request_for as request_of

    with django_capture_on_commit_callbacks(execute=False):
        response = post(api(alice), quality="draft", count=4, seed=9)
    job = GenerationJob.objects.get(id=response.json()["id"])
    GenerationJob.objects.filter(id=job.id).update(status="running")
    from apps.generation.backends.registry import backend_get

    first = next(backend_get("procedural").generate_each(request_of(job), lambda _f: None))
    with django_capture_on_commit_callbacks(execute=True):
        _result_store(job, first)
        job_fail(job_id=job.id, message="The painter fell over.")
    body = api(alice).get(f"/api/v1/generations/{job.id}").json()
    assert body["status"] == "failed" and [a["seed"] for a in body["assets"]] == [9]
    assert quota_usage(user_id=alice.pk)["used_today"] == 1  # the one draft delivered


def test_a_grid_run_again_goes_on_after_what_it_stored_and_a_canceled_one_pays_for_its_drafts(
    api, alice, django_capture_on_commit_callbacks
):
    from apps.generation.backends.registry import backend_get
    from apps.generation.services import _result_store, job_cancel
    from apps.generation.services import request_for as request_of

    client = api(alice)
    with django_capture_on_commit_callbacks(execute=False):
        first = post(client, quality="draft", count=4, seed=70).json()
        second = post(client, quality="draft", count=4, seed=80).json()
    for job_id in (first["id"], second["id"]):
        job = GenerationJob.objects.get(id=job_id)
        GenerationJob.objects.filter(id=job.id).update(status="running")
        two = list(backend_get("procedural").generate_each(request_of(job), lambda _f: None))[:2]
        with django_capture_on_commit_callbacks(execute=True):
            for f in two:  # the worker stored two drafts, then died
                _result_store(job, f)

    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=int(first["id"]))  # redelivered
    body = client.get(f"/api/v1/generations/{first['id']}").json()
    assert body["status"] == "succeeded"
    assert [a["seed"] for a in body["assets"]] == [70, 71, 72, 73]
    assert len({a["sha256"] for a in body["assets"]}) == 4

    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(owner=alice, job_id=int(second["id"]))
    body = client.get(f"/api/v1/generations/{second['id']}").json()
    assert body["status"] == "canceled" and [a["seed"] for a in body["assets"]] == [80, 81]
    assert quota_usage(user_id=alice.pk)["used_today"] == 4 + 2


# --- final of a draft ------------------------------------------------------------------------


def test_final_of_a_draft_is_the_same_picture_at_full_quality(
    api, alice, django_capture_on_commit_callbacks
):
    client = api(alice)
    grid = run(
        client,
        django_capture_on_commit_callbacks,
        quality="draft",
        count=3,
        seed=42,
        aspect_ratio="16:9",
    )
    draft = grid["assets"][2]
    final = run(
        client,
        django_capture_on_commit_callbacks,
        quality="final",
        variation_of=draft["id"],
        variation_strength=0,
    )

    assert final["seed"] == 44 and final["params"]["aspect_ratio"] == "16:9"
    assert final["params"]["quality"] == "final" and final["params"]["variation_of"] == draft["id"]
    [picture] = final["assets"]
    assert (picture["width"], picture["height"]) == (1024, 576)
    assert picture["seed"] == 44
    same = similarity(picture, draft)
    neighbour = similarity(grid["assets"][1], draft)
    assert same > 0.85 and same > neighbour + 0.2, (same, neighbour)
    # Its provenance descends from the draft it was made from.
    assert parents_of(picture) == [record_of(draft)]
    assert quota_usage(user_id=alice.pk)["used_today"] == 3 + 4


# --- vary ----------------------------------------------------------------------------------


def test_vary_makes_a_grid_of_nearby_pictures_around_the_chosen_one(
    api, alice, django_capture_on_commit_callbacks
):
    client = api(alice)
    grid = run(client, django_capture_on_commit_callbacks, quality="draft", count=2, seed=7)
    chosen, other = grid["assets"]
    varied = run(
        client,
        django_capture_on_commit_callbacks,
        quality="draft",
        count=3,
        variation_of=chosen["id"],
        variation_strength=0.4,
        seed=900,
    )

    assert varied["seed"] == 7  # the composition's seed
    assert [a["seed"] for a in varied["assets"]] == [7, 7, 7]
    assert [a["variations"] for a in varied["assets"]] == [
        [[900, 0.4]],
        [[901, 0.4]],
        [[902, 0.4]],
    ]
    apart = similarity(other, chosen)
    for picture in varied["assets"]:
        near = similarity(picture, chosen)
        # Closer to the chosen picture than another seed is, yet not the same picture.
        assert apart < near < 0.995, (apart, near)
        assert parents_of(picture) == [record_of(chosen)]
    first, second = varied["assets"][:2]
    assert grey(first).tobytes() != grey(second).tobytes()

    # A final of a variation is that variation, and varying it again stacks one more step.
    final = run(
        client,
        django_capture_on_commit_callbacks,
        quality="final",
        variation_of=second["id"],
        variation_strength=0,
    )
    assert final["assets"][0]["variations"] == [[901, 0.4]]
    assert similarity(final["assets"][0], second) > 0.85
    again = post(client, quality="draft", count=2, variation_of=second["id"], seed=5)
    assert again.status_code == 202
    assert again.json()["params"]["variations"] == [[901, 0.4]]
    assert again.json()["params"]["variation_strength"] == 0.5  # the default


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"variation_strength": 0.5}, "variation_strength"),  # without variation_of
        ({"variation_of": "mine", "variation_strength": 1.5}, "variation_strength"),
        ({"variation_of": "mine", "variation_strength": -0.1}, "variation_strength"),
        ({"variation_of": "mine", "variation_strength": "lots"}, "variation_strength"),
        ({"variation_of": "mine", "variation_strength": 0, "count": 2}, "count"),
        ({"variation_of": "mine", "variation_strength": 0, "seed": 3}, "seed"),
        ({"variation_of": "mine", "kind": "video", "duration_s": 2}, "variation_of"),
        ({"variation_of": "upload"}, "variation_of"),
        ({"variation_of": "not a number"}, "variation_of"),
    ],
)
def test_bad_variation_requests_are_refused_and_queue_nothing(
    api, alice, make_asset, django_capture_on_commit_callbacks, fields, bad_field
):
    client = api(alice)
    mine = run(client, django_capture_on_commit_callbacks, quality="draft", count=1, seed=1)
    names = {"mine": mine["assets"][0]["id"], "upload": str(make_asset(alice).id)}
    fields = {k: names.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    before = GenerationJob.objects.count()
    used = quota_usage(user_id=alice.pk)["used_today"]
    error = assert_error(post(client, quality="draft", **fields), 400, "invalid")
    assert bad_field in error["fields"]
    assert GenerationJob.objects.count() == before
    assert quota_usage(user_id=alice.pk)["used_today"] == used


def test_only_pictures_one_may_see_and_remix_can_be_varied(
    api, alice, bob, django_capture_on_commit_callbacks
):
    bobs = run(api(bob), django_capture_on_commit_callbacks, quality="draft", count=3, seed=3)
    private, remixable, closed = (a["id"] for a in bobs["assets"])
    for asset_id, allow in ((remixable, True), (closed, False)):
        published = api(bob).post(
            "/api/v1/posts",
            {"asset_id": asset_id, "visibility": "public", "allow_remix": allow},
            format="json",
        )
        assert published.status_code == 201, published.content

    client = api(alice)
    missing = post(client, quality="draft", count=2, variation_of=private)
    assert_error(missing, 404, "not_found")
    nowhere = post(client, quality="draft", count=2, variation_of=10**15)
    assert nowhere.json() == missing.json()  # hidden answers like absent
    assert_error(post(client, quality="draft", count=2, variation_of=closed), 403, "forbidden")
    assert not GenerationJob.objects.filter(owner=alice).exists()

    with django_capture_on_commit_callbacks(execute=False):
        allowed = post(client, quality="draft", count=2, variation_of=remixable)
    assert allowed.status_code == 202
    assert allowed.json()["seed"] == 4 and allowed.json()["params"]["variation_of"] == remixable

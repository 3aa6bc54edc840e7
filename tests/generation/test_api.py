import pytest

from apps.generation.models import GenerationJob
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def generate(client, **fields):
    body = {"kind": "image", "prompt": "golden hour over misty mountains", **fields}
    return client.post("/api/v1/generations", body, format="json")


def test_a_request_is_queued_not_run_in_the_request(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = generate(api(alice), seed=7)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["progress"] == 0 and job["assets"] == []
    assert job["seed"] == 7 and job["params"]["width"] == 1024 and job["params"]["height"] == 1024
    # The worker is handed the job only once the row is committed.
    assert callbacks, "nothing was scheduled after commit"


def test_backends_are_listed(api, alice):
    backends = api(alice).get("/api/v1/generation/backends").json()
    procedural = next(b for b in backends if b["id"] == "procedural")
    assert procedural["default"] is True
    assert "image" in procedural["kinds"]


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"count": 9}, "count"),
        ({"count": "many"}, "count"),
        ({"backend": "nope"}, "backend"),
        ({"aspect_ratio": "3:2"}, "aspect_ratio"),
        ({"kind": "audio"}, "kind"),
        ({"seed": -1}, "seed"),
        ({"quality": "ultra"}, "quality"),
    ],
)
def test_bad_requests_queue_nothing(api, alice, fields, bad_field):
    error = assert_error(generate(api(alice), **fields), 400, "invalid")
    assert bad_field in error["fields"]
    assert not GenerationJob.objects.exists()


def test_a_prompt_of_exactly_the_limit_is_accepted(api, alice):
    assert generate(api(alice), prompt="x" * 2000).status_code == 202


def test_idempotency_key_returns_the_first_job(api, alice):
    client = api(alice)
    first = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "sea"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="abc",
    )
    again = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "sea"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="abc",
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert GenerationJob.objects.count() == 1


def test_jobs_are_private_to_their_owner(api, alice, bob):
    job_id = generate(api(alice)).json()["id"]
    assert api(alice).get(f"/api/v1/generations/{job_id}").status_code == 200
    assert_error(api(bob).get(f"/api/v1/generations/{job_id}"), 404, "not_found")
    assert_error(api(bob).post(f"/api/v1/generations/{job_id}/cancel"), 404, "not_found")
    assert api(bob).get("/api/v1/generations").json()["items"] == []


def test_cancel_a_queued_job_then_cancel_again_conflicts(api, alice):
    client = api(alice)
    job_id = generate(client).json()["id"]
    assert client.post(f"/api/v1/generations/{job_id}/cancel").json()["status"] == "canceled"
    assert_error(client.post(f"/api/v1/generations/{job_id}/cancel"), 409, "conflict")


def test_library_lists_newest_first_and_filters_by_status(api, alice):
    client = api(alice)
    ids = [generate(client, prompt=f"scene {i}").json()["id"] for i in range(3)]
    client.post(f"/api/v1/generations/{ids[0]}/cancel")
    listed = client.get("/api/v1/generations?limit=2").json()
    assert [j["id"] for j in listed["items"]] == [ids[2], ids[1]]
    rest = client.get(f"/api/v1/generations?limit=2&cursor={listed['next_cursor']}").json()
    assert [j["id"] for j in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    canceled = client.get("/api/v1/generations?status=canceled").json()["items"]
    assert [j["id"] for j in canceled] == [ids[0]]
    assert_error(client.get("/api/v1/generations?status=bogus"), 400, "invalid")
    assert_error(client.get("/api/v1/generations?limit=101"), 400, "invalid")

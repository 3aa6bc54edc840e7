"""The generation task run by a real Celery worker against the real Redis broker."""

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.generation.models import GenerationJob
from apps.realtime import groups
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job_id):
    job = GenerationJob.objects.get(id=job_id)
    return job if job.is_finished else None


def test_worker_renders_the_image_and_reports_progress(celery_worker, api, alice, bob, events):
    response = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "sunset over the sea with islands", "seed": 42},
        format="json",
    )
    job = wait_for(lambda: finished(response.json()["id"]), timeout=60)

    assert job.status == "succeeded", job.error
    asset = job.assets.get()
    with default_storage.open(asset.original, "rb") as f, Image.open(f) as image:
        assert image.format == "PNG" and image.size == (1024, 1024)
    body = api(alice).get(f"/api/v1/generations/{job.id}").json()
    assert body["progress"] == 1.0 and body["assets"][0]["sha256"] == asset.sha256

    updates = [e["job"] for e in events.to(groups.user_group(alice.pk))]
    statuses = [u["status"] for u in updates]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    progress = [u["progress"] for u in updates if u["status"] == "running"]
    assert progress == sorted(progress)
    assert updates[-1]["assets"], "the final event carries the result"
    assert not events.to(groups.user_group(bob.pk)), "another user heard about alice's job"

    # Variants are made on the media queue by the same worker.
    wait_for(
        lambda: (
            set(type(asset).objects.get(id=asset.id).variants)
            == {"thumb", "thumb_avif", "preview", "preview_avif"}
        )
    )


def test_same_request_gives_the_same_image(celery_worker, api, alice):
    body = {"kind": "image", "prompt": "foggy forest at dawn", "seed": 9, "quality": "draft"}
    ids = [api(alice).post("/api/v1/generations", body, format="json").json()["id"] for _ in "ab"]
    jobs = [wait_for(lambda i=i: finished(i), timeout=60) for i in ids]
    assert [j.status for j in jobs] == ["succeeded", "succeeded"]
    # The pixels as generated (recorded in provenance) are the same; the stored files differ by
    # their content credentials, which name each job's own record.
    from apps.provenance.selectors import record_for_asset

    made = [record_for_asset(asset=j.assets.get()).asset_sha256 for j in jobs]
    assert made[0] == made[1]


def probe_output(job):
    from apps.media import video

    asset = job.assets.get()
    with default_storage.open(asset.original, "rb") as f:
        return video.probe(f.read())


def test_edits_run_in_the_worker(celery_worker, api, alice, make_video_asset):
    first = make_video_asset(alice, seconds=2, size=(320, 180))
    second = make_video_asset(alice, seconds=1, size=(640, 360))
    client = api(alice)
    requests = {
        "trim": {"op": "trim", "assets": [first.id], "start_s": 0.5, "end_s": 1.5},
        "stitch": {"op": "stitch", "assets": [first.id, second.id]},
        "upscale": {"op": "upscale", "assets": [first.id], "quality": "draft"},
    }
    ids = {}
    for name, body in requests.items():
        response = client.post("/api/v1/edits", body, format="json")
        assert response.status_code == 202, response.content
        ids[name] = response.json()["id"]
    jobs = {name: wait_for(lambda i=i: finished(i), timeout=90) for name, i in ids.items()}
    assert {name: job.status for name, job in jobs.items()} == dict.fromkeys(jobs, "succeeded")

    trim = probe_output(jobs["trim"])
    assert (trim.width, trim.height) == (320, 180)
    assert trim.duration_s == pytest.approx(1.0, abs=1 / 24)
    stitch = probe_output(jobs["stitch"])
    assert (stitch.width, stitch.height) == (320, 180)
    assert stitch.duration_s == pytest.approx(3.0, abs=2 / 24)
    upscale = probe_output(jobs["upscale"])
    assert (upscale.width, upscale.height) == (854, 480)
    assert upscale.codec == "h264" and upscale.pix_fmt == "yuv420p"
    # The edit's inputs are recorded as its parents.
    body = client.get(f"/api/v1/generations/{ids['stitch']}").json()
    assert body["inputs"] == [str(first.id), str(second.id)] and body["op"] == "stitch"


def test_extend_continues_a_generated_clip_without_a_jump(celery_worker, api, alice):
    from apps.media import video

    client = api(alice)
    body = {"kind": "video", "prompt": "clouds drifting over hills", "duration_s": 2, "seed": 5}
    source_id = client.post("/api/v1/generations", body, format="json").json()["id"]
    source = wait_for(lambda: finished(source_id), timeout=90)
    assert source.status == "succeeded", source.error
    clip = source.assets.get()

    response = client.post(
        "/api/v1/edits", {"op": "extend", "assets": [clip.id], "duration_s": 2}, format="json"
    )
    assert response.status_code == 202, response.content
    extended = wait_for(lambda: finished(response.json()["id"]), timeout=90)
    assert extended.status == "succeeded", extended.error

    info = probe_output(extended)
    assert (info.width, info.height) == (clip.width, clip.height)
    assert info.duration_s == pytest.approx(4.0, abs=1 / 24)
    with default_storage.open(clip.original, "rb") as f:
        before = [frame.astype("int16") for frame in video.decode(f.read())]
    with default_storage.open(extended.assets.get().original, "rb") as f:
        after = [frame.astype("int16") for frame in video.decode(f.read())]

    def change(a, b):
        return float(abs(a - b).mean())

    # The new clip starts as the old one and carries on from its last frame with no cut: the step
    # across the join is no bigger than the usual step between neighbouring frames.
    assert change(before[24], after[24]) < 1.5
    steps = [change(after[i], after[i + 1]) for i in range(len(after) - 1)]
    join = change(after[len(before) - 1], after[len(before)])
    assert join <= 2 * sorted(steps)[len(steps) // 2] + 1.0

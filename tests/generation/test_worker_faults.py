"""Jobs that never get lost: canceled mid-render, and a worker process killed mid-render."""

import os
import signal

import pytest
from django.core.files.storage import default_storage

from apps.generation import quotas, services
from apps.generation.models import GenerationJob
from apps.media import video
from tests.helpers import wait_for
from tests.processes import celery_worker_process, children_of

pytestmark = pytest.mark.django_db(transaction=True)


def job(job_id) -> GenerationJob:
    return GenerationJob.objects.get(id=job_id)


def rendering(job_id, at_least: float):
    current = job(job_id)
    return current if current.status == "running" and current.progress >= at_least else None


def request_video(api, user, seconds: int) -> str:
    response = api(user).post(
        "/api/v1/generations",
        {
            "kind": "video",
            "prompt": "waves rolling onto an island beach at sunset",
            "duration_s": seconds,
            "quality": "draft",
            "aspect_ratio": "16:9",
            "seed": 3,
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_cancel_while_running_stops_the_render_at_the_next_frame(celery_worker, api, alice):
    job_id = request_video(api, alice, seconds=20)
    wait_for(lambda: rendering(job_id, at_least=0.05), timeout=60)

    response = api(alice).post(f"/api/v1/generations/{job_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled"

    # The worker lets go of the job at its next frame, long before the 20 s clip would be done.
    wait_for(lambda: not services._job_lock(int(job_id)).locked(), timeout=5)
    canceled = job(job_id)
    assert canceled.status == "canceled" and canceled.progress < 0.9
    assert not canceled.assets.exists()
    assert quotas.quota_usage(user_id=alice.pk)["active_jobs"] == 0
    assert api(alice).get(f"/api/v1/generations/{job_id}").json()["assets"] == []


def test_a_job_whose_worker_is_killed_is_retried_and_ends_with_one_set_of_assets(api, alice):
    # A short lock lifetime lets the redelivered task claim the job soon after the kill.
    with celery_worker_process(queues=["generation"], GENERATION_LOCK_TTL_S="3") as worker:
        job_id = request_video(api, alice, seconds=6)
        wait_for(lambda: rendering(job_id, at_least=0.2), timeout=90)
        (pool_child,) = children_of(worker.pid)
        os.kill(pool_child, signal.SIGKILL)

        done = wait_for(lambda: (j := job(job_id)).is_finished and j, timeout=120, interval=0.5)

    assert done.status == "succeeded", done.error
    assert done.attempts == 2, "the killed attempt and the one that finished"
    (asset,) = done.assets.all()
    with default_storage.open(asset.original, "rb") as f:
        info = video.probe(f.read())
    assert (info.width, info.height) == (1280, 720)
    assert info.duration_s == pytest.approx(6.0, abs=1 / 24)
    assert quotas.quota_usage(user_id=alice.pk)["active_jobs"] == 0

"""The periodic reaper: stuck jobs fail with a reason, lost jobs are handed over again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.generation import services
from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(alice, django_capture_on_commit_callbacks):
    def make(**fields):
        with django_capture_on_commit_callbacks(execute=False):
            job = services.job_request(owner=alice, kind="image", prompt="misty lake")
        GenerationJob.objects.filter(id=job.id).update(**fields)
        job.refresh_from_db()
        return job

    return make


def test_a_job_running_past_its_limit_fails_with_a_reason_and_is_refunded(
    settings, queued, alice, django_capture_on_commit_callbacks
):
    settings.GENERATION_JOB_TIME_LIMIT_S = 60
    stuck = queued(status="running", started_at=timezone.now() - timedelta(minutes=5))
    fresh = queued(status="running", started_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        result = services.jobs_reap_stale()
    assert result["failed"] == 1
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == "failed" and "time limit" in stuck.error
    assert fresh.status == "running"
    assert quota_usage(user_id=alice.pk)["active_jobs"] == 1  # only the fresh one


def test_a_queued_job_the_broker_lost_is_enqueued_again(settings, queued, monkeypatch):
    settings.GENERATION_REQUEUE_AFTER_S = 60
    sent = []
    monkeypatch.setattr(services, "_enqueue", sent.append)
    lost = queued(enqueued_at=timezone.now() - timedelta(minutes=10))
    queued()  # just queued: the broker has it
    assert services.jobs_reap_stale()["requeued"] == 1
    assert sent == [lost.id]
    # Handed over again, it is not handed over a third time on the next run.
    assert services.jobs_reap_stale()["requeued"] == 0


def test_slots_held_by_finished_jobs_are_freed(queued, alice):
    job = queued()
    # A crash between the commit and the release leaves the slot taken.
    GenerationJob.objects.filter(id=job.id).update(status="succeeded")
    assert quota_usage(user_id=alice.pk)["active_jobs"] == 1
    assert services.jobs_reap_stale()["slots_freed"] >= 1
    assert quota_usage(user_id=alice.pk)["active_jobs"] == 0


def test_running_a_job_twice_is_safe(queued, alice, django_capture_on_commit_callbacks):
    job = queued()
    with django_capture_on_commit_callbacks(execute=True):
        services.job_run(job_id=job.id)
        services.job_run(job_id=job.id)  # a duplicate delivery after success
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1
    assert job.assets.count() == 1


def test_a_second_delivery_while_the_first_runs_waits(queued):
    job = queued()
    lock = services._job_lock(job.id)
    assert lock.acquire(blocking=False)
    try:
        with pytest.raises(services.JobBusy):
            services.job_run(job_id=job.id)
    finally:
        lock.release()
    job.refresh_from_db()
    assert job.status == "queued"

"""Quotas: concurrent jobs and a daily budget per creator, exact under concurrent requests."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_usage
from tests.accounts.test_api import assert_error
from tests.conftest import client_for

BODY = {"kind": "image", "prompt": "hills under snow", "quality": "final"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_active_limit(settings, alice):
    settings.GENERATION_MAX_ACTIVE_JOBS = 2
    client = client_for(alice)

    def post(_):
        try:
            return client.post("/api/v1/generations", BODY, format="json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 202] + [429] * 6
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert int(refused["Retry-After"]) > 0
    assert GenerationJob.objects.filter(owner=alice).count() == 2
    assert quota_usage(user_id=alice.pk)["active_jobs"] == 2


@pytest.mark.django_db
def test_daily_budget_refuses_until_midnight_and_failed_jobs_are_refunded(
    settings, api, alice, django_capture_on_commit_callbacks
):
    from apps.generation.services import job_cancel, job_fail

    settings.GENERATION_DAILY_BUDGET = 8  # two final images
    settings.GENERATION_MAX_ACTIVE_JOBS = 10
    client = api(alice)
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post("/api/v1/generations", BODY, format="json").json()
        second = client.post("/api/v1/generations", BODY, format="json").json()
    refused = client.post("/api/v1/generations", BODY, format="json")
    assert_error(refused, 429, "quota_exceeded")
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert quota_usage(user_id=alice.pk)["used_today"] == 8

    with django_capture_on_commit_callbacks(execute=True):
        job_fail(job_id=int(first["id"]), message="The provider was down.")
        job_cancel(owner=alice, job_id=int(second["id"]))  # canceled while queued
    assert quota_usage(user_id=alice.pk) | {} == {
        "active_jobs": 0,
        "max_active_jobs": 10,
        "used_today": 0,
        "daily_budget": 8,
    }
    assert client.post("/api/v1/generations", BODY, format="json").status_code == 202


@pytest.mark.django_db
def test_refused_and_repeated_requests_are_not_charged(api, alice):
    client = api(alice)
    client.post("/api/v1/generations", {**BODY, "prompt": ""}, format="json")
    for _ in range(3):
        client.post("/api/v1/generations", BODY, format="json", HTTP_IDEMPOTENCY_KEY="once")
    usage = client.get("/api/v1/generation/quota").json()
    assert usage["used_today"] == 4 and usage["active_jobs"] == 1

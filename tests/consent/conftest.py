"""Consent fixtures: people's choices set through the API, and drafts that depict someone."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.generation.models import GenerationJob
from apps.generation.quotas import quota_release
from apps.generation.services import job_request
from apps.media.services import asset_create
from tests.conftest import png_bytes


@pytest.fixture
def set_consent(api):
    """``set_consent(person, policy, approved=[...])`` through PUT /me/consent/likeness."""

    def do(person, policy=None, approved=None):
        body = {}
        if policy is not None:
            body["policy"] = policy
        if approved is not None:
            body["approved"] = [u.username for u in approved]
        response = api(person).put("/api/v1/me/consent/likeness", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return do


@pytest.fixture
def draft():
    """``draft(owner, *people)``: a finished generation in ``owner``'s Library that names
    ``people`` (requested through the service, so consent is checked), with one image."""

    def make(owner, *people, prompt="a portrait in the park"):
        with transaction.atomic():  # the worker, if one runs, finds the job already finished
            job = job_request(
                owner=owner,
                kind="image",
                prompt=prompt,
                quality="draft",
                likeness=[p.username for p in people],
            )
            asset = asset_create(
                owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job
            )
            GenerationJob.objects.filter(id=job.id).update(status="succeeded")
        quota_release(user_id=owner.pk, job_id=job.id)
        job.refresh_from_db()
        return job, asset

    return make


@pytest.fixture
def publish_asset(api):
    def do(author, asset, visibility="public", **extra):
        response = api(author).post(
            "/api/v1/posts",
            {"asset_id": asset.id, "visibility": visibility, **extra},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    return do

"""Fixtures for provenance: assets as a finished job leaves them, with their records."""

import pytest
from django.db import transaction

from apps.generation.models import GenerationJob, JobInput
from apps.media.services import asset_create
from apps.provenance.services import record_write
from tests.conftest import png_bytes


@pytest.fixture
def made(db):
    """``made(owner, prompt, **params)`` stores an asset the way the worker does (a finished
    job, the asset and its record in one transaction) and returns the asset.

    ``remix_of=post_id`` makes it a remix; ``op="upscale", inputs=[asset]`` an edit."""

    def make(
        owner,
        prompt="a quiet harbour at dusk",
        *,
        negative="",
        seed=1,
        op="generate",
        inputs=(),
        remix_of=None,
        backend="procedural",
        **params,
    ):
        params = {"quality": "draft", "width": 8, "height": 8, "count": 1, **params}
        if remix_of is not None:
            params["remix_of"] = str(remix_of)
        with transaction.atomic():
            job = GenerationJob.objects.create(
                owner=owner,
                kind="image",
                op=op,
                prompt=prompt,
                negative_prompt=negative,
                backend=backend if op == "generate" else "editor",
                seed=seed,
                params=params,
                status="succeeded",
            )
            for position, source in enumerate(inputs):
                JobInput.objects.create(job=job, asset=source, position=position)
            asset = asset_create(
                owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job
            )
            record_write(asset=asset, job=job)
        return asset

    return make


@pytest.fixture
def post_of(api):
    """``post_of(author, asset, **fields)`` publishes an asset through the API; the post JSON."""

    def publish(author, asset, visibility="public", **fields):
        response = api(author).post(
            "/api/v1/posts",
            {"asset_id": asset.id, "visibility": visibility, **fields},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    return publish

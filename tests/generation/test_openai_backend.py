"""The ``openai`` backend against a local stand-in that speaks OpenAI's HTTP API.

The real SDK makes real HTTP requests to a real server on 127.0.0.1 (never the real service): sizes
and durations come back exact, every failure mode becomes the right ``BackendError``, and through
the job system a refusal fails the job with a readable reason while saving nothing.
"""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

import apps.config.settings as settings_module
from apps.generation import services
from apps.generation.backends.base import (
    BackendError,
    GeneratedFile,
    GenerationCanceled,
    GenerationRequest,
)
from apps.generation.backends.openai import (
    API_VIDEO_SIZES,
    POLICY_MESSAGE,
    OpenAIBackend,
    nearest_size,
    provider_seconds,
)
from apps.generation.models import GenerationJob
from apps.media.video import probe
from tests.generation.openai_standin import OpenAIStandIn

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

KEY = "test-key"
BACKEND_PATH = "apps.generation.backends.openai.OpenAIBackend"


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


@pytest.fixture(scope="module")
def standin_server():
    """One stand-in per module (its encoded clips are cached), reset before every test."""
    with OpenAIStandIn(api_key=KEY) as server:
        assert _is_loopback(server.base_url)
        yield server


@pytest.fixture
def standin(standin_server, monkeypatch) -> OpenAIStandIn:
    standin_server.reset()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    # Nothing from the developer's shell may steer the SDK to the real service.
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    return standin_server


@pytest.fixture
def base_url(standin) -> str:
    return standin.base_url


@pytest.fixture
def backend(base_url):
    """``backend(**options)``: an OpenAIBackend pointed at the stand-in."""

    def make(**options) -> OpenAIBackend:
        options = {"timeout": 2, "poll_interval": 0.05, "max_wait_s": 1, **options}
        assert _is_loopback(options.get("base_url", base_url)), "tests never reach the real API"
        return OpenAIBackend("openai", base_url=base_url, **options)

    return make


class Progress:
    def __init__(self, cancel_above: float | None = None) -> None:
        self.values: list[float] = []
        self.cancel_above = cancel_above

    def __call__(self, fraction: float) -> None:
        self.values.append(fraction)
        if self.cancel_above is not None and fraction > self.cancel_above:
            raise GenerationCanceled


def image_request(**fields) -> GenerationRequest:
    return GenerationRequest(**{"kind": "image", "prompt": "a lighthouse at dusk", **fields})


def video_request(width=1280, height=720, duration_s=4, quality="draft", **fields):
    return GenerationRequest(
        kind="video",
        prompt="waves rolling onto a beach",
        width=width,
        height=height,
        duration_s=duration_s,
        quality=quality,
        **fields,
    )


# --- sizes and durations -------------------------------------------------------------------------

# Every image size Vivid asks for, and the provider size it is cut from (least cropping).
IMAGE_SIZES = {
    (1024, 1024): "1024x1024",
    (512, 512): "1024x1024",
    (1024, 576): "1536x1024",
    (512, 288): "1536x1024",
    (576, 1024): "1024x1536",
    (288, 512): "1024x1536",
    (816, 1024): "1024x1536",
    (408, 512): "1024x1536",
}


def test_the_table_covers_every_vivid_size():
    assert set(IMAGE_SIZES) == set(OpenAIBackend.sizes)
    assert set(OpenAIBackend.video_sizes) == {
        services.dimensions("video", ratio, quality)
        for ratio in services.ASPECT_RATIOS
        for quality in services.QUALITIES
    }


@pytest.mark.parametrize(("size", "asked"), IMAGE_SIZES.items(), ids=lambda v: str(v))
def test_images_come_back_at_exactly_the_requested_size(backend, standin, size, asked):
    width, height = size
    quality = "final" if max(size) == 1024 else "draft"
    files = backend().generate(
        image_request(width=width, height=height, quality=quality), Progress()
    )

    assert len(files) == 1
    f = files[0]
    assert (f.mime, f.width, f.height) == ("image/png", width, height)
    with Image.open(io.BytesIO(f.data)) as image:
        assert image.format == "PNG" and image.size == size and image.mode == "RGB"
    (call,) = standin.calls("POST", "/v1/images/generations")
    assert call["body"]["size"] == asked
    assert call["body"]["n"] == 1
    assert call["body"]["quality"] == {"draft": "low", "final": "high"}[quality]
    assert call["body"]["model"] == backend().image_model
    assert call["headers"]["authorization"] == f"Bearer {KEY}"
    assert f.extra["provider_size"] == asked and f.extra["model"] == call["body"]["model"]


def test_count_images_in_one_request_with_progress(backend, standin):
    progress = Progress()
    files = backend().generate(
        image_request(width=512, height=288, quality="draft", count=3, negative_prompt="people"),
        progress,
    )

    assert len(files) == 3 and all(isinstance(f, GeneratedFile) for f in files)
    assert len({f.data for f in files}) == 3, "three different images"
    for f in files:
        with Image.open(io.BytesIO(f.data)) as image:
            assert image.size == (512, 288)
    (call,) = standin.calls("POST")
    assert call["body"]["n"] == 3
    assert call["body"]["prompt"] == "a lighthouse at dusk\n\nAvoid: people"
    assert progress.values == sorted(progress.values)
    assert progress.values[0] == 0.0 and progress.values[-1] == 1.0


@pytest.mark.parametrize(
    ("duration", "seconds"), [(1, 4), (4, 4), (4.5, 8), (5, 8), (8, 8), (9, 12), (12, 12)]
)
def test_the_shortest_clip_that_covers_the_duration_is_asked_for(duration, seconds):
    assert provider_seconds(duration) == seconds


@pytest.mark.parametrize(
    ("size", "asked"),
    [
        ((1280, 720), (1280, 720)),
        ((1920, 1080), (1280, 720)),
        ((720, 1280), (720, 1280)),
        ((1080, 1920), (720, 1280)),
        ((720, 900), (720, 1280)),
        ((1080, 1350), (720, 1280)),
        ((720, 720), (1280, 720)),
        ((1080, 1080), (1280, 720)),
    ],
)
def test_videos_are_cut_from_the_nearest_provider_size(size, asked):
    assert nearest_size(API_VIDEO_SIZES, *size) == asked


@pytest.mark.parametrize(
    ("width", "height", "duration", "quality", "asked_size", "asked_seconds"),
    [
        (1280, 720, 4, "draft", "1280x720", "4"),  # as made: retimed to 24 fps only
        (720, 900, 5, "draft", "720x1280", "8"),  # cropped, and trimmed from 8 s
        (1080, 1080, 1, "final", "1280x720", "4"),  # upscaled, cropped, trimmed
    ],
)
def test_videos_come_back_at_exactly_the_requested_size_and_duration(
    backend, standin, width, height, duration, quality, asked_size, asked_seconds
):
    progress = Progress()
    files = backend(max_wait_s=15).generate(
        video_request(width, height, duration, quality), progress
    )

    (f,) = files
    assert (f.mime, f.width, f.height, f.duration_s) == ("video/mp4", width, height, duration)
    info = probe(f.data)
    assert (info.width, info.height, info.codec, info.pix_fmt) == (
        width,
        height,
        "h264",
        "yuv420p",
    )
    assert info.duration_s == pytest.approx(duration, abs=0.05)
    assert info.fps == 24 and info.frames == duration * 24
    (create,) = standin.calls("POST", "/v1/videos")
    assert create["headers"]["content-type"].startswith("multipart/form-data")
    assert create["body"]["size"] == asked_size and create["body"]["seconds"] == asked_seconds
    assert create["body"]["model"] == "sora-2"
    assert len(standin.calls("GET", "/v1/videos/")) >= 3, "polled, then downloaded"
    assert not standin.calls("DELETE"), "a finished video is not deleted"
    assert progress.values == sorted(progress.values) and progress.values[-1] == 1.0
    assert any(0.05 < p < 0.85 for p in progress.values), "progress while the provider renders"


# --- failures -----------------------------------------------------------------------------------

FAILURES = [
    ("rate_limit", True, "The provider is busy (rate limited); try again in a little while."),
    ("server_error", True, "The provider had a temporary problem (HTTP 500); try again in a"),
    ("moderation", False, POLICY_MESSAGE),
    ("content_policy", False, POLICY_MESSAGE),
    ("insufficient_quota", False, "The provider account behind this backend is out of credit."),
    ("bad_request", False, "The provider rejected this request (HTTP 400)."),
]


@pytest.mark.parametrize(("mode", "transient", "message"), FAILURES, ids=[m for m, *_ in FAILURES])
def test_image_failures_become_backend_errors(backend, standin, mode, transient, message):
    standin.mode = mode
    with pytest.raises(BackendError) as caught:
        backend().generate(image_request(width=512, height=512, quality="draft"), Progress())

    assert caught.value.transient is transient
    assert caught.value.message.startswith(message)
    assert "Error code" not in caught.value.message, "the SDK's text is not shown to creators"
    assert len(standin.calls("POST")) == 1, "Vivid's task retries, not the SDK"


@pytest.mark.parametrize(("mode", "transient", "message"), FAILURES[:3], ids=lambda v: str(v))
def test_video_create_failures_become_backend_errors(backend, standin, mode, transient, message):
    standin.mode = mode
    with pytest.raises(BackendError) as caught:
        backend().generate(video_request(), Progress())

    assert caught.value.transient is transient
    assert caught.value.message.startswith(message)
    assert not standin.videos, "no video was created"


def test_a_slow_provider_is_a_transient_timeout(backend, standin):
    standin.mode = "slow"
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        backend(timeout=1).generate(image_request(width=512, height=512), Progress())

    assert caught.value.transient is True
    assert (
        caught.value.message == "The provider did not answer in time; try again in a little while."
    )
    assert time.monotonic() - started < 3


def test_a_long_request_still_reports_progress_and_can_be_canceled(backend, standin):
    """One image request can take minutes: progress keeps coming (it renews the job's lock), and
    a cancel raised from it stops the wait at once."""
    standin.mode = "slow"
    progress = Progress(cancel_above=0.0)
    started = time.monotonic()
    with pytest.raises(GenerationCanceled):
        backend(timeout=5).generate(image_request(), progress)
    assert time.monotonic() - started < 2
    assert progress.values[0] == 0.0 and 0 < progress.values[-1] < 0.8


def test_an_unreachable_provider_is_transient(standin):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = OpenAIBackend("openai", base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(BackendError) as caught:
        gone.generate(image_request(), Progress())
    assert caught.value.transient is True
    assert "could not reach the provider" in caught.value.message


def test_a_video_that_never_finishes_fails_permanently_and_is_deleted(backend, standin):
    standin.mode = "never_finish"
    progress = Progress()
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        backend(max_wait_s=1).generate(video_request(), progress)

    assert caught.value.transient is False
    assert caught.value.message == "The provider's video did not finish in 1 s."
    assert 1 <= time.monotonic() - started < 3
    assert len(standin.calls("DELETE")) == 1
    assert not standin.calls("GET", "/v1/videos/" + next(iter(standin.videos)) + "/content")
    assert progress.values == sorted(progress.values) and progress.values[-1] < 0.9


def test_a_video_blocked_after_creation_is_a_policy_refusal(backend, standin):
    standin.mode = "video_blocked"
    with pytest.raises(BackendError) as caught:
        backend().generate(video_request(), Progress())
    assert (caught.value.transient, caught.value.message) == (False, POLICY_MESSAGE)
    assert len(standin.calls("DELETE")) == 1


def test_cancel_while_polling_propagates_and_deletes_the_remote_video(backend, standin):
    standin.polls_to_finish = 4
    try:
        with pytest.raises(GenerationCanceled):
            backend(max_wait_s=10).generate(video_request(), Progress(cancel_above=0.05))
    finally:
        standin.polls_to_finish = 2
    (video,) = standin.videos.values()
    assert video["deleted"] is True
    assert not standin.calls("GET", f"/v1/videos/{video['id']}/content")


def test_a_missing_key_fails_permanently_without_calling_out(backend, standin, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BackendError) as caught:
        backend().generate(image_request(), Progress())
    assert caught.value.transient is False
    assert (
        caught.value.message
        == "The openai backend is not set up on this server (it has no API key)."
    )
    assert not standin.requests


def test_a_wrong_key_fails_permanently_and_is_not_echoed(backend, standin, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-secret")
    with pytest.raises(BackendError) as caught:
        backend().generate(image_request(), Progress())
    assert caught.value.transient is False
    assert "credentials" in caught.value.message
    assert "wrong" not in caught.value.message and "***" not in caught.value.message


def test_the_key_can_come_from_another_variable(backend, standin, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("VIVID_OPENAI_KEY", KEY)
    files = backend(api_key_env="VIVID_OPENAI_KEY").generate(image_request(), Progress())
    assert len(files) == 1


def test_describe_does_not_leak_the_key_or_the_url(backend, base_url):
    described = backend().describe()
    text = json.dumps(described)
    assert KEY not in text and urlsplit(base_url).netloc not in text
    assert described["kinds"] == ["image", "video"] and described["max_duration_s"] == 12
    assert described["video_model"] == "sora-2" and described["image_model"]


def test_refusals_are_sentences(backend):
    b = backend()
    assert b.refusal("video", 1280, 720, 12) is None
    too_long = b.refusal("video", 1280, 720, 13)
    assert too_long and "videos of 1 to 12 s" in too_long and too_long.endswith(".")
    assert b.refusal("image", 300, 300, None) == "The openai backend cannot make 300x300 images."

    images_only = backend(video_model=None)
    assert images_only.kinds == ("image",) and images_only.video_sizes == ()
    assert images_only.refusal("video", 1280, 720, 4) == "The openai backend cannot make videos."
    with pytest.raises(BackendError, match="cannot make videos"):
        images_only.generate(video_request(), Progress())


def test_unknown_options_are_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="baseurl"):
        OpenAIBackend("openai", baseurl="http://127.0.0.1:1/v1")


def test_the_standin_wants_a_bearer_key(base_url):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base_url}/images/generations",
                data=b"{}",
                method="POST",
                headers={"Content-Type": "application/json"},
            ),
            timeout=2,
        )
    assert caught.value.code == 401
    error = json.loads(caught.value.read())["error"]
    assert set(error) == {"message", "type", "param", "code"}


# --- settings -----------------------------------------------------------------------------------


def _backends_with_env(monkeypatch, **env) -> dict:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("settings_probe", Path(settings_module.__file__))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GENERATION_BACKENDS


def test_settings_add_the_backend_only_with_a_key(monkeypatch):
    assert "openai" not in _backends_with_env(monkeypatch)

    backends = _backends_with_env(monkeypatch, OPENAI_API_KEY="sk-secret")
    assert backends["openai"] == {"BACKEND": BACKEND_PATH, "OPTIONS": {"base_url": None}}
    assert "sk-secret" not in json.dumps(backends)

    backends = _backends_with_env(
        monkeypatch, OPENAI_API_KEY="sk-secret", OPENAI_BASE_URL="http://127.0.0.1:9/v1"
    )
    assert backends["openai"]["OPTIONS"] == {"base_url": "http://127.0.0.1:9/v1"}


# --- through the job system ---------------------------------------------------------------------


@pytest.fixture
def openai_jobs(settings, base_url, events):
    """GENERATION_BACKENDS with openai pointed at the stand-in; socket sends are captured."""
    settings.GENERATION_BACKENDS = {
        **settings.GENERATION_BACKENDS,
        "openai": {
            "BACKEND": BACKEND_PATH,
            "OPTIONS": {
                "base_url": base_url,
                "timeout": 2,
                "poll_interval": 0.05,
                "max_wait_s": 15,
            },
        },
    }


def _request_job(user, captured, **fields) -> GenerationJob:
    with captured() as callbacks:
        job = services.job_request(owner=user, backend="openai", **fields)
    assert callbacks, "the worker task would be queued on commit (not run here)"
    return job


@pytest.mark.django_db
def test_a_job_succeeds_with_its_assets(
    openai_jobs, standin, make_user, django_capture_on_commit_callbacks
):
    user = make_user()
    job = _request_job(
        user,
        django_capture_on_commit_callbacks,
        kind="image",
        prompt="a red fox in snow",
        aspect_ratio="16:9",
        quality="draft",
        count=2,
    )
    services.job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    assets = list(job.assets.all())
    assert len(assets) == 2
    assert {(a.mime, a.width, a.height) for a in assets} == {("image/png", 512, 288)}
    assert standin.calls("POST")[0]["body"]["n"] == 2


@pytest.mark.django_db
def test_a_video_job_succeeds(openai_jobs, standin, make_user, django_capture_on_commit_callbacks):
    job = _request_job(
        make_user(),
        django_capture_on_commit_callbacks,
        kind="video",
        prompt="a paper boat on a river",
        aspect_ratio="16:9",
        quality="draft",
        duration_s=2,
    )
    services.job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    (asset,) = job.assets.all()
    assert (asset.mime, asset.width, asset.height, asset.duration_s) == ("video/mp4", 1280, 720, 2)


@pytest.mark.django_db
def test_a_refused_prompt_fails_the_job_and_saves_nothing(
    openai_jobs, standin, make_user, django_capture_on_commit_callbacks
):
    job = _request_job(
        make_user(), django_capture_on_commit_callbacks, kind="image", prompt="something refused"
    )
    standin.mode = "moderation"
    services.job_run(job_id=job.id)

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert job.error == POLICY_MESSAGE
    assert not job.assets.exists()


@pytest.mark.django_db
def test_a_transient_error_is_raised_for_the_task_to_retry(
    openai_jobs, standin, make_user, django_capture_on_commit_callbacks
):
    job = _request_job(
        make_user(), django_capture_on_commit_callbacks, kind="image", prompt="a quiet harbour"
    )
    standin.mode = "rate_limit"
    with pytest.raises(BackendError) as caught:
        services.job_run(job_id=job.id)

    assert caught.value.transient is True
    job.refresh_from_db()
    assert not job.is_finished and job.attempts == 1
    assert not job.assets.exists()


@pytest.mark.django_db
def test_a_video_longer_than_twelve_seconds_is_refused_at_request_time(openai_jobs, make_user):
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        services.job_request(
            owner=make_user(),
            backend="openai",
            kind="video",
            prompt="a long take",
            duration_s=15,
        )
    assert caught.value.fields == {
        "duration_s": [
            "The openai backend makes videos of 1 to 12 s: the provider's clips are at most 12 s "
            "long."
        ]
    }


def _generated_clip(user, captured):
    """A 2 s 720p clip made by the openai backend, in the user's Library."""
    source = _request_job(
        user,
        captured,
        kind="video",
        prompt="a paper boat on a river",
        aspect_ratio="16:9",
        quality="draft",
        duration_s=2,
    )
    services.job_run(job_id=source.id)
    return source.assets.get()


@pytest.mark.django_db
def test_extend_continues_a_clip_from_its_last_frame_and_the_prompt(
    openai_jobs, standin, make_user, django_capture_on_commit_callbacks
):
    import numpy as np
    from django.core.files.storage import default_storage

    from apps.media import video

    user = make_user()
    clip = _generated_clip(user, django_capture_on_commit_callbacks)
    with default_storage.open(clip.original, "rb") as f:
        clip_data = f.read()

    with django_capture_on_commit_callbacks():
        edit = services.edit_request(
            owner=user, op="extend", assets=[clip.id], duration_s=3, prompt="it reaches the sea"
        )
    services.job_run(job_id=edit.id)

    edit.refresh_from_db()
    assert edit.status == GenerationJob.Status.SUCCEEDED, edit.error
    with default_storage.open(edit.assets.get().original, "rb") as f:
        info = probe(f.read())
    assert (info.width, info.height) == (1280, 720)
    assert info.duration_s == pytest.approx(5.0, abs=1 / 24)
    # The provider was asked for a continuation: the new prompt, starting from the clip's end.
    create = [c for c in standin.calls("POST") if c["path"].endswith("/videos")][-1]
    assert create["body"]["prompt"].startswith("it reaches the sea")
    with Image.open(io.BytesIO(create["body"]["input_reference"])) as reference:
        assert reference.size == (1280, 720)
        start = np.asarray(reference.convert("RGB"), dtype=np.int16)
    last = video.last_frame(clip_data).astype(np.int16)
    assert float(np.abs(start - last).mean()) < 2.0


@pytest.mark.django_db
def test_a_continuation_longer_than_the_provider_makes_is_refused(
    openai_jobs, standin, make_user, django_capture_on_commit_callbacks
):
    from apps.core.exceptions import ApplicationError

    user = make_user()
    clip = _generated_clip(user, django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError) as refused:
        services.edit_request(owner=user, op="extend", assets=[clip.id], duration_s=15)
    assert refused.value.code == "invalid" and "duration_s" in refused.value.fields
    assert GenerationJob.objects.filter(owner=user).count() == 1

"""Hosted images and videos through OpenAI's API, with the official ``openai`` SDK.

Images come from the Images API (``POST /v1/images/generations``, base64 PNGs); videos from the
Videos API (create, poll, download). The provider makes a few fixed sizes and durations, so this
backend asks for the nearest one and then crops and resizes (and trims) the result to exactly what
Vivid asked for: every image and video size Vivid offers works.

Errors become ``BackendError``: rate limits, 5xx answers, timeouts and connection failures are
transient (the Celery task retries them with backoff, so the SDK's own retries are off); content
policy refusals and other 4xx answers are permanent and fail the job with a sentence the creator
can read. The API key is read from the environment on every call and never stored in options.

Configure it in ``GENERATION_BACKENDS``::

    "openai": {
        "BACKEND": "apps.generation.backends.openai.OpenAIBackend",
        "OPTIONS": {"base_url": None, "image_model": "gpt-image-2.5-flare"},
    }

``video_model=None`` makes it an image-only backend (OpenAI removed its Videos API on
2026-09-24; the video path works against services that still speak that API).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import openai
from django.core.exceptions import ImproperlyConfigured

from apps.generation.backends.base import (
    BackendError,
    GeneratedFile,
    GenerationBackend,
    GenerationRequest,
    ProgressCallback,
)
from apps.generation.backends.fitting import (
    fit_video,
    fitted_png,
    nearest_size,
    start_picture,
    vivid_sizes,
)

logger = logging.getLogger(__name__)

# The SDK marks every Videos API method deprecated (OpenAI shut that API down on 2026-09-24); the
# calls still work against services that speak it, so the warning is noise on every poll.
warnings.filterwarnings("ignore", message=r"The Sora API", category=DeprecationWarning)

# gpt-image-1 was shut down on 2026-10-23; the SDK names gpt-image-2.5-flare and -sunburst as its
# successors.
DEFAULT_IMAGE_MODEL = "gpt-image-2.5-flare"
DEFAULT_VIDEO_MODEL = "sora-2"

# Sizes every GPT image model accepts, and sora-2's sizes (sora-2-pro adds 1792x1024/1024x1792).
API_IMAGE_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
API_VIDEO_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (720, 1280))
API_VIDEO_SECONDS: tuple[int, ...] = (4, 8, 12)
API_IMAGE_QUALITY = {"draft": "low", "final": "high"}
MAX_IMAGES = 10  # the Images API's limit for n
# While one long request runs (an image takes up to a minute or two), progress is still reported
# this often: it keeps the job's lock renewed and lets a cancel stop the wait.
HEARTBEAT_S = 1.0

# Error codes the API uses when its safety system refuses a prompt (gpt-image: moderation_blocked;
# older image models: content_policy_violation).
CONTENT_POLICY_CODES = frozenset(
    {"moderation_blocked", "content_policy_violation", "content_filter"}
)
POLICY_MESSAGE = "The provider refused this prompt under its content policy."

OPTIONS = {
    "base_url": None,  # None: the SDK's default (OPENAI_BASE_URL, else https://api.openai.com/v1)
    "api_key_env": "OPENAI_API_KEY",
    "image_model": DEFAULT_IMAGE_MODEL,
    "video_model": DEFAULT_VIDEO_MODEL,  # None or "": no videos
    "timeout": 180.0,  # seconds per HTTP request; a high-quality image can take a minute or more
    "poll_interval": 5.0,  # seconds between video status checks
    "max_wait_s": 480.0,  # a video not done by then fails (the job reaper stops jobs at 600 s)
    "max_retries": 0,  # the SDK's own retries; Vivid's task retries transient errors itself
}


def provider_seconds(duration_s: float) -> int:
    """The shortest clip length the provider makes that covers ``duration_s``."""
    for seconds in API_VIDEO_SECONDS:
        if seconds >= duration_s - 1e-9:
            return seconds
    raise ValueError(f"no clip of {duration_s} s: at most {API_VIDEO_SECONDS[-1]} s")


class OpenAIBackend(GenerationBackend):
    """Images (GPT image models) and videos (the Videos API) from OpenAI, sized exactly."""

    name = "OpenAI"
    model = DEFAULT_IMAGE_MODEL
    version = openai.__version__  # the SDK's version; the model name says which model ran
    kinds = ("image", "video")
    max_duration_s = API_VIDEO_SECONDS[-1]
    sizes = vivid_sizes("image")
    video_sizes = vivid_sizes("video")

    def __init__(self, alias: str, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ImproperlyConfigured(f"Unknown option(s) for the {alias} backend: {names}.")
        merged = {**OPTIONS, **options}
        super().__init__(alias, **merged)
        self.base_url: str | None = merged["base_url"] or None
        self.api_key_env: str = merged["api_key_env"]
        self.image_model: str = merged["image_model"]
        self.video_model: str | None = merged["video_model"] or None
        self.timeout = float(merged["timeout"])
        self.poll_interval = float(merged["poll_interval"])
        self.max_wait_s = float(merged["max_wait_s"])
        self.max_retries = int(merged["max_retries"])
        self.model = self.image_model
        # The video API takes a first-frame reference, so clips can be continued.
        self.can_continue = self.video_model is not None
        if self.video_model is None:
            self.kinds = ("image",)
            self.max_duration_s = 0
            self.video_sizes = ()

    def describe(self) -> dict[str, Any]:
        # Names only: never the key, and not base_url (a URL may carry credentials).
        return {
            **super().describe(),
            "image_model": self.image_model,
            "video_model": self.video_model,
        }

    def refusal(self, kind: str, width: int, height: int, duration_s: float | None) -> str | None:
        if (
            kind == "video"
            and "video" in self.kinds
            and duration_s is not None
            and duration_s > self.max_duration_s
        ):
            # "videos of" keeps job_request pointing the error at the duration field.
            return (
                f"The {self.alias} backend makes videos of 1 to {self.max_duration_s} s: "
                f"the provider's clips are at most {self.max_duration_s} s long."
            )
        return super().refusal(kind, width, height, duration_s)

    # ------------------------------------------------------------------------------------------

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        problem = self.refusal(request.kind, request.width, request.height, request.duration_s)
        if problem:
            raise BackendError(problem)
        if request.quality not in API_IMAGE_QUALITY:
            raise BackendError("Quality must be draft or final.")
        client = self._client()
        try:
            if request.kind == "video":
                return self._generate_video(client, request, progress)
            return self._generate_images(client, request, progress)
        finally:
            client.close()

    def _client(self) -> openai.OpenAI:
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            logger.error("generation backend %s: %s is not set", self.alias, self.api_key_env)
            raise BackendError(
                f"The {self.alias} backend is not set up on this server (it has no API key)."
            )
        return openai.OpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    @staticmethod
    def _while_waiting(
        call: Callable[[], Any],
        progress: ProgressCallback,
        *,
        between: tuple[float, float],
        typical_s: float,
    ) -> Any:
        """Run one blocking request in a helper thread, reporting progress (creeping from
        ``between[0]`` towards ``between[1]``) every HEARTBEAT_S until it answers.

        If ``progress`` raises (a canceled job) the wait is abandoned at once; closing the client
        then ends the request."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openai-request")
        try:
            future = pool.submit(call)
            started = time.monotonic()
            low, high = between
            while True:
                try:
                    return future.result(timeout=HEARTBEAT_S)
                except TimeoutError:
                    if future.done():  # the call itself raised TimeoutError
                        raise
                elapsed = time.monotonic() - started
                progress(low + (high - low) * (1 - math.exp(-elapsed / typical_s)))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _prompt(request: GenerationRequest) -> str:
        # The API has no negative prompt; say it in words.
        if request.negative_prompt.strip():
            return f"{request.prompt}\n\nAvoid: {request.negative_prompt.strip()}"
        return request.prompt

    # --- images -------------------------------------------------------------------------------

    def _generate_images(
        self, client: openai.OpenAI, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        n = request.count
        if not 1 <= n <= MAX_IMAGES:
            raise BackendError(f"Ask for between 1 and {MAX_IMAGES} images.")
        api_w, api_h = nearest_size(API_IMAGE_SIZES, request.width, request.height)
        quality = API_IMAGE_QUALITY[request.quality]
        progress(0.0)
        with self._provider_errors(self.image_model):
            response = self._while_waiting(
                lambda: client.images.generate(
                    model=self.image_model,
                    prompt=self._prompt(request),
                    n=n,
                    size=f"{api_w}x{api_h}",
                    quality=quality,
                    output_format="png",
                ),
                progress,
                between=(0.0, 0.8),
                typical_s=30.0 if quality == "high" else 10.0,
            )
        progress(0.8)
        data = response.data or []
        encoded = [item.b64_json for item in data if item.b64_json]
        if len(encoded) != n:
            raise BackendError(f"The provider returned {len(encoded)} of the {n} images asked for.")
        files = []
        for i, b64 in enumerate(encoded):
            try:
                raw = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise BackendError("The provider sent an image Vivid could not read.") from e
            files.append(
                GeneratedFile(
                    data=fitted_png(raw, request.width, request.height, source="provider"),
                    mime="image/png",
                    width=request.width,
                    height=request.height,
                    extra={
                        "provider": "openai",
                        "model": self.image_model,
                        "provider_size": f"{api_w}x{api_h}",
                        "provider_quality": quality,
                        "seed_used": False,  # the API takes no seed
                    },
                )
            )
            progress(0.8 + 0.2 * (i + 1) / n)
        return files

    # --- videos -------------------------------------------------------------------------------

    def _generate_video(
        self, client: openai.OpenAI, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        assert self.video_model is not None  # refusal() turned video requests away otherwise
        duration = float(request.duration_s or 0)
        seconds = provider_seconds(duration)
        api_w, api_h = nearest_size(API_VIDEO_SIZES, request.width, request.height)
        progress(0.0)
        extra: dict[str, Any] = {}
        if request.start_frame is not None:
            # The reference must have the provider's frame size; it becomes the first frame.
            start = start_picture(request.start_frame, api_w, api_h)
            extra["input_reference"] = ("start.png", start, "image/png")
        with self._provider_errors(self.video_model):
            job = client.videos.create(
                model=self.video_model,
                prompt=self._prompt(request),
                seconds=str(seconds),  # type: ignore[arg-type]
                size=f"{api_w}x{api_h}",  # type: ignore[arg-type]
                **extra,
            )
        try:
            job = self._wait_for_video(client, job, progress)
            with self._provider_errors(self.video_model):
                source = self._while_waiting(
                    lambda: client.videos.download_content(job.id).content,
                    progress,
                    between=(0.85, 0.9),
                    typical_s=5.0,
                )
        except BaseException:
            # Canceled, failed or given up on: stop paying for it, if the provider lets us.
            self._delete_quietly(client, job.id)
            raise
        progress(0.9)
        data = self._fit_video(source, request, progress)
        progress(1.0)
        return [
            GeneratedFile(
                data=data,
                mime="video/mp4",
                width=request.width,
                height=request.height,
                duration_s=duration,
                extra={
                    "provider": "openai",
                    "model": self.video_model,
                    "provider_video_id": job.id,
                    "provider_size": f"{api_w}x{api_h}",
                    "provider_seconds": seconds,
                    "seed_used": False,
                },
            )
        ]

    def _wait_for_video(self, client: openai.OpenAI, job: Any, progress: ProgressCallback) -> Any:
        started = time.monotonic()
        deadline = started + self.max_wait_s
        while True:
            status = getattr(job, "status", None)
            if status == "completed":
                return job
            if status not in ("queued", "in_progress"):
                raise self._video_failed(job)
            percent = getattr(job, "progress", None)
            if isinstance(percent, int | float):
                done = min(max(float(percent), 0.0), 100.0) / 100
            else:  # no progress field: creep along with the clock
                done = min((time.monotonic() - started) / self.max_wait_s, 0.99)
            progress(0.05 + 0.8 * done)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError(f"The provider's video did not finish in {self.max_wait_s:g} s.")
            time.sleep(min(self.poll_interval, remaining))
            with self._provider_errors(self.video_model):
                job = client.videos.retrieve(job.id)

    def _video_failed(self, job: Any) -> BackendError:
        error = getattr(job, "error", None)
        code = str(getattr(error, "code", "") or "").lower()
        logger.warning(
            "openai video %s ended %s: code=%s message=%s",
            getattr(job, "id", "?"),
            getattr(job, "status", "?"),
            code,
            getattr(error, "message", ""),
        )
        if code in CONTENT_POLICY_CODES:
            return BackendError(POLICY_MESSAGE)
        if code in {"server_error", "internal_error", "rate_limit_exceeded"}:
            return BackendError(
                "The provider failed while making this video; it may work on a retry.",
                transient=True,
            )
        return BackendError("The provider could not make this video.")

    def _delete_quietly(self, client: openai.OpenAI, video_id: str) -> None:
        try:
            client.videos.delete(video_id, timeout=min(self.timeout, 10.0))
        except Exception:  # best effort: the provider expires it anyway
            logger.info("could not delete provider video %s", video_id, exc_info=True)

    def _fit_video(
        self, source: bytes, request: GenerationRequest, progress: ProgressCallback
    ) -> bytes:
        return fit_video(
            source,
            width=request.width,
            height=request.height,
            duration_s=float(request.duration_s or 0),
            quality=request.quality,
            progress=lambda f: progress(0.9 + 0.1 * f),
            source="provider",
        )

    # --- errors -------------------------------------------------------------------------------

    @contextmanager
    def _provider_errors(self, model: str | None) -> Iterator[None]:
        """Turn the SDK's exceptions into BackendErrors with a sentence for the creator."""
        try:
            yield
        except openai.APITimeoutError as e:
            raise BackendError(
                "The provider did not answer in time; try again in a little while.", transient=True
            ) from e
        except openai.APIConnectionError as e:
            logger.warning("generation backend %s: cannot reach the provider: %s", self.alias, e)
            raise BackendError(
                "Vivid could not reach the provider; try again in a little while.", transient=True
            ) from e
        except openai.APIStatusError as e:
            raise self._status_error(e, model) from e
        except openai.OpenAIError as e:  # a malformed answer, a client misconfiguration
            logger.exception("generation backend %s: unexpected SDK error", self.alias)
            raise BackendError("The provider sent an answer Vivid did not understand.") from e

    def _status_error(self, e: openai.APIStatusError, model: str | None) -> BackendError:
        status = e.status_code
        code = str(e.code or "").lower()
        kind = str(e.type or "").lower()
        # The provider's message can quote part of the key (401), so it is logged, not shown.
        logger.warning(
            "generation backend %s: HTTP %s code=%s type=%s request_id=%s",
            self.alias,
            status,
            code or "-",
            kind or "-",
            e.request_id,
        )
        if code in CONTENT_POLICY_CODES or kind in CONTENT_POLICY_CODES:
            return BackendError(POLICY_MESSAGE)
        if status == 429:
            if "insufficient_quota" in (code, kind):
                return BackendError("The provider account behind this backend is out of credit.")
            return BackendError(
                "The provider is busy (rate limited); try again in a little while.",
                transient=True,
            )
        if status in (408, 409) or status >= 500:  # the statuses the SDK itself would retry
            return BackendError(
                f"The provider had a temporary problem (HTTP {status}); "
                "try again in a little while.",
                transient=True,
            )
        if status in (401, 403):
            return BackendError(
                f"The provider refused this server's credentials for the {self.alias} backend."
            )
        if status == 404:
            return BackendError(f"The provider does not offer the model {model} (any more).")
        return BackendError(f"The provider rejected this request (HTTP {status}).")

"""The small interface every generation backend implements.

Backends are configured like Django's ``STORAGES`` (``GENERATION_BACKENDS`` in settings), loaded by
dotted path, and know nothing about jobs, users or storage: they turn a request into files and say
what they are, so provenance can record it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressCallback = Callable[[float], None]


class BackendError(Exception):
    """A backend could not produce a result; ``message`` is shown to the creator as is."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        # A transient error (a timeout, a 5xx) may succeed when the job is retried.
        self.transient = transient


class GenerationCanceled(Exception):
    """Raised from a progress callback to stop a backend at its next step."""


@dataclass(frozen=True)
class GenerationRequest:
    kind: str  # "image" or "video"
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int = 1024
    height: int = 1024
    quality: str = "draft"  # "draft" or "final"
    count: int = 1  # variations, images only
    duration_s: float | None = None  # videos only
    # A PNG the video must start from (the last frame of a clip being continued), or None.
    start_frame: bytes | None = None
    # Ideation (images, backends with ``can_vary``): the variation steps of the picture this
    # request starts from ((variation seed, strength) pairs), and a new step to add to each
    # result: result i gets (variation_seed + i, variation_strength). See ``picture``.
    variations: tuple[tuple[int, float], ...] = ()
    variation_seed: int = 0
    variation_strength: float = 0.0

    def picture(self, index: int) -> tuple[int, tuple[tuple[int, float], ...]]:
        """(seed, variation steps) of result ``index``: the recipe of that one picture.

        Without a new variation step the results are seed, seed+1, ... (a grid of different
        pictures). With one, every result keeps the seed (the composition) and gets its own
        step: nearby pictures around the one they vary."""
        if self.variation_strength > 0:
            step = (self.variation_seed + index, float(self.variation_strength))
            return self.seed, (*self.variations, step)
        return self.seed + index, tuple(self.variations)


@dataclass
class GeneratedFile:
    data: bytes
    mime: str  # "image/png" or "video/mp4"
    width: int
    height: int
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class GenerationBackend(ABC):
    """Turns a ``GenerationRequest`` into files. Subclasses set the class attributes."""

    name: str = ""
    model: str = ""
    version: str = ""
    kinds: tuple[str, ...] = ("image",)
    max_duration_s: int = 0
    sizes: tuple[tuple[int, int], ...] = ((1024, 1024),)  # image sizes
    video_sizes: tuple[tuple[int, int], ...] = ()
    # True when rendering the same request with a longer duration continues the same clip
    # seamlessly (frame i depends only on the request and i), which the "extend" edit relies on.
    can_extend: bool = False
    # True when a video can start from a given picture (``GenerationRequest.start_frame``): the
    # "extend" edit then continues any of its clips from the clip's last frame and the prompt.
    can_continue: bool = False
    # True when the backend renders the ``variations`` of a request (``GenerationRequest``):
    # the same seed and steps give the same picture at any quality, and a step keeps the layout.
    can_vary: bool = False

    def __init__(self, alias: str, **options: Any) -> None:
        self.alias = alias
        self.options = options

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.alias,
            "name": self.name,
            "model": self.model,
            "version": self.version,
            "kinds": list(self.kinds),
            "max_duration_s": self.max_duration_s,
            "sizes": [f"{w}x{h}" for w, h in self.sizes],
            "video_sizes": [f"{w}x{h}" for w, h in self.video_sizes],
            "can_vary": self.can_vary,
            "description": "",
            "can_start_from_image": self.can_continue and "video" in self.kinds,
            "available": True,
            "unavailable_reason": None,
        }

    def expand(self) -> list[GenerationBackend]:
        """The model choices this configured backend offers, each with its own alias: itself,
        unless it stands for several (a ComfyUI pool offers one choice per workflow)."""
        return [self]

    def unavailable(self) -> str | None:
        """Why no job can run now (a sentence for the creator), or None. Checked when a job is
        asked for, so nobody's job waits in a queue for a server that is not there."""
        return None

    def cost(self, *, kind: str, quality: str, count: int, duration_s: float | None) -> int | None:
        """Quota cost units of a job, or None for Vivid's default (``quotas.job_cost``)."""
        return None

    def refusal(self, kind: str, width: int, height: int, duration_s: float | None) -> str | None:
        """Why this backend cannot do the request (a sentence for the creator), or None."""
        if kind not in self.kinds:
            return f"The {self.alias} backend cannot make {kind}s."
        allowed = self.video_sizes if kind == "video" else self.sizes
        if (width, height) not in allowed:
            return f"The {self.alias} backend cannot make {width}x{height} {kind}s."
        if kind == "video" and not (duration_s and 0 < duration_s <= self.max_duration_s):
            return f"The {self.alias} backend makes videos of 1 to {self.max_duration_s} s."
        return None

    def generate_each(
        self, request: GenerationRequest, progress: ProgressCallback, *, start: int = 0
    ):
        """Yield the files of ``generate`` from result ``start`` on, each as soon as it is ready,
        so the worker can store and show it before the others are done (a draft grid). The
        default renders them all first; a backend that can do better overrides this."""
        yield from self.generate(request, progress)[start:]

    @abstractmethod
    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        """Produce ``request.count`` files. Call ``progress(0..1)`` as work advances; it may raise
        ``GenerationCanceled``, which must propagate. Raise ``BackendError`` on failure."""

"""A procedural landscape painter: the backend that needs no model, no GPU and no network.

Vivid has to work out of the box (development, CI, self-hosters without a GPU), and its feeds,
thumbnails and video pipeline need real pictures to exercise. This backend reads a prompt the way
a person skims one -- picking out colours, a time of day, weather, landforms and an art style from
small vocabulary tables -- and paints a layered landscape with NumPy. Videos animate the same
scene: each layer is painted once, then moved per frame (parallax, drifting clouds, rippling
water, twinkling stars, falling rain and snow).

Every choice is derived from SHA-256 digests, never from Python's ``hash()`` (salted per process),
so the same request gives byte-identical files in any process. Noise lattices are addressed in
*scene units* (the image height is 1.0, x is centred), so a draft and a final render of one seed,
or a square and a 16:9 crop of it, show the same scene.

Modules, in dependency order: ``arrays`` (helpers), ``looks`` (colour tables), ``vocabulary``
(prompt parsing), ``noise``, ``canvas``, the painters (``sky``, ``land``, ``water``,
``weather``), ``styles`` (grading and art styles), ``render`` (stills); for videos ``motion``
(the moving parts and how each frame puts them in place), ``animate`` and ``effects`` (painting
the parts once), ``video`` (``render_frames`` and the render-while-encoding pipeline); and
``backend`` (the ``GenerationBackend``).
"""

from apps.generation.backends.procedural.backend import ProceduralBackend
from apps.generation.backends.procedural.render import (
    MAX_SIDE,
    MIN_SIDE,
    QUALITIES,
    encode_png,
    render_scene,
    seed_digest,
)
from apps.generation.backends.procedural.video import render_frames
from apps.generation.backends.procedural.vocabulary import (
    ELEMENTS,
    MOODS,
    PALETTES,
    STYLES,
    TIMES,
    WEATHERS,
    Scene,
    parse_prompt,
    vocabulary_size,
)

__all__ = [
    "ELEMENTS",
    "MAX_SIDE",
    "MIN_SIDE",
    "MOODS",
    "PALETTES",
    "QUALITIES",
    "STYLES",
    "TIMES",
    "WEATHERS",
    "ProceduralBackend",
    "Scene",
    "encode_png",
    "parse_prompt",
    "render_frames",
    "render_scene",
    "seed_digest",
    "vocabulary_size",
]

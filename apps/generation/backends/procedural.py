"""A procedural landscape painter: the backend that needs no model, no GPU and no network.

Vivid has to work out of the box (development, CI, self-hosters without a GPU), and its feeds,
thumbnails and video pipeline need real pictures to exercise. This backend reads a prompt the way
a person skims one -- picking out colours, a time of day, weather, landforms and an art style from
small vocabulary tables -- and paints a layered landscape with NumPy.

Every choice is derived from SHA-256 digests, never from Python's ``hash()`` (salted per process),
so the same request gives byte-identical PNGs in any process. Noise lattices are addressed in
*scene units* (the image height is 1.0, x is centred), so a draft and a final render of one seed,
or a square and a 16:9 crop of it, show the same scene.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from statistics import NormalDist

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from apps.generation.backends.base import (
    BackendError,
    GeneratedFile,
    GenerationBackend,
    GenerationCanceled,
    GenerationRequest,
    ProgressCallback,
)

logger = logging.getLogger(__name__)

RGB = tuple[float, float, float]

# --------------------------------------------------------------------------------------------
# Vocabulary: canonical value -> the words and phrases that select it. A word may appear under
# several values or categories ("moonlit" is both a time and an element); all of them apply.
# --------------------------------------------------------------------------------------------

PALETTES: dict[str, str] = {
    "red": "red crimson scarlet ruby cherry blood maroon vermilion",
    "blue": "blue azure cobalt sapphire navy cerulean ultramarine",
    "teal": "teal cyan turquoise aqua aquamarine mint seafoam",
    "gold": "gold golden amber yellow honey saffron brass",
    "pink": "pink rose magenta fuchsia blush coral salmon bubblegum",
    "purple": "purple violet lavender lilac indigo plum amethyst mauve",
    "green": "green emerald jade lime verdant olive lush",
    "orange": "orange tangerine copper rust peach apricot burnt_orange",
}

MOODS: dict[str, str] = {
    "calm": "calm serene peaceful tranquil quiet still relaxing zen",
    "gloomy": "gloomy moody somber sombre melancholy melancholic bleak dreary grey gray sad "
    "desolate",
    "vibrant": "vibrant vivid colorful colourful bright saturated psychedelic bold radiant",
    "pastel": "pastel soft dreamy dreamlike muted whimsical ethereal",
    "dark": "dark noir shadowy ominous grim sinister eerie haunting spooky gothic",
}

TIMES: dict[str, str] = {
    "dawn": "dawn sunrise daybreak first_light early_morning",
    "morning": "morning forenoon mid_morning",
    "noon": "noon midday daytime day afternoon high_noon daylight",
    "golden_hour": "golden_hour magic_hour late_afternoon goldenhour",
    "sunset": "sunset sundown evening setting_sun",
    "dusk": "dusk twilight blue_hour gloaming nightfall eventide",
    "night": "night midnight nighttime night_time nocturnal moonlit starlit",
}

WEATHERS: dict[str, str] = {
    "clear": "clear sunny cloudless crisp",
    "fog": "fog foggy mist misty mists haze hazy smog murky",
    "rain": "rain rainy raining drizzle downpour showers wet monsoon rainfall puddles",
    "snow": "snow snowy snowing blizzard winter frost frosty frozen icy snowfall wintry",
    "clouds": "cloud clouds cloudy overcast puffy cumulus fluffy",
    "storm": "storm stormy thunder thunderstorm lightning tempest hurricane typhoon",
}

ELEMENTS: dict[str, str] = {
    "mountains": "mountain mountains peak peaks alps alpine summit range himalaya cliffs "
    "volcano ridge massif highlands",
    "hills": "hill hills hillside valley meadow meadows countryside rolling field fields "
    "grassland prairie farmland pasture",
    "sea": "sea ocean beach coast shore bay seaside coastal harbor harbour seascape marine",
    "waves": "wave waves surf tide breakers swell",
    "lake": "lake pond lagoon reflection reflections reflective mirror loch fjord",
    "river": "river stream creek brook canal riverside estuary",
    "desert": "desert dunes dune sand sandy sahara arid canyon mesa badlands",
    "forest": "forest forests tree trees woods woodland pine pines jungle grove taiga conifer "
    "evergreen redwood cedar",
    "city": "city skyline skyscraper skyscrapers urban town downtown metropolis buildings "
    "cityscape cyberpunk street tokyo",
    "neon": "neon neons cyberpunk glowing signs blade_runner",
    "stars": "star stars starry starlit galaxy milky_way constellation constellations cosmos "
    "starfield nebula cosmic",
    "moon": "moon moonlight moonlit lunar crescent full_moon moonrise",
    "sun": "sun sunshine sunlight solar sunbeam sunbeams sunlit sunburst",
    "aurora": "aurora auroras borealis northern_lights southern_lights australis polar_lights",
    "islands": "island islands archipelago atoll isle isles islet tropical",
    "planets": "planet planets saturn jupiter gas_giant exoplanet alien space scifi sci_fi",
}

STYLES: dict[str, str] = {
    "watercolour": "watercolour watercolor watercolours watercolors aquarelle gouache",
    "oil_paint": "oil oil_paint oil_painting impasto painterly brushstrokes canvas "
    "impressionist impressionism",
    "pixel_art": "pixel pixels pixelart pixel_art pixelated 8_bit 8bit 16_bit 16bit retro_game "
    "sprite",
    "low_poly": "low_poly lowpoly polygonal polygon geometric faceted",
    "line_art": "line_art lineart sketch ink drawing outline pencil linework etching engraving",
    "film_grain": "grain grainy film film_grain analog analogue 35mm kodak polaroid vintage",
    "cinematic": "cinematic movie film_still epic dramatic widescreen anamorphic blockbuster",
    "vaporwave": "vaporwave synthwave retrowave outrun 80s 1980s aesthetic",
}

# Words that carry no picture; they still feed the seed digest, but do not count as "unknown".
_STOPWORDS_TEXT = (
    "a an the of in on at with and or over under by for to from into above below behind near "
    "its is are very some many few lots this that"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split(" "))

# Each table maps a canonical value to its words; "_" joins the words of a phrase.
_CATEGORIES: dict[str, dict[str, str]] = {
    "palette": PALETTES,
    "mood": MOODS,
    "time": TIMES,
    "weather": WEATHERS,
    "element": ELEMENTS,
    "style": STYLES,
}

# Landforms: a scene without any gets a default composition, so there is always a ground.
GROUND_ELEMENTS = frozenset(
    {"mountains", "hills", "sea", "lake", "river", "desert", "forest", "city", "islands"}
)
DEFAULT_GROUNDS: tuple[tuple[str, ...], ...] = (
    ("mountains", "lake", "forest"),
    ("hills", "forest", "river"),
    ("mountains", "hills"),
    ("sea", "islands"),
    ("mountains", "lake"),
)
# Times picked when the prompt names none; the pleasant, painterly ones.
DEFAULT_TIMES = ("golden_hour", "sunset", "morning", "dawn", "golden_hour", "dusk")
DAY_TIMES = ("morning", "noon", "golden_hour", "dawn")
NIGHT_HINTS = frozenset({"stars", "moon", "aurora", "neon"})
SUN_HIDDEN_BY = frozenset({"rain", "storm", "fog"})
STARS_SHOW_IN = frozenset({"clear", "fair", "snow"})

# --------------------------------------------------------------------------------------------
# Looks: colours per time of day, adjusted by weather, mood and palette.
# --------------------------------------------------------------------------------------------


def _hex(code: str) -> RGB:
    code = code.lstrip("#")
    return (int(code[0:2], 16) / 255, int(code[2:4], 16) / 255, int(code[4:6], 16) / 255)


@dataclass(frozen=True)
class Look:
    """The light of one time of day: sky stops, sun, land light, haze and water colours."""

    zenith: RGB
    mid: RGB
    horizon: RGB
    sun: RGB
    glow: RGB
    light: RGB  # multiplies land colours: bright at noon, dim and blue at night
    haze: RGB  # what distant layers fade towards (atmospheric perspective)
    water: RGB
    cloud_lit: RGB
    cloud_shadow: RGB
    sun_elev: float  # height of the sun above the horizon, scene units (negative: below)
    glow_strength: float
    stars: float  # how visible stars are, 0..1
    windows: float  # share of lit city windows


def _look(**kw: str | float) -> Look:
    """Build a Look from hex strings so the table below stays readable."""
    return Look(**{k: _hex(v) if isinstance(v, str) else v for k, v in kw.items()})  # type: ignore[arg-type]


# fmt: off
TIME_LOOKS: dict[str, Look] = {
    "dawn": _look(
        zenith="#2d3d72", mid="#9283b0", horizon="#fbb99a", sun="#fff1d6",
        glow="#ff9f7a", light="#b8949a", haze="#b498b0", water="#2c3558",
        cloud_lit="#ffc2a6", cloud_shadow="#6d6a8e", sun_elev=0.035,
        glow_strength=0.85, stars=0.2, windows=0.15,
    ),
    "morning": _look(
        zenith="#3a73c9", mid="#85b4e8", horizon="#e2edf2", sun="#fffaf0",
        glow="#fff0cc", light="#e4e4d8", haze="#c4d6e6", water="#2b5a7e",
        cloud_lit="#ffffff", cloud_shadow="#98a8c0", sun_elev=0.26,
        glow_strength=0.55, stars=0.0, windows=0.03,
    ),
    "noon": _look(
        zenith="#1b58c4", mid="#5c9ce8", horizon="#cde3f6", sun="#ffffff",
        glow="#fffbea", light="#fffdf4", haze="#bcd4ec", water="#1d5f8a",
        cloud_lit="#ffffff", cloud_shadow="#a2b2c8", sun_elev=0.4,
        glow_strength=0.5, stars=0.0, windows=0.0,
    ),
    "golden_hour": _look(
        zenith="#41609e", mid="#d8a97e", horizon="#ffd48e", sun="#fff4c4",
        glow="#ffb347", light="#f0b47c", haze="#c4a2b0", water="#34466a",
        cloud_lit="#ffd9a0", cloud_shadow="#8a7a92", sun_elev=0.13,
        glow_strength=0.9, stars=0.0, windows=0.08,
    ),
    "sunset": _look(
        zenith="#252a5e", mid="#c2596e", horizon="#ff9b4e", sun="#ffe08a",
        glow="#ff6a3a", light="#b06a5a", haze="#9a6a86", water="#2a2748",
        cloud_lit="#ff9a6a", cloud_shadow="#57405e", sun_elev=0.025,
        glow_strength=1.0, stars=0.05, windows=0.25,
    ),
    "dusk": _look(
        zenith="#0d1335", mid="#3a3466", horizon="#c46a7c", sun="#ffb08a",
        glow="#d0607a", light="#4c4a72", haze="#7a6088", water="#141836",
        cloud_lit="#b87488", cloud_shadow="#2a2746", sun_elev=-0.04,
        glow_strength=0.7, stars=0.5, windows=0.4,
    ),
    "night": _look(
        zenith="#02040d", mid="#081030", horizon="#1a2a55", sun="#f4f1e4",
        glow="#6d86c0", light="#2a3658", haze="#1d2b52", water="#050a1c",
        cloud_lit="#3d4a6e", cloud_shadow="#0b0f20", sun_elev=-0.3,
        glow_strength=0.3, stars=1.0, windows=0.3,
    ),
}
# fmt: on

# Weather greys the sky: (how much, towards which grey at daylight brightness).
OVERCAST: dict[str, tuple[float, str]] = {
    "clouds": (0.15, "#9ea6b0"),
    "rain": (0.6, "#6e7680"),
    "storm": (0.8, "#353b46"),
    "fog": (0.55, "#c0c4ca"),
    "snow": (0.5, "#ccd2da"),
}
CLOUD_COVER = {
    "clear": 0.0,
    "fair": 0.22,
    "clouds": 0.62,
    "fog": 0.4,
    "rain": 0.88,
    "snow": 0.8,
    "storm": 0.95,
}
FOG_DENSITY = {
    "clear": 0.0,
    "fair": 0.04,
    "clouds": 0.08,
    "fog": 0.72,
    "rain": 0.28,
    "snow": 0.3,
    "storm": 0.3,
}

# Palette grading: shadows tint, highlights tint, strength.
PALETTE_GRADES: dict[str, tuple[str, str, float]] = {
    "red": ("#3a0610", "#ffb09a", 0.42),
    "blue": ("#03103a", "#b8d4ff", 0.42),
    "teal": ("#002a2e", "#a8fff0", 0.42),
    "gold": ("#2e1a02", "#ffe08a", 0.42),
    "pink": ("#33061f", "#ffc0dc", 0.42),
    "purple": ("#1c0536", "#dcc0ff", 0.42),
    "green": ("#04240c", "#d4ffb0", 0.38),
    "orange": ("#331102", "#ffc080", 0.42),
}


@dataclass(frozen=True)
class MoodGrade:
    saturation: float
    contrast: float
    brightness: float
    lift: float  # raises blacks towards grey/white (pastel, calm)


MOOD_GRADES: dict[str, MoodGrade] = {
    "neutral": MoodGrade(1.05, 1.04, 1.0, 0.0),
    "calm": MoodGrade(0.85, 0.92, 1.03, 0.04),
    "gloomy": MoodGrade(0.55, 0.95, 0.82, 0.02),
    "vibrant": MoodGrade(1.4, 1.1, 1.04, 0.0),
    "pastel": MoodGrade(0.75, 0.8, 1.12, 0.2),
    "dark": MoodGrade(0.85, 1.15, 0.62, 0.0),
}

TERRAIN: dict[str, str] = {
    "rock": "#7a8499",
    "snow": "#f4f6fa",
    "grass": "#5e8c46",
    "sand": "#e0a768",
    "forest": "#1d3b28",
    "island": "#2f5a36",
    "building": "#20232e",
    "shore": "#2a3526",
    "beach": "#e6cfa2",
}
NEON_COLOURS = ("#ff2bd6", "#22e6ff", "#9d4dff", "#ff5e3a", "#3dff9e")


# --------------------------------------------------------------------------------------------
# Prompt parsing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """What a prompt asked for, after defaults, implications and the negative prompt.

    ``sun_x`` and ``horizon`` place things (scene units); they come from the prompt's words so
    the composition belongs to the prompt, while the seed varies shapes within it.
    """

    palette: str = "natural"
    mood: str = "neutral"
    time_of_day: str = "golden_hour"
    weather: str = "fair"  # "fair" (a few clouds) when the prompt names no weather
    elements: frozenset[str] = frozenset()
    styles: frozenset[str] = frozenset()
    unknown_words: tuple[str, ...] = ()
    hue_shift: float = 0.0  # degrees, from unknown words
    sun_x: float = 0.0
    horizon: float = 0.6

    def summary(self) -> dict[str, object]:
        """A JSON-friendly account of the picks, for provenance."""
        return {
            "palette": self.palette,
            "mood": self.mood,
            "time_of_day": self.time_of_day,
            "weather": self.weather,
            "elements": sorted(self.elements),
            "styles": sorted(self.styles),
        }


def _tokens(text: str) -> list[str]:
    """Lowercase word tokens; hyphens and punctuation split words ("low-poly" -> low, poly)."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))[:256]


@cache
def _lexicon() -> dict[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Phrase (as a token tuple) -> every (category, value) it selects."""
    entries: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for category, table in _CATEGORIES.items():
        for value, words in table.items():
            for word in words.split():
                key = tuple(_tokens(word.replace("_", " ")))
                entries.setdefault(key, []).append((category, value))
    return {key: tuple(hits) for key, hits in entries.items()}


def vocabulary_size() -> int:
    """How many words and phrases the parser knows (documented as ~150+; tests check it)."""
    return len(_lexicon())


def _match(tokens: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Greedy longest-phrase matching; returns the hits and the words nobody claimed."""
    lexicon = _lexicon()
    longest = max(len(key) for key in lexicon)
    hits: list[tuple[str, str]] = []
    unknown: list[str] = []
    i = 0
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            found = lexicon.get(tuple(tokens[i : i + n]))
            if found is None and n == 1 and len(tokens[i]) > 3 and tokens[i].endswith("s"):
                found = lexicon.get((tokens[i][:-1],))  # a plain plural we did not list
            if found:
                hits.extend(found)
                i += n
                break
        else:
            if tokens[i] not in STOPWORDS:
                unknown.append(tokens[i])
            i += 1
    return hits, unknown


def _digest_unit(data: str, index: int) -> float:
    """A stable number in [0, 1) from text; ``index`` picks an independent draw."""
    digest = hashlib.sha256(f"{index}:{data}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def _first(hits: list[tuple[str, str]], category: str) -> str | None:
    return next((value for cat, value in hits if cat == category), None)


def _all(hits: list[tuple[str, str]], category: str) -> set[str]:
    return {value for cat, value in hits if cat == category}


def parse_prompt(prompt: str, negative_prompt: str = "") -> Scene:
    """Read what the prompt asks for; the negative prompt removes elements, styles and weather."""
    tokens = _tokens(prompt)
    hits, unknown = _match(tokens)
    negative, _ = _match(_tokens(negative_prompt))
    banned_elements = _all(negative, "element")
    banned_weather = _all(negative, "weather")
    layout_key = " ".join(t for t in tokens if t not in STOPWORDS)

    mood = _first(hits, "mood") or "neutral"
    elements = _all(hits, "element")
    weather = _pick_weather(_first(hits, "weather"), mood, banned_weather)
    elements = _complete_ground(elements, banned_elements, layout_key)
    time_of_day = _pick_time(_first(hits, "time"), elements, layout_key)
    elements |= _implied_sky(time_of_day, weather)
    elements -= banned_elements

    hue_shift = 0.0
    if unknown:
        hue_shift = (_digest_unit(" ".join(sorted(set(unknown))), 0) * 2 - 1) * 16.0
    return Scene(
        palette=_first(hits, "palette") or "natural",
        mood=mood,
        time_of_day=time_of_day,
        weather=weather,
        elements=frozenset(elements),
        styles=frozenset(_all(hits, "style") - _all(negative, "style")),
        unknown_words=tuple(unknown),
        hue_shift=hue_shift,
        sun_x=(_digest_unit(layout_key, 1) - 0.5) * 0.4,
        horizon=0.6 + (_digest_unit(layout_key, 2) - 0.5) * 0.06,
    )


def _pick_weather(named: str | None, mood: str, banned: set[str]) -> str:
    """Named weather wins; gloomy prompts get clouds; a banned weather falls back to clear."""
    weather = named or ("clouds" if mood == "gloomy" else "fair")
    if weather in banned or (weather == "fair" and "clouds" in banned):
        return "clear"
    return weather


def _complete_ground(elements: set[str], banned: set[str], key: str) -> set[str]:
    """Make sure there is something to stand on: waves and islands need a sea; a prompt with no
    landform gets a default composition (one that avoids what the negative prompt bans)."""
    elements = set(elements)
    if elements & {"waves", "islands"} and not elements & {"sea", "lake"}:
        elements.add("sea")
    if elements & GROUND_ELEMENTS:
        return elements
    allowed = [g for g in DEFAULT_GROUNDS if not set(g) & banned] or [("hills",)]
    return elements | set(allowed[int(_digest_unit(key, 3) * len(allowed))])


def _pick_time(named: str | None, elements: set[str], key: str) -> str:
    """An unnamed time follows the elements (stars mean night) or the prompt's digest."""
    if named:
        return named
    if elements & NIGHT_HINTS and "sun" not in elements:
        return "night"
    choices = DAY_TIMES if "sun" in elements else DEFAULT_TIMES
    return choices[int(_digest_unit(key, 4) * len(choices))]


def _implied_sky(time_of_day: str, weather: str) -> set[str]:
    """A clear day shows its sun, a clear night its moon and stars."""
    implied: set[str] = set()
    look = TIME_LOOKS[time_of_day]
    if look.sun_elev > 0 and weather not in SUN_HIDDEN_BY:
        implied.add("sun")
    if time_of_day == "night" and weather in STARS_SHOW_IN | {"clouds"}:
        implied.add("moon")
    if look.stars >= 0.5 and weather in STARS_SHOW_IN:
        implied.add("stars")
    return implied


# --------------------------------------------------------------------------------------------
# Noise: value noise on lattices addressed in scene units, one child generator per layer, so
# adding octaves (final quality) never reshuffles the coarse shapes a draft showed.
# --------------------------------------------------------------------------------------------


LATTICE_CAP = 1024  # cells per axis per octave: bounds memory and time for fine noise


def _axis(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice indices either side of each coordinate (wrapping) and smoothstep weights."""
    c = np.asarray(coords, dtype=np.float64)
    f = np.floor(c)
    t = (c - f).astype(np.float32)
    i0 = f.astype(np.int64) % n
    return i0, (i0 + 1) % n, t * t * (3.0 - 2.0 * t)


class Noise:
    """Deterministic noise fields derived from one digest."""

    def __init__(self, digest: bytes) -> None:
        self.digest = digest

    def rng(self, name: str) -> np.random.Generator:
        """An independent generator per purpose; order of use does not matter."""
        sub = hashlib.sha256(self.digest + b"/" + name.encode()).digest()
        return np.random.default_rng(int.from_bytes(sub[:16], "little"))

    def fbm1d(
        self, name: str, x: np.ndarray, octaves: int, *, extent: float, ridged: bool = False
    ) -> np.ndarray:
        """Fractal 1-D value noise in [0, 1]; ``ridged`` folds it into sharp peaks."""
        total = np.zeros(x.shape, np.float32)
        norm, amp = 0.0, 1.0
        for k in range(octaves):
            m = 2.0**k
            n = math.ceil(extent * m) + 2
            rng = self.rng(f"{name}:{k}")
            lattice = rng.random(n, dtype=np.float32)
            i0, i1, t = _axis(x * m + rng.random() * n, n)
            val = lattice[i0] + (lattice[i1] - lattice[i0]) * t
            if ridged:
                val = 1.0 - np.abs(2.0 * val - 1.0)
            total += amp * val
            norm += amp
            amp *= 0.5
        return total / norm

    def fbm2d(
        self,
        name: str,
        x: np.ndarray,
        y: np.ndarray,
        octaves: int,
        *,
        extent: tuple[float, float],
        gain: float = 0.5,
    ) -> np.ndarray:
        """Fractal 2-D value noise in [0, 1] sampled on the grid ``y`` (rows) x ``x`` (cols).

        Separable interpolation keeps each octave at a few full-frame operations.
        """
        total = np.zeros((y.size, x.size), np.float32)
        norm, amp = 0.0, 1.0
        for k in range(octaves):
            m = 2.0**k
            # lattices wrap, so fine octaves can repeat beyond a cap without anyone noticing
            nx = min(math.ceil(extent[0] * m) + 2, LATTICE_CAP)
            ny = min(math.ceil(extent[1] * m) + 2, LATTICE_CAP)
            rng = self.rng(f"{name}:{k}")
            lattice = rng.random((ny, nx), dtype=np.float32)
            ox, oy = rng.random(2)
            ix0, ix1, tx = _axis(x * m + ox * nx, nx)
            iy0, iy1, ty = _axis(y * m + oy * ny, ny)
            if ny * x.size <= y.size * nx:  # interpolate along the cheaper axis first
                rows = lattice[:, ix0] + (lattice[:, ix1] - lattice[:, ix0]) * tx
                r0 = rows[iy0]
                val = r0 + (rows[iy1] - r0) * ty[:, None]
            else:
                cols = lattice[iy0] + (lattice[iy1] - lattice[iy0]) * ty[:, None]
                c0 = cols[:, ix0]
                val = c0 + (cols[:, ix1] - c0) * tx
            total += amp * val
            norm += amp
            amp *= gain
        return total / norm


# --------------------------------------------------------------------------------------------
# Small array helpers
# --------------------------------------------------------------------------------------------

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _col(rgb: RGB | str) -> np.ndarray:
    return np.array(_hex(rgb) if isinstance(rgb, str) else rgb, np.float32)


def _mix_rgb(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ _LUMA


def _box_blur(a: np.ndarray, r: int, axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Mean filter of radius ``r`` along ``axes``, edges clamped.

    Small radii sum shifted views (cheap, cache-friendly); large ones use a running sum, whose
    cost does not grow with the radius.
    """
    if r < 1:
        return a
    for axis in axes:
        n = a.shape[axis]
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        padded = np.pad(a, pad, mode="edge")

        def window(start: int, src: np.ndarray, axis: int = axis, n: int = n) -> np.ndarray:
            index = [slice(None)] * src.ndim
            index[axis] = slice(start, start + n)
            return src[tuple(index)]

        if r <= 4:
            acc = window(1, padded).astype(np.float32, copy=True)
            for k in range(2, 2 * r + 2):
                acc += window(k, padded)
        else:
            cs = np.cumsum(padded, axis=axis, dtype=np.float32)
            acc = window(2 * r + 1, cs) - window(0, cs)
        a = acc / (2 * r + 1)
    return a


def _glow_blur(img: np.ndarray, radius: float) -> np.ndarray:
    """A wide soft blur for glows: shrink, box-blur, grow back bilinearly."""
    h, w = img.shape[:2]
    factor = max(1, int(radius / 2))
    sw, sh = max(2, w // factor), max(2, h // factor)
    chans = img if img.ndim == 3 else img[..., None]
    out = np.empty(chans.shape, np.float32)
    for ch in range(chans.shape[2]):
        small = Image.fromarray(np.ascontiguousarray(chans[..., ch], np.float32))
        small = small.resize((sw, sh), Image.Resampling.BOX)
        arr = _box_blur(np.asarray(small, np.float32), 2)
        big = Image.fromarray(np.ascontiguousarray(arr)).resize((w, h), Image.Resampling.BILINEAR)
        out[..., ch] = np.asarray(big, np.float32)
    return out if img.ndim == 3 else out[..., 0]


def _gather(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``img`` at rounded, clamped pixel coordinates (displacement effects).

    Flat indices with ``np.take`` are several times faster than two-array fancy indexing.
    """
    return np.take(_flat_pixels(img), _flat_index(img.shape[:2], ys, xs), axis=0)


def _flat_index(shape: tuple[int, ...], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    h, w = shape[0], shape[1]
    # clamp first, then +0.5 and truncate: rounding without a separate rint pass
    yi = (np.clip(ys, 0, h - 1) + 0.5).astype(np.intp)
    xi = (np.clip(xs, 0, w - 1) + 0.5).astype(np.intp)
    return yi * w + xi


def _flat_pixels(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img.reshape(h * w, -1) if img.ndim == 3 else img.reshape(h * w)


# --------------------------------------------------------------------------------------------
# The canvas: scene coordinates, the working image and the light, shared by the painters.
# --------------------------------------------------------------------------------------------


def _weathered(look: Look, weather: str) -> Look:
    """Grey the sky and dim the sun for overcast weather, keeping the time's brightness."""
    if weather not in OVERCAST:
        return look
    amount, grey_hex = OVERCAST[weather]
    brightness = min(1.1, max(0.07, float(_luma(_col(look.mid))) / 0.62))
    grey = tuple(c * brightness for c in _hex(grey_hex))

    def dim(rgb: RGB, k: float = 1.0) -> RGB:
        return _mix_rgb(rgb, grey, amount * k)  # type: ignore[arg-type]

    return replace(
        look,
        zenith=dim(look.zenith),
        mid=dim(look.mid),
        horizon=dim(look.horizon),
        haze=dim(look.haze),
        light=dim(look.light, 0.6),
        water=dim(look.water, 0.5),
        cloud_lit=dim(look.cloud_lit, 0.8),
        cloud_shadow=dim(look.cloud_shadow, 0.9),
        glow_strength=look.glow_strength * (1.0 - 0.8 * amount),
    )


class Canvas:
    """Scene-unit coordinates (height 1.0, x centred on 0) and the float image being painted."""

    def __init__(self, scene: Scene, digest: bytes, width: int, height: int, detail: int) -> None:
        self.scene = scene
        self.look = _weathered(TIME_LOOKS[scene.time_of_day], scene.weather)
        self.noise = Noise(digest)
        self.w, self.h = width, height
        self.detail = detail  # extra noise octaves for final quality
        self.u = ((np.arange(width) + 0.5 - width / 2) / height).astype(np.float32)
        self.v = ((np.arange(height) + 0.5) / height).astype(np.float32)
        self.hz = scene.horizon
        self.hz_row = round(self.hz * height)
        self.img = np.zeros((height, width, 3), np.float32)
        elev = self.look.sun_elev
        if "sun" in scene.elements and elev <= 0:
            elev = 0.02  # a sun asked for at dusk or night sits on the horizon
        self.sun = (scene.sun_x, self.hz - elev)
        day = TIME_LOOKS[scene.time_of_day].sun_elev > 0.05
        self.moon = (
            (-scene.sun_x * 1.6 - 0.08, self.hz - 0.4) if day else (scene.sun_x, self.hz - 0.43)
        )
        self.night = scene.time_of_day in ("night", "dusk")
        self.fog = FOG_DENSITY[scene.weather]
        self.glow = self._glow_field()

    @property
    def light_pos(self) -> tuple[float, float]:
        """Where light comes from: the moon at night when there is one, else the sun."""
        if self.scene.time_of_day == "night" and "moon" in self.scene.elements:
            return self.moon
        return self.sun

    def _glow_field(self) -> np.ndarray:
        """Brightness of the sky's glow around the light source; lights sky, haze and clouds."""
        lu, lv = self.light_pos
        strength = self.look.glow_strength
        if self.scene.time_of_day == "night" and "moon" not in self.scene.elements:
            strength *= 0.3
        dx = (self.u - lu)[None, :] / 1.5
        dy = (self.v - lv)[:, None]
        d = np.sqrt(dx * dx + dy * dy)
        return strength * (0.55 * np.exp(-d / 0.06) + 0.45 * np.exp(-d / 0.28))

    def to_px(self, u: np.ndarray | float) -> np.ndarray | float:
        return u * self.h + self.w / 2 - 0.5

    def rows(self, top: float, bottom: float) -> slice:
        y0 = int(np.clip(math.floor(top * self.h) - 1, 0, self.h))
        y1 = int(np.clip(math.ceil(bottom * self.h) + 1, y0, self.h))
        return slice(y0, y1)

    def haze_colour(self, rows: slice) -> np.ndarray:
        """Haze brightened near the sun, as sunlight scatters in the air."""
        glow = self.glow[rows][..., None]
        return _col(self.look.haze) + _col(self.look.glow) * glow * 0.6

    def fill(self, ridge: np.ndarray, colour: np.ndarray, rows: slice) -> None:
        """Paint ``colour`` (rows, W, 3) below the per-column ``ridge``, anti-aliased."""
        below = self.v[rows][:, None] - ridge[None, :]
        alpha = np.clip(below * self.h + 0.5, 0.0, 1.0)[..., None]
        region = self.img[rows]
        region += (colour - region) * alpha


# --------------------------------------------------------------------------------------------
# Sky painters
# --------------------------------------------------------------------------------------------


def paint_sky(c: Canvas) -> None:
    """Three-stop vertical gradient plus the glow around the sun (or moon)."""
    look = c.look
    t = np.clip(c.v / c.hz, 0.0, 1.0)[:, None]
    upper = _smoothstep(0.0, 0.62, t)
    lower = _smoothstep(0.62, 1.0, t)
    z, m, hzc = _col(look.zenith), _col(look.mid), _col(look.horizon)
    col = np.where(t < 0.62, z + (m - z) * upper, m + (hzc - m) * lower)
    c.img[:] = col[:, None, :]  # (H, 3) rows broadcast across the width
    c.img += c.glow[..., None] * _col(look.glow)


def paint_stars(c: Canvas) -> None:
    """Star field splatted as points (brightest get a cross) and a milky way at night."""
    rng = c.noise.rng("stars")
    count = int(2600 * c.hz)
    su = rng.uniform(-1.5, 1.5, count)
    sv = rng.uniform(0.0, c.hz, count)
    bright = (rng.random(count) ** 5 * 1.3 + 0.08).astype(np.float32)
    xs = np.rint(c.to_px(su)).astype(np.intp)
    ys = np.rint(sv * c.h - 0.5).astype(np.intp)
    keep = (xs >= 1) & (xs < c.w - 1) & (ys >= 1) & (ys < c.h - 1)
    xs, ys, bright = xs[keep], ys[keep], bright[keep]
    field = np.zeros((c.h, c.w), np.float32)
    np.add.at(field, (ys, xs), bright)
    big = bright > 0.5
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        np.add.at(field, (ys[big] + dy, xs[big] + dx), bright[big] * 0.35)
    if c.scene.time_of_day == "night" and "stars" in c.scene.elements:
        field += _milky_way(c)
    sky_dark = 1.0 - np.clip(_luma(c.img) * 2.2, 0.0, 1.0)
    fade = _smoothstep(c.hz, c.hz - 0.22, c.v)[:, None]
    vis = field * fade * sky_dark * c.look.stars * (1.0 - c.fog)
    c.img += vis[..., None] * np.array([0.92, 0.95, 1.0], np.float32)


def _milky_way(c: Canvas) -> np.ndarray:
    """A faint diagonal band of glow with dark dust lanes."""
    angle = 0.5 + c.noise.rng("milky").random() * 0.6
    d = c.u[None, :] * math.sin(angle) + (c.v[:, None] - c.hz * 0.45) * math.cos(angle)
    band = np.exp(-((d / 0.11) ** 2))
    cloud = c.noise.fbm2d("milky", (c.u + 2) * 6, c.v * 6, 4, extent=(24, 7))
    dust = c.noise.fbm2d("dust", (c.u + 2) * 9, c.v * 9, 3, extent=(36, 10))
    return band * np.clip(cloud - 0.3, 0, 1) * 0.5 * (1.0 - 0.7 * _smoothstep(0.45, 0.7, dust))


def paint_aurora(c: Canvas) -> None:
    """Two curtains: sharp lower edge, rays from 1-D noise, green fading to violet upwards."""
    rows = slice(0, c.hz_row)
    v = c.v[rows][:, None]
    green, violet = _col("#3dff9a"), _col("#b05cff")
    strength = 1.0 if c.night else 0.3
    for k in range(2):
        wave = c.noise.fbm1d(f"aurora{k}", (c.u + 2) * 1.3, 4, extent=6)
        base = c.hz - 0.2 - 0.12 * k + (wave - 0.5) * 0.22
        rays = 0.25 + 0.75 * c.noise.fbm1d(f"rays{k}", (c.u + 2) * 30, 3, extent=130) ** 2
        dv = base[None, :] - v
        inten = np.where(dv > 0, np.exp(-np.maximum(dv, 0) / 0.12), np.exp(-((dv / 0.012) ** 2)))
        inten = inten * rays[None, :] * strength * (0.8 - 0.3 * k)
        tone = _smoothstep(0.0, 0.22, dv)[..., None]
        c.img[rows] += inten[..., None] * (green + (violet - green) * tone) * 0.75


def paint_planets(c: Canvas) -> None:
    """One or two shaded planets, the first perhaps ringed, lit from the sun's side."""
    rng = c.noise.rng("planets")
    lu, lv = c.sun
    for k in range(1 + int(rng.random() < 0.55)):
        r = rng.uniform(0.07, 0.13) if k == 0 else rng.uniform(0.025, 0.05)
        pu = rng.uniform(-0.22, 0.22) if k == 0 else rng.uniform(-0.4, 0.4)
        pv = rng.uniform(0.12, max(0.13, c.hz - 0.3))
        hue = rng.random()
        base = np.array(_hsv(hue, 0.45, 0.95), np.float32)
        band_col = np.array(_hsv((hue + 0.08) % 1, 0.6, 0.7), np.float32)
        ringed = k == 0 and rng.random() < 0.65
        tilt = rng.uniform(-0.45, 0.45)
        _draw_planet(c, (pu, pv, r), base, band_col, (lu, lv), ringed, tilt, k)


def _hsv(h: float, s: float, v: float) -> RGB:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _draw_planet(
    c: Canvas,
    disc: tuple[float, float, float],
    base: np.ndarray,
    band_col: np.ndarray,
    light: tuple[float, float],
    ringed: bool,
    tilt: float,
    k: int,
) -> None:
    pu, pv, r = disc
    reach = r * (2.3 if ringed else 1.3)
    rows = c.rows(pv - reach, pv + reach)
    x0 = int(np.clip(c.to_px(pu - reach), 0, c.w))
    x1 = int(np.clip(c.to_px(pu + reach) + 1, x0, c.w))
    if rows.start >= rows.stop or x0 >= x1:
        return
    x = ((c.u[x0:x1] - pu) / r)[None, :]
    y = ((c.v[rows] - pv) / r)[:, None]
    region = c.img[rows, x0:x1]
    lx, ly = light[0] - pu, light[1] - pv
    norm = math.hypot(lx, ly, 0.6) or 1.0
    lx, ly, lz = lx / norm, ly / norm, 0.6 / norm
    ring_a = ring_col = None
    if ringed:
        cs, sn = math.cos(tilt), math.sin(tilt)
        xr, yr = x * cs + y * sn, -x * sn + y * cs
        e = np.sqrt(xr * xr + (yr / 0.26) ** 2)
        ring_a = _smoothstep(1.3, 1.4, e) * _smoothstep(2.2, 2.05, e)
        ring_a = ring_a * (0.55 + 0.35 * np.sin(e * 30)) * 0.85
        ring_col = (base * 0.6 + 0.4) * (0.35 + 0.65 * np.clip(0.5 - yr * ly, 0.2, 1))[..., None]
        back = ring_a * (yr < 0)
        region += (ring_col - region) * back[..., None]
    rr = x * x + y * y
    z = np.sqrt(np.clip(1 - rr, 0, 1))
    lit = np.clip(x * lx + y * ly + z * lz, 0, 1) ** 0.8
    bands = c.noise.fbm1d(f"bands{k}", (c.v[rows] - pv) / r * 4 + 8, 3, extent=20)[:, None]
    surface = base + (band_col - base) * _smoothstep(0.4, 0.7, bands)[..., None]
    colour = surface * (0.04 + 0.96 * lit)[..., None]
    alpha = np.clip((1 - np.sqrt(rr)) * r * c.h + 0.5, 0, 1)
    rim = np.exp(-np.maximum(np.sqrt(rr) - 1, 0) * 12) * (1 - alpha) * np.clip(lit + 0.3, 0, 1)
    region += rim[..., None] * base * 0.35
    region += (colour - region) * alpha[..., None] * 0.97
    if ring_a is not None and ring_col is not None:
        front = ring_a * (yr >= 0)
        region += (ring_col - region) * front[..., None]


def paint_sun(c: Canvas) -> None:
    """The sun's disc; the vaporwave style cuts it into the classic striped sunset sun."""
    su, sv = c.sun
    vapor = "vaporwave" in c.scene.styles
    low = np.clip((c.hz - sv) / 0.3, 0, 1)
    radius = 0.16 if vapor else float(0.05 - 0.018 * low)
    rows = c.rows(sv - radius, min(sv + radius, c.hz))
    d = np.hypot(c.u[None, :] - su, c.v[rows][:, None] - sv)
    alpha = np.clip((radius - d) * c.h + 0.5, 0, 1)
    if c.scene.weather in OVERCAST:
        alpha *= 1.0 - OVERCAST[c.scene.weather][0] * 0.85
    if vapor:
        t = np.clip((c.v[rows] - (sv - radius)) / (2 * radius), 0, 1)[:, None, None]
        colour = _col("#ffd84a") + (_col("#ff2d7a") - _col("#ffd84a")) * t
        phase = (c.v[rows] - sv) / radius
        gaps = ((phase * 7) % 1.0) < np.clip(phase * 0.9, 0, 0.8)
        alpha = alpha * np.where(phase[:, None] > 0.05, ~gaps[:, None], True)
    else:
        colour = np.broadcast_to(_col(c.look.sun) * 1.15, (*alpha.shape, 3))
    region = c.img[rows]
    region += (colour - region) * alpha[..., None]


def paint_moon(c: Canvas) -> None:
    """A cratered moon with a cool halo; pale and translucent in daylight."""
    mu, mv = c.moon
    radius = 0.032
    opacity = 1.0 if c.night else 0.55
    rows = c.rows(mv - radius * 6, mv + radius * 6)
    d = np.hypot(c.u[None, :] - mu, c.v[rows][:, None] - mv)
    halo = (0.3 * np.exp(-d / 0.04) + 0.1 * np.exp(-d / 0.2)) * opacity
    region = c.img[rows]
    region += halo[..., None] * _col("#8fa6e0")
    craters = c.noise.fbm2d("craters", (c.u + 2) * 60, c.v[rows] * 60, 3, extent=(250, 65))
    shade = 0.72 + 0.28 * _smoothstep(0.35, 0.6, craters)
    alpha = np.clip((radius - d) * c.h + 0.5, 0, 1) * opacity
    colour = _col("#f6f2e2") * shade[..., None]
    region += (colour - region) * alpha[..., None]


def paint_clouds(c: Canvas) -> None:
    """Value-noise clouds flattened towards the horizon, lit from the light source's side."""
    cover = CLOUD_COVER[c.scene.weather] + (0.12 if c.scene.mood == "gloomy" else 0.0)
    if cover <= 0:
        return
    rows = slice(0, c.hz_row)
    v = c.v[rows]
    y = -np.log(np.maximum(c.hz - v, 0) + 0.05)  # perspective: rows crowd near the horizon
    n = c.noise.fbm2d("clouds", (c.u + 2) * 1.8, y * 2.4, 5 + c.detail, extent=(7.5, 8.0))
    z = (n - 0.47) / 0.11  # fbm2d's mean and spread, measured
    mid = NormalDist().inv_cdf(1.0 - min(cover, 0.98))  # about ``cover`` of the sky clouded
    density = _smoothstep(mid - 0.45, mid + 0.75, z)
    lu, lv = c.light_pos
    if c.scene.weather in ("fair", "clear") and c.scene.elements & {"sun", "moon"}:
        # the sun (or moon) shows through thin cloud, so a prompt that asks for it sees it
        near_sun = np.hypot(c.u[None, :] - lu, v[:, None] - lv)
        density = density * (1.0 - 0.85 * np.exp(-near_sun / 0.12))
    soft = _box_blur(density, max(1, round(c.h * 0.006)))
    gy, gx = np.gradient(soft)
    dx = (lu - c.u)[None, :]
    dy = (lv - v)[:, None]
    dist = np.sqrt(dx * dx + dy * dy) + 1e-3
    toward = (gx * dx + gy * dy) / dist * (c.h / 8.0)
    lit = np.clip(0.62 - toward - 0.3 * density * density, 0, 1)
    colour = (
        _col(c.look.cloud_shadow)
        + (_col(c.look.cloud_lit) - _col(c.look.cloud_shadow)) * lit[..., None]
    )
    if c.scene.weather in ("rain", "storm", "snow"):  # overcast: heavy, uneven cloud base
        dark = 0.35 if c.scene.weather == "storm" else 0.55
        colour = colour * (dark + 0.9 * _smoothstep(0.3, 0.65, n))[..., None]
    colour = colour + _col(c.look.glow) * (c.glow[rows] * 0.8 * (1.1 - density))[..., None]
    far = _smoothstep(c.hz - 0.22, c.hz, v)[:, None, None] * 0.55
    colour = colour + (_col(c.look.horizon) - colour) * far
    alpha = (density * 0.97)[..., None]
    c.img[rows] += (colour - c.img[rows]) * alpha


# --------------------------------------------------------------------------------------------
# Land painters
# --------------------------------------------------------------------------------------------


def _shade_land(
    c: Canvas,
    ridge: np.ndarray,
    rows: slice,
    base: np.ndarray,
    haze: float,
    *,
    bottom: float,
    relief: float = 1.0,
    spurs: float = 0.0,
    falloff: float | None = None,
    texture: str | None = None,
    snow_line: float | None = None,
    height: float = 0.3,
) -> np.ndarray:
    """Colour of a land layer: warm direct light on faces turned to the sun, cool sky light in
    the shadows, and haze that grows with distance (atmospheric perspective).

    ``spurs`` shears the lit/shadow split diagonally down from each peak, so mountain faces
    read as spurs rather than vertical stripes. ``snow_line`` (0..1 of ``height`` above
    ``bottom``) caps peaks; ``falloff`` keeps direct light to the crest of rolling ground.
    """
    v = c.v[rows][:, None]
    below = np.maximum(v - ridge[None, :], 0.0)
    slope = np.gradient(ridge) * c.h
    radius = max(1, round(c.h * 0.018))
    slope = _box_blur(_box_blur(slope, radius, axes=(0,)), radius, axes=(0,))
    side = np.tanh((c.light_pos[0] - c.u) * 6.0)
    facing = np.clip(0.5 + relief * slope * side * 1.4, 0.0, 1.0)
    shear = np.arange(c.w)[None, :] + below * c.h * spurs * side[None, :]
    lit = facing[np.clip(shear.astype(np.intp), 0, c.w - 1)]
    if spurs:  # spurs are strongest near the crest and blur into the massif below
        lit = 0.5 + (lit - 0.5) * np.exp(-below / 0.1)
    lit = lit * (1.0 - 0.35 * np.clip(below / 0.15, 0, 1))
    if falloff:  # rolling ground: only the crest catches the light, the body stays even
        lit = 0.45 + (lit - 0.45) * np.exp(-below / falloff)
    tex = np.ones_like(lit)
    if texture:
        tex = c.noise.fbm2d(texture, (c.u + 2) * 9, c.v[rows] * 9, 3 + c.detail, extent=(38, 11))
        tex = 0.8 + 0.4 * tex
    look = c.look
    sky = (_col(look.zenith) + _col(look.horizon)) * 0.5
    light = (0.45 * tex)[..., None] * sky + (1.0 * lit * tex)[..., None] * _col(look.light)
    colour = base * light
    if snow_line is not None:
        altitude = (bottom - v) / max(height, 1e-3)
        wobble = c.noise.fbm1d("snowline", (c.u + 2) * 20, 3, extent=85)[None, :] * 0.25
        cap = _smoothstep(snow_line, snow_line + 0.06, altitude + wobble - 0.12)
        snow = _col(TERRAIN["snow"]) * light
        colour = colour + (snow - colour) * cap[..., None]
    mist = _smoothstep(bottom - 0.1, bottom, v) * (0.12 + c.fog * 0.4)
    amount = np.clip(haze + c.fog * 0.45 * (0.3 + haze) + mist * (1 - haze), 0, 0.97)
    return colour + (c.haze_colour(rows) - colour) * amount[..., None]


def _ridge(c: Canvas, name: str, freq: float, octaves: int, ridged: float) -> np.ndarray:
    """A skyline profile in [0, 1]: a blend of rounded and ridged (sharp-peaked) noise."""
    x = (c.u + 2) * freq
    extent = 4 * freq + 2
    smooth = c.noise.fbm1d(name, x, octaves, extent=extent)
    sharp = c.noise.fbm1d(name + "r", x, octaves, extent=extent, ridged=True)
    return np.clip(((1 - ridged) * smooth + ridged * sharp - 0.3) / 0.45, 0, 1)


def paint_mountains(c: Canvas, layers: int, base_v: float) -> None:
    """Layered ranges, far ones taller, paler and bluer (atmospheric perspective)."""
    specs = ((0.34, 0.46, 1.1), (0.24, 0.26, 1.7), (0.15, 0.08, 2.6))[-layers:]
    su, sv = c.sun
    dip = np.zeros_like(c.u)
    if "sun" in c.scene.elements and c.hz - sv < 0.25:  # open a valley for a low sun
        dip = 0.7 * np.exp(-(((c.u - su) / 0.22) ** 2))
    snowy = c.scene.weather == "snow"
    desert = "desert" in c.scene.elements
    for k, (height, haze, freq) in enumerate(specs):
        shape = _ridge(c, f"mountain{k}", freq, 6 + c.detail, 0.65)
        ridge = base_v - height * (0.12 + 0.88 * shape) * (1 - dip)
        rows = c.rows(float(ridge.min()), base_v + 0.02)
        base = _col(TERRAIN["sand"]) * 0.8 if desert else _col(TERRAIN["rock"])
        snow_line = None if desert else (0.35 if snowy else 0.7 - 0.08 * k)
        colour = _shade_land(
            c,
            ridge,
            rows,
            base,
            haze,
            bottom=base_v,
            texture=f"rock{k}",
            snow_line=snow_line,
            height=height,
            spurs=0.7,
        )
        c.fill(ridge, colour, rows)


def _tree_profile(
    c: Canvas, name: str, spacing: float, height: float, density: float, slim: float = 0.3
) -> np.ndarray:
    """Heights of a row of conifers along x: triangles with notched, branchy flanks."""
    rng = c.noise.rng(name)
    table = rng.random((3, 4096)).astype(np.float32)
    cell = np.floor((c.u + 2) / spacing).astype(np.int64)
    best = np.zeros(c.w, np.float32)
    for off in (-1, 0, 1):
        idx = (cell + off) % 4096
        centre = (cell + off + 0.5 + (table[0, idx] - 0.5) * 0.8) * spacing - 2
        h = height * (0.55 + 0.6 * table[1, idx]) * (table[2, idx] < density)
        half = h * slim
        dist = np.abs(c.u - centre) / np.maximum(half, 1e-6)
        notch = 1.0 - 0.12 * ((dist * 4.0) % 1.0)
        best = np.maximum(best, h * np.clip(1.0 - dist, 0, 1) * notch)
    return best


def paint_trees(c: Canvas, ground: np.ndarray, name: str, height: float, haze: float) -> None:
    """A treeline standing on ``ground`` (a ridge), clumped by low-frequency noise."""
    clumps = _smoothstep(0.35, 0.6, c.noise.fbm1d(name + "c", (c.u + 2) * 3, 3, extent=14))
    trees = _tree_profile(c, name, height * 0.45, height, 0.9) * (0.25 + 0.75 * clumps)
    top = ground - trees
    rows = c.rows(float(top.min()), float(ground.max()) + 0.01)
    base = _col(TERRAIN["forest"])
    if c.scene.weather == "snow":
        base = base * 0.7 + _col(TERRAIN["snow"]) * 0.3
    colour = _shade_land(c, top, rows, base, haze, bottom=float(ground.max()), relief=0.4)
    c.fill(top, colour, rows)


def paint_city(c: Canvas) -> None:
    """Three rows of buildings with lit windows; neon signs and their glow when asked."""
    neon = "neon" in c.scene.elements
    # lights live above the street line; their glow spills a little below it
    emissive = np.zeros((min(c.h, c.hz_row + round(c.h * 0.06)), c.w, 3), np.float32)
    specs = (
        (0.05, 0.2, 0.62, 0.018, 0.04),
        (0.07, 0.3, 0.35, 0.025, 0.055),
        (0.08, 0.42, 0.08, 0.035, 0.08),
    )
    for k, (h_lo, h_hi, haze, w_lo, w_hi) in enumerate(specs):
        _city_layer(c, k, (h_lo, h_hi), (w_lo, w_hi), haze, neon, emissive)
    if neon:
        rows = slice(0, c.hz_row)
        sky_glow = np.exp(-(c.hz - c.v[rows]) / 0.15)[:, None, None] * 0.35
        c.img[rows] += sky_glow * (_col("#ff2bd6") * 0.6 + _col("#6a3dff") * 0.4)
    c.img[: emissive.shape[0]] += emissive + _glow_blur(emissive, c.h * 0.02) * 1.6


def _city_layer(
    c: Canvas,
    k: int,
    heights: tuple[float, float],
    widths: tuple[float, float],
    haze: float,
    neon: bool,
    emissive: np.ndarray,
) -> None:
    """One row of buildings: facades fading into haze, a rim of sky light on the roofs, and a
    window grid per building lit by a lookup on (building, cell), computed only on panes."""
    rng = c.noise.rng(f"city{k}")
    n = 400
    edges = np.concatenate([[-2.0], -2.0 + np.cumsum(rng.uniform(*widths, n))])
    tall = rng.random(n) < 0.12
    top = rng.uniform(*heights, n) * np.where(tall, 1.5, 1.0)
    tint = 0.8 + 0.4 * rng.random(n)
    grid = 0.75 + 0.6 * rng.random(n)  # window size varies by building
    occupancy = rng.random(n) ** 2.2 * 2.4  # some towers dark, a few ablaze
    table = rng.random(8192).astype(np.float32)
    idx = np.clip(np.searchsorted(edges, c.u, side="right") - 1, 0, n - 1)
    ridge = c.hz - top[idx] + 0.002 * k
    rows = c.rows(float(ridge.min()), c.hz + 0.01)
    v = c.v[rows]
    below = v[:, None] - ridge[None, :]
    alpha = np.clip(below * c.h + 0.5, 0, 1)

    horizon = _col(c.look.horizon)
    facade = _col(TERRAIN["building"]) * _col(c.look.light) * 1.6 * tint[idx][:, None]
    facade = facade + horizon * 0.05
    colour = facade + (c.haze_colour(rows) - facade) * (haze + c.fog * 0.3)
    colour += np.clip(1.0 - below * c.h / 2.0, 0, 1)[..., None] * horizon * 0.5

    cw = 0.0055 * (1 + 0.3 * k) * grid[idx]
    ch = 0.008 * (1 + 0.3 * k)
    lx, ly = (c.u - edges[idx]) / cw, v / ch
    col_ok = (lx % 1 > 0.25) & (lx % 1 < 0.75) & ((edges[idx + 1] - c.u) > cw * 0.5)
    row_ok = (ly % 1 > 0.3) & (ly % 1 < 0.75)
    ys, xs = np.nonzero(row_ok[:, None] & col_ok[None, :] & (below > ch))
    key = (idx[xs] * 7919 + np.floor(lx[xs]).astype(np.int64) * 131) + (
        np.floor(ly[ys]).astype(np.int64) * 31
    )
    colour[ys, xs] += 0.08 * (1 - c.look.windows)  # glass catches the sky
    lit = table[key & 8191] < c.look.windows * occupancy[idx[xs]] * (1.0 - 0.4 * haze)
    warm = (table[(key + 17) & 8191] < 0.7)[lit][:, None]
    fade = 1.0 - haze * 0.6
    light = np.where(warm, _col("#ffcf7a"), _col("#bfe0ff")) * 0.85 * fade
    ly_lit, lx_lit = ys[lit], xs[lit]

    region = c.img[rows]
    region += (colour - region) * alpha[..., None]
    lights = emissive[rows]
    lights[ly_lit, lx_lit] += light * alpha[ly_lit, lx_lit][:, None]
    if neon:
        _neon_signs(c, rng, rows, ridge, edges, idx, lights, fade)


def _neon_signs(
    c: Canvas,
    rng: np.random.Generator,
    rows: slice,
    ridge: np.ndarray,
    edges: np.ndarray,
    idx: np.ndarray,
    lights: np.ndarray,
    fade: float,
) -> None:
    """Roof-edge strips and vertical signs on some buildings, in a few saturated colours."""
    n = edges.size - 1
    palette = np.array([_hex(h) for h in NEON_COLOURS], np.float32)
    pick = palette[rng.integers(0, len(palette), n)][idx]
    has_strip = (rng.random(n) < 0.35)[idx]
    has_sign = (rng.random(n) < 0.3)[idx]
    v = c.v[rows][:, None]
    below = v - ridge[None, :]
    strip = has_strip[None, :] & (below > 0) & (below < 0.0035)
    sign_x = edges[idx] + (edges[idx + 1] - edges[idx]) * 0.18
    sign_col = has_sign & (np.abs(c.u - sign_x) < 0.0035)
    sign_top = ridge + 0.02
    sign = sign_col[None, :] & (v > sign_top[None, :]) & (v < sign_top[None, :] + 0.07)
    lights += (strip | sign)[..., None] * pick[None, :, :] * 1.1 * fade


def paint_ground(c: Canvas, kind: str) -> list[np.ndarray]:
    """Rolling layers from the horizon to the bottom (hills, dunes or a plain); returns ridges
    so trees and rivers can follow them."""
    sand = kind == "desert"
    base = _col(TERRAIN["sand"] if sand else TERRAIN["grass"])
    if c.scene.weather == "snow":
        base = base * 0.3 + _col(TERRAIN["snow"]) * 0.7
    specs = ((-0.01, 0.05, 0.3, 1.6), (0.07, 0.07, 0.14, 1.2), (0.19, 0.09, 0.03, 0.9))
    amp_scale = 0.35 if kind == "plain" else 1.0
    ridges = []
    for k, (offset, amp, haze, freq) in enumerate(specs):
        shape = _ridge(c, f"ground{k}", freq, 4 + c.detail, 0.8 if sand else 0.1)
        ridge = c.hz + offset + amp * amp_scale * (0.6 - shape)
        ridges.append(ridge)
        if "forest" in c.scene.elements:
            paint_trees(c, ridge + 0.004, f"trees{k}", 0.03 + 0.035 * k, haze)
        rows = c.rows(float(ridge.min()), 1.0)
        shade_base = base * (1.0 - 0.12 * k)
        colour = _shade_land(
            c,
            ridge,
            rows,
            shade_base,
            haze,
            bottom=1.5,
            relief=2.5 if sand else 1.2,
            falloff=0.05,
            texture=f"grass{k}",
        )
        if sand:
            colour = colour * _dune_ripples(c, rows, ridge)[..., None]
        c.fill(ridge, colour, rows)
    return ridges


def _dune_ripples(c: Canvas, rows: slice, ridge: np.ndarray) -> np.ndarray:
    """Wind ripples in sand: faint stripes that follow the dune crest."""
    depth = c.v[rows][:, None] - ridge[None, :]
    wob = c.noise.fbm1d("ripple_wob", (c.u + 2) * 8, 2, extent=34)[None, :] * 0.02
    return 0.985 + 0.015 * np.sin((depth + wob) * 300.0)


def paint_far_shore(c: Canvas) -> np.ndarray:
    """Low hills on the far side of the water, with trees when the prompt has a forest."""
    shape = _ridge(c, "shore", 2.2, 4 + c.detail, 0.2)
    ridge = c.hz - 0.012 - 0.045 * shape
    if "forest" in c.scene.elements:
        paint_trees(c, ridge + 0.003, "shoretrees", 0.035, 0.35)
    rows = c.rows(float(ridge.min()), c.hz + 0.01)
    colour = _shade_land(c, ridge, rows, _col(TERRAIN["grass"]) * 0.7, 0.35, bottom=c.hz + 0.01)
    c.fill(ridge, colour, rows)
    return ridge


def paint_islands(c: Canvas) -> None:
    """A few islands on the waterline, nearer ones larger and less hazy."""
    rng = c.noise.rng("islands")
    for k in range(int(rng.integers(2, 5))):
        centre = rng.uniform(-0.2, 0.2) if k == 0 else rng.uniform(-0.9, 0.9)
        width = rng.uniform(0.08, 0.2) * (1.4 if k == 0 else 1.0)
        height = width * rng.uniform(0.25, 0.45)
        t = np.clip(1 - ((c.u - centre) / width) ** 2, 0, 1) ** 0.6
        bumps = c.noise.fbm1d(f"island{k}", (c.u + 2) * 25, 3, extent=110)
        shape = t * height * (0.8 + 0.4 * bumps)
        ridge = np.where(shape > 0, c.hz - shape, c.hz + 0.01)
        if not np.any(shape > 0):
            continue
        if "forest" in c.scene.elements or "islands" in c.scene.elements:
            trees = _tree_profile(c, f"palms{k}", 0.012, 0.018, 0.7) * (t > 0.2)
            ridge = np.minimum(ridge, ridge - trees)
        haze = 0.45 if k else 0.2
        rows = c.rows(float(ridge.min()), c.hz + 0.005)
        colour = _shade_land(c, ridge, rows, _col(TERRAIN["island"]), haze, bottom=c.hz)
        c.fill(ridge, colour, rows)


# --------------------------------------------------------------------------------------------
# Water
# --------------------------------------------------------------------------------------------

# kind -> (reflectivity far, near, ripple size, vertical smear)
WATER_KINDS: dict[str, tuple[float, float, float, float]] = {
    "lake": (0.96, 0.78, 0.0035, 0.001),
    "sea": (0.92, 0.5, 0.018, 0.01),
    "river": (0.9, 0.7, 0.008, 0.006),
    "street": (0.65, 0.3, 0.0008, 0.05),
}


def paint_water(c: Canvas, kind: str, mask: np.ndarray | None = None) -> None:
    """Mirror everything above the waterline, displaced by perspective-scaled ripples, fresnel-
    blended with the water's colour, plus a glitter path under the sun or moon."""
    y0 = c.hz_row
    rows = slice(y0, c.h)
    if y0 >= c.h:
        return
    far_r, near_r, ripple, smear = WATER_KINDS[kind]
    if c.scene.weather in ("rain", "storm") and kind == "street":
        far_r, near_r = 0.8, 0.55
    d = np.maximum(c.v[rows] - c.hz, 0.0)
    w = 1.0 / (d + 0.03)  # perspective depth: ripple bands shrink towards the horizon
    x = (c.u + 2) * (40.0 if kind == "street" else 3.0)
    ext_x = 170 if kind == "street" else 14
    n1 = c.noise.fbm2d("ripple_x" + kind, x, w * 3, 3 + c.detail, extent=(ext_x, 110))
    if kind == "street":  # wet tarmac smears reflections into vertical streaks
        n2 = c.noise.fbm2d("ripple_y" + kind, (c.u + 2) * 90, w * 0.6, 3, extent=(370, 25))
    else:
        n2 = c.noise.fbm2d("ripple_y" + kind, (c.u + 2) * 2.0, w * 9, 3, extent=(10, 310))
    scale = (d / 0.4 * c.h)[:, None]  # ripples grow towards the viewer
    dx = (n1 - 0.5) * 2.0 * ripple * scale
    dy = (n2 - 0.5) * 2.0 * smear * scale
    src_y = (2 * y0 - 1 - np.arange(y0, c.h))[:, None] + dy
    src_x = np.arange(c.w)[None, :] + dx
    reflection = _gather(c.img[:y0], np.clip(src_y, 0, y0 - 1), src_x)
    if kind == "street":  # wet tarmac: reflections smear into vertical streaks
        r = max(1, round(c.h * 0.012))
        reflection = _box_blur(_box_blur(reflection, r, axes=(0,)), r, axes=(0,))
    fresnel = (near_r + (far_r - near_r) * np.exp(-d / 0.18))[:, None, None]
    deep = _col(c.look.water) * 0.8 + _col(c.look.horizon) * 0.1
    if kind == "street":
        deep = _col("#14151c") * _col(c.look.light) * 2.0 + 0.02
    colour = deep + (reflection - deep) * fresnel
    near = np.clip(d / 0.12, 0, 1)[:, None]
    colour = colour * (1.0 + 0.14 * (n2 - 0.5) * near)[..., None]
    colour = colour + _glitter(c, rows, d, w, kind)
    rough = "waves" in c.scene.elements or c.scene.weather == "storm"
    if rough and kind == "sea":
        colour = colour + _wave_foam(c, rows, d, w)
    if mask is None:
        c.img[rows] = colour
    else:
        region = c.img[rows]
        region += (colour - region) * mask[..., None]


def _glitter(c: Canvas, rows: slice, d: np.ndarray, w: np.ndarray, kind: str) -> np.ndarray:
    """Sparkles in a widening band below the light: the sun's path on water."""
    lu, lv = c.light_pos
    strength = 0.0
    if "sun" in c.scene.elements and lv < c.hz:
        strength = 0.6 + 0.6 * float(np.clip(1 - (c.hz - lv) / 0.3, 0, 1))
    elif "moon" in c.scene.elements and c.night:
        strength = 0.55
    if c.scene.weather in SUN_HIDDEN_BY:
        strength *= 0.3
    if strength == 0.0 or kind == "street":
        return np.zeros((1, 1, 3), np.float32)
    width = (0.012 + 0.28 * d)[:, None]
    band = np.exp(-(((c.u - lu)[None, :] / width) ** 2))
    spark = c.noise.fbm2d("glitter", (c.u + 2) * 220, w * 40, 2, extent=(300, 400))
    spark = _smoothstep(0.62, 0.8, spark)
    light = _col(c.look.sun) if "sun" in c.scene.elements and not c.night else _col("#dfe6ff")
    soft = 0.35 if kind != "street" else 0.1
    return (band * (spark + soft * 0.4) * strength)[..., None] * light


def _wave_foam(c: Canvas, rows: slice, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Breaking crests: bright lines in perspective, thicker near the viewer, and shore foam."""
    n = c.noise.fbm2d("waves", (c.u + 2) * 2.5, w * 2.2, 3 + c.detail, extent=(11, 80))
    crest = _smoothstep(0.6, 0.72, n) * np.clip(d / 0.25, 0, 1)[:, None]
    shore = _smoothstep(0.86, 0.95, c.v[rows])[:, None] * _smoothstep(
        0.4, 0.6, c.noise.fbm2d("foam", (c.u + 2) * 8, c.v[rows] * 30, 3, extent=(34, 31))
    )
    foam = np.clip(crest * 0.55 + shore, 0, 1)
    return foam[..., None] * (_col("#f2f6f8") * _col(c.look.light) * 0.9)


def paint_river(c: Canvas, ridges: list[np.ndarray]) -> None:
    """A river winding from behind the far hills towards the viewer, widening with nearness."""
    start = float(np.median(ridges[0])) if ridges else c.hz
    rows = slice(c.hz_row, c.h)
    v = c.v[rows]
    t = np.clip((v - start) / (1.0 - start), 0, 1)
    meander = c.noise.fbm1d("river", t * 3.0 + 1.0, 3, extent=8)
    centre = c.scene.sun_x * 0.5 + (meander - 0.5) * 0.9 * (0.2 + t)
    half = 0.003 + 0.16 * t**1.7
    mask = np.clip((half[:, None] - np.abs(c.u[None, :] - centre[:, None])) * c.h, 0, 1)
    mask *= (v > start)[:, None]
    paint_water(c, "river", mask)


def paint_foreground(c: Canvas) -> None:
    """A near shore for lakes (dark, with trees) or a sandy beach for seas by the desert."""
    el = c.scene.elements
    if "lake" in el:
        shape = c.noise.fbm1d("nearshore", (c.u + 2) * 2.5, 4 + c.detail, extent=12)
        ridge = 0.945 + (0.5 - shape) * 0.05
        if "forest" in el:
            clumps = _smoothstep(
                0.55, 0.7, c.noise.fbm1d("neartrees", (c.u + 2) * 1.2, 2, extent=6)
            )
            trees = _tree_profile(c, "neartrees", 0.05, 0.3, 0.95) * clumps
            ridge = ridge - trees
        reeds = _smoothstep(0.5, 0.62, c.noise.fbm1d("reedclumps", (c.u + 2) * 4, 2, extent=18))
        ridge = ridge - _tree_profile(c, "reeds", 0.003, 0.03, 0.55, slim=0.04) * reeds
        rows = c.rows(float(ridge.min()), 1.0)
        colour = _shade_land(c, ridge, rows, _col(TERRAIN["shore"]), 0.0, bottom=1.5, relief=0.3)
        c.fill(ridge, colour, rows)
    elif "desert" in el:
        shape = c.noise.fbm1d("beach", (c.u + 2) * 1.5, 4 + c.detail, extent=8)
        ridge = 0.88 + (0.5 - shape) * 0.05
        rows = c.rows(float(ridge.min()), 1.0)
        colour = _shade_land(c, ridge, rows, _col(TERRAIN["beach"]), 0.0, bottom=1.5)
        c.fill(ridge, colour, rows)


# --------------------------------------------------------------------------------------------
# Weather overlays
# --------------------------------------------------------------------------------------------


def paint_fog(c: Canvas) -> None:
    """Banks of fog thickest at the horizon, drifting in horizontal wisps."""
    wisps = c.noise.fbm2d("fog", (c.u + 2) * 2, c.v * 9, 3 + c.detail, extent=(9, 10))
    near_hz = np.exp(-np.abs(c.v - c.hz) / 0.12)[:, None]
    amount = np.clip(c.fog * (0.25 + 0.75 * near_hz) * (0.6 + 0.8 * wisps), 0, 0.92)
    tone = _col(c.look.haze) * 0.7 + _col(c.look.horizon) * 0.3
    c.img += (tone - c.img) * amount[..., None]


def paint_rain(c: Canvas) -> None:
    """Two sheets of slanted streaks: noise stretched vertically, then sheared row by row."""
    heavy = 1.4 if c.scene.weather == "storm" else 1.0
    tone = _col(c.look.horizon) * 0.5 + 0.45
    for k, (fx, fy, alpha) in enumerate(((260.0, 4.0, 0.16), (140.0, 2.5, 0.22))):
        n = c.noise.fbm2d(f"rain{k}", (c.u + 2) * fx, c.v * fy, 1, extent=(4 * fx + 4, fy + 2))
        streak = _smoothstep(0.8 - 0.05 * heavy, 0.97, n)
        shift = np.rint(c.v * c.h * 0.18).astype(np.intp)
        cols = (np.arange(c.w)[None, :] + shift[:, None]) % c.w
        streak = np.take_along_axis(streak, cols, axis=1)
        c.img += (tone - c.img) * (streak * alpha * heavy)[..., None]
    c.img *= 0.95


def paint_snow(c: Canvas) -> None:
    """Soft flakes of two sizes: points splatted then blurred into discs."""
    rng = c.noise.rng("snow")
    for size, count in ((0.0016, 1400), (0.004, 260)):
        xs = np.rint(c.to_px(rng.uniform(-1.5, 1.5, count))).astype(np.intp)
        ys = (rng.random(count) * c.h).astype(np.intp)
        keep = (xs >= 0) & (xs < c.w)
        layer = np.zeros((c.h, c.w), np.float32)
        np.add.at(layer, (ys[keep], xs[keep]), 1.0)
        r = max(1, round(size * c.h))
        layer = _box_blur(_box_blur(layer, r), r) * (2 * r + 1) ** 2 * 0.45
        c.img += (0.96 - c.img) * np.clip(layer, 0, 0.9)[..., None]


def paint_lightning(c: Canvas) -> None:
    """A forked bolt from the cloud base to the ground, and the flash it throws on the sky."""
    rng = c.noise.rng("lightning")
    top, bottom = 0.08, c.hz + 0.01
    steps = rng.normal(0, 0.012, 90).cumsum()
    start = rng.uniform(-0.25, 0.25)
    rows = c.rows(top, bottom)
    v = c.v[rows]
    path = start + np.interp((v - top) / (bottom - top), np.linspace(0, 1, 90), steps)
    dist = np.abs(c.u[None, :] - path[:, None])
    core = np.exp(-dist * c.h / 1.2)
    halo = np.exp(-dist / 0.03) * 0.25
    c.img[rows] += (core + halo)[..., None] * _col("#e8e4ff")
    flash = np.exp(-np.hypot(c.u[None, :] - start, c.v[:, None] - top) / 0.35) * 0.25
    c.img += flash[..., None] * _col("#c8c8ff")


def paint_vaporwave_grid(c: Canvas) -> None:
    """The perspective neon grid over the ground plane, magenta fading to cyan."""
    rows = slice(c.hz_row, c.h)
    d = np.maximum(c.v[rows] - c.hz, 1e-3)[:, None]
    depth = 0.25 / d
    across = c.u[None, :] / d * 0.5
    line_h = np.abs(((depth + 0.5) % 1.0) - 0.5) / (0.25 / d**2 / c.h + 1e-6)
    line_v = np.abs(((across * 8 + 0.5) % 1.0) - 0.5) / (4.0 / d / c.h)
    lines = np.clip(1.5 - np.minimum(line_h, line_v), 0, 1) * np.clip(d / 0.05, 0, 1)
    colour = (
        _col("#ff3bd4") + (_col("#33e8ff") - _col("#ff3bd4")) * np.clip(d / 0.4, 0, 1)[..., None]
    )
    c.img[rows] += lines[..., None] * colour * 0.9


# --------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------


def compose(c: Canvas, report: Callable[[float], None]) -> None:
    """Paint back to front; ``report`` receives this stage's progress in 0..1."""
    el = c.scene.elements
    paint_sky(c)
    if "stars" in el or c.look.stars > 0.3:
        paint_stars(c)
    if "aurora" in el:
        paint_aurora(c)
    if "planets" in el:
        paint_planets(c)
    if "moon" in el:
        paint_moon(c)
    if "sun" in el and c.sun[1] < c.hz:
        paint_sun(c)
    report(0.2)
    paint_clouds(c)
    if c.scene.weather == "storm":
        paint_lightning(c)
    report(0.35)
    _paint_landscape(c, report)
    if c.fog > 0.1:
        paint_fog(c)
    if "vaporwave" in c.scene.styles:
        paint_vaporwave_grid(c)
    if c.scene.weather in ("rain", "storm"):
        paint_rain(c)
    if c.scene.weather == "snow":
        paint_snow(c)
    report(0.75)


def _paint_landscape(c: Canvas, report: Callable[[float], None]) -> None:
    el = c.scene.elements
    open_water = bool(el & {"sea", "lake"})
    city_street = "city" in el and not open_water and not el & {"hills", "desert", "forest"}
    has_ground = not open_water and not city_street
    if "mountains" in el:
        paint_mountains(c, 3 if open_water else 2, c.hz + (0.0 if open_water else 0.03))
    if "city" in el:
        paint_city(c)
    report(0.5)
    if open_water:
        if el & {"hills", "forest"}:
            paint_far_shore(c)
        if "islands" in el:
            paint_islands(c)
        paint_water(c, "sea" if "sea" in el else "lake")
        paint_foreground(c)
    elif city_street:
        paint_water(c, "street")
    if has_ground:
        kind = "desert" if "desert" in el else "hills" if el & {"hills", "forest"} else "plain"
        ridges = paint_ground(c, kind)
        if "river" in el:
            paint_river(c, ridges)
    report(0.65)


# --------------------------------------------------------------------------------------------
# Grading (at render resolution) and styles (at output resolution)
# --------------------------------------------------------------------------------------------


def _hue_rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate hues around the grey axis (Rodrigues' rotation); keeps brightness."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    k = (1 - cos) / 3
    s = sin / math.sqrt(3)
    m = np.array(
        [[cos + k, k - s, k + s], [k + s, cos + k, k - s], [k - s, k + s, cos + k]], np.float32
    )
    return img @ m.T


def _split_tone(img: np.ndarray, shadow: str, highlight: str, strength: float) -> np.ndarray:
    """Map brightness onto a shadow-to-highlight colour ramp, keeping luminance."""
    lum = _luma(img)[..., None]
    lo, hi = _col(shadow), _col(highlight)
    tone = lo + (hi - lo) * lum
    tone = tone * (lum / np.maximum(_luma(tone)[..., None], 1e-3))
    return img + (tone - img) * strength


def _vignette(c: Canvas, img: np.ndarray, strength: float) -> np.ndarray:
    aspect = c.w / c.h
    x = c.u[None, :] / (aspect / 2)
    y = (c.v[:, None] - 0.5) * 2
    r2 = (x * x + y * y) / 2
    return img * (1 - strength * r2)[..., None]


def grade(c: Canvas) -> np.ndarray:
    """Scene-wide colour: unknown-word hue shift, palette, mood, and the colour styles."""
    s = c.scene
    img = c.img
    if s.hue_shift:
        img = _hue_rotate(img, s.hue_shift)
    if s.palette in PALETTE_GRADES:
        lo, hi, strength = PALETTE_GRADES[s.palette]
        img = _split_tone(img, lo, hi, strength)
    if "vaporwave" in s.styles:
        img = _split_tone(img, "#2a0a5e", "#7ff6ff", 0.35)
        img = _split_tone(img, "#3a0a40", "#ff7ad0", 0.25)
    if "cinematic" in s.styles:
        img = _cinematic(c, img)
    mg = MOOD_GRADES[s.mood]
    lum = _luma(img)[..., None]
    img = lum + (img - lum) * mg.saturation
    img = (img - 0.45) * mg.contrast + 0.45
    img = img * mg.brightness
    img = img + (1.0 - img) * mg.lift
    return np.clip(_vignette(c, img, 0.14), 0.0, 1.0)


def _cinematic(c: Canvas, img: np.ndarray) -> np.ndarray:
    """Teal shadows, warm highlights, an S-curve, bloom and a heavier vignette."""
    img = np.clip(img, 0, 1.5)
    bright = np.clip(img - 0.7, 0, None)
    img = img + _glow_blur(bright, c.h * 0.03) * 0.8
    img = _split_tone(img, "#06303c", "#ffc58a", 0.28)
    curved = np.clip(img, 0, 1)
    img = img + (curved * curved * (3 - 2 * curved) - img) * 0.35
    return _vignette(c, img, 0.22)


def _style_low_poly(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat-shaded triangles over a jittered grid, each the colour under its centroid."""
    h, w = img.shape[:2]
    cell = max(h, w) / 30
    nx, ny = math.ceil(w / cell) + 1, math.ceil(h / cell) + 1
    gx, gy = np.meshgrid(np.linspace(0, w, nx), np.linspace(0, h, ny))
    jitter = rng.uniform(-0.38, 0.38, (2, ny, nx)) * cell
    jitter[0][:, [0, -1]] = 0
    jitter[1][[0, -1], :] = 0
    px, py = gx + jitter[0], gy + jitter[1]
    flip = rng.random((ny - 1, nx - 1)) < 0.5
    tris = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a, b, cc, d = (j, i), (j, i + 1), (j + 1, i + 1), (j + 1, i)
            tris += [(a, b, d), (b, cc, d)] if flip[j, i] else [(a, b, cc), (a, cc, d)]
    corners = np.array(tris)  # (T, 3, 2) of (row, col)
    xs, ys = px[corners[..., 0], corners[..., 1]], py[corners[..., 0], corners[..., 1]]
    soft = _box_blur(img, max(1, int(cell / 6)))
    colours = _gather(soft, ys.mean(1), xs.mean(1))
    colours *= (1 + rng.normal(0, 0.035, len(tris)))[:, None]
    colours = np.clip(colours * 255 + 0.5, 0, 255).astype(np.uint8)
    canvas = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(canvas)
    for tri_x, tri_y, col in zip(xs.tolist(), ys.tolist(), colours.tolist(), strict=True):
        draw.polygon(list(zip(tri_x, tri_y, strict=True)), fill=tuple(col))
    return np.asarray(canvas, np.float32) / 255


def _style_oil(img: np.ndarray, noise: Noise) -> np.ndarray:
    """Brush strokes: smear along a flowing direction field, vary the dabs, emboss bristles."""
    h, w = img.shape[:2]
    u = (np.arange(w) - w / 2) / h
    v = np.arange(h) / h
    flow = noise.fbm2d("oil:angle", (u + 2) * 2.5, v * 2.5, 3, extent=(11, 4))
    angle = (flow - 0.47) * math.pi * 1.3
    length = max(2.0, h * 0.012)
    dx, dy = np.cos(angle) * length, np.sin(angle) * length
    rng = noise.rng("style:oil")
    bristle = rng.random((h, w), dtype=np.float32)
    cell = max(2, round(h / 80))
    dabs = rng.random((h // cell + 1, w // cell + 1), dtype=np.float32)
    dabs = np.ascontiguousarray(np.repeat(np.repeat(dabs, cell, axis=0), cell, axis=1)[:h, :w])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros_like(img)
    streak = np.zeros((h, w), np.float32)
    dab = np.zeros((h, w), np.float32)
    taps = np.linspace(-1.0, 1.0, 5)
    pixels, bristles, dab_cells = _flat_pixels(img), bristle.ravel(), dabs.ravel()
    for t in taps:
        flat = _flat_index((h, w), yy + dy * t, xx + dx * t)
        acc += np.take(pixels, flat, axis=0)
        streak += np.take(bristles, flat)
        dab += np.take(dab_cells, flat)
    img, streak, dab = acc / len(taps), streak / len(taps), dab / len(taps)
    relief = (streak - np.roll(streak, 1, axis=1)) + (streak - np.roll(streak, 1, axis=0))
    lum = _luma(img)[..., None]
    img = (lum + (img - lum) * 1.12) * (0.93 + 0.14 * dab)[..., None]
    return img * (1 + 0.3 * relief)[..., None]


def _style_watercolour(img: np.ndarray, noise: Noise) -> np.ndarray:
    """Soft washes: blur, bleed, pigment pooling at edges, blotches, then paper grain.

    Washes have no fine detail, so they are computed at half size (4x cheaper) and only the
    paper texture is made at full resolution.
    """
    h, w = img.shape[:2]
    sh, sw = max(2, h // 2), max(2, w // 2)
    small = _resize_float(img, sw, sh, Image.Resampling.BOX)
    u = (np.arange(sw) - sw / 2) / sh
    v = np.arange(sh) / sh
    r = max(1, round(sh * 0.003))
    soft = _box_blur(_box_blur(small, r), r)
    bleed = noise.fbm2d("wc:bleed", (u + 2) * 12, v * 12, 3, extent=(50, 14))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    shift = (bleed - 0.5) * sh * 0.012
    soft = _gather(soft, yy + shift, xx - shift)
    soft = soft * 0.6 + (np.round(soft * 7) / 7) * 0.4  # pigment settles in a few values
    edge = np.abs(soft - _glow_blur(soft, sh * 0.008)).sum(axis=2, keepdims=True)
    pigment = (1 - soft) * (1 + np.clip(edge * 3.0, 0, 0.6))
    blots = noise.fbm2d("wc:blot", (u + 2) * 3, v * 3, 3, extent=(14, 5))
    pigment *= (0.72 + 0.3 * blots)[..., None]
    pigment = _resize_float(np.clip(pigment, 0, 1), w, h, Image.Resampling.BILINEAR)
    paper = np.random.default_rng(int.from_bytes(noise.digest[8:16], "little")).random(
        (h, w), dtype=np.float32
    )
    pigment *= (0.9 + 0.2 * _box_blur(paper, 1))[..., None]
    return (1 - pigment * 0.88) * np.array([0.99, 0.97, 0.93], np.float32)


def _resize_float(
    img: np.ndarray, width: int, height: int, resample: Image.Resampling
) -> np.ndarray:
    """Resize a float RGB image in [0, 1] through 8-bit Pillow (ample for soft effects)."""
    resized = _to_image(img).resize((width, height), resample)
    return np.asarray(resized, np.float32) / 255


def _style_line_art(img: np.ndarray) -> np.ndarray:
    """Ink outlines from brightness edges, hatching in the shadows, a faint colour wash."""
    h, w = img.shape[:2]
    lum = _box_blur(_luma(img), max(1, round(h / 700)))
    gy, gx = np.gradient(lum)
    grad = np.hypot(gx, gy) * (h / 512)
    ink = _smoothstep(0.012, 0.05, grad)
    yy, xx = np.mgrid[0:h, 0:w]
    spacing = max(4, round(h / 110))
    hatch = ((xx + yy) % spacing) < max(1, spacing // 4)
    cross = ((xx - yy) % spacing) < max(1, spacing // 4)
    dark = _smoothstep(0.32, 0.12, lum)
    darker = _smoothstep(0.22, 0.05, lum)
    shade = np.maximum(hatch * dark * 0.75, cross * darker * 0.8)
    lines = np.clip(np.maximum(ink, shade), 0, 1)[..., None]
    paper = np.array([0.97, 0.95, 0.9], np.float32)
    wash = paper + (img - paper) * 0.22
    return wash * (1 - lines) + np.array([0.1, 0.1, 0.14], np.float32) * lines


def _style_pixel(img: np.ndarray) -> np.ndarray:
    """Downsample to chunky pixels, quantise to a small palette, scale back with hard edges."""
    h, w = img.shape[:2]
    block = max(2, round(max(h, w) / 160))
    small = _to_image(img).resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
    small = small.quantize(colors=28, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    big = small.convert("RGB").resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(big, np.float32) / 255


def _style_grain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clumpy luminance grain strongest in the midtones, with slightly lifted, warm blacks."""
    h, w = img.shape[:2]
    n = rng.standard_normal((h, w), dtype=np.float32)
    n = 0.65 * n + 0.9 * _box_blur(n, 1)
    lum = _luma(img)
    amount = 0.055 * (0.35 + 2.6 * lum * (1 - lum))
    img = img + (n * amount)[..., None]
    return img * 0.95 + np.array([0.035, 0.028, 0.02], np.float32)


def apply_styles(rgb: np.ndarray, scene: Scene, noise: Noise) -> np.ndarray:
    """Post-process uint8 RGB with the scene's styles in a fixed, composable order."""
    styles = scene.styles
    if not styles & {"low_poly", "oil_paint", "watercolour", "line_art", "pixel_art", "film_grain"}:
        return rgb
    img = rgb.astype(np.float32) / 255
    if "low_poly" in styles:
        img = _style_low_poly(img, noise.rng("style:lowpoly"))
    if "oil_paint" in styles:
        img = _style_oil(img, noise)
    if "watercolour" in styles:
        img = _style_watercolour(img, noise)
    if "line_art" in styles:
        img = _style_line_art(img)
    if "pixel_art" in styles:
        img = _style_pixel(img)
    if "film_grain" in styles:
        img = _style_grain(img, noise.rng("style:grain"))
    return _to_u8(img)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _to_image(img: np.ndarray) -> Image.Image:
    return Image.fromarray(_to_u8(img) if img.dtype != np.uint8 else img)


# --------------------------------------------------------------------------------------------
# Public rendering entry points
# --------------------------------------------------------------------------------------------

QUALITIES = ("draft", "final")
DRAFT_MAX_SIDE = 640  # drafts with a longer side render at this size and scale up
FINAL_SCALE = 0.75  # finals render at 3/4 size, then Lanczos-upscale and sharpen
MIN_SIDE, MAX_SIDE = 32, 2048


def seed_digest(prompt: str, negative_prompt: str, seed: int) -> bytes:
    """Everything random derives from this. Size and quality are deliberately left out, so a
    draft previews its final and aspect ratios crop one scene."""
    text = f"vivid-procedural/1\x00{prompt.strip()}\x00{negative_prompt.strip()}\x00{int(seed)}"
    return hashlib.sha256(text.encode()).digest()


def render_scene(
    prompt: str,
    negative_prompt: str = "",
    seed: int = 0,
    width: int = 1024,
    height: int = 1024,
    quality: str = "final",
    *,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Render the prompt's scene as a (height, width, 3) uint8 array.

    Pure and deterministic: the same arguments always give the same pixels. ``progress``, if
    given, receives increasing fractions below 1.0 and may raise to stop the render.
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, not {quality!r}")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(f"size {width}x{height} is outside {MIN_SIDE}..{MAX_SIDE}")
    report = progress or (lambda _f: None)
    scene = parse_prompt(prompt, negative_prompt)
    noise_digest = seed_digest(prompt, negative_prompt, seed)
    if quality == "final":
        scale, detail = FINAL_SCALE, 2
    else:
        scale, detail = min(1.0, DRAFT_MAX_SIDE / max(width, height)), 0
    rw, rh = max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))
    canvas = Canvas(scene, noise_digest, rw, rh, detail)
    report(0.05)
    compose(canvas, report)
    rgb = _to_u8(grade(canvas))
    report(0.82)
    if (rw, rh) != (width, height):
        rgb = _resize(rgb, width, height, sharpen=quality == "final")
    report(0.9)
    return apply_styles(rgb, scene, canvas.noise)


def _resize(rgb: np.ndarray, width: int, height: int, *, sharpen: bool) -> np.ndarray:
    """Scale the render to the requested size. Finals render smaller (most of the cost is
    per pixel) and recover crispness with Lanczos and an unsharp mask; drafts just stretch."""
    image = Image.fromarray(rgb)
    if sharpen:
        image = image.resize((width, height), Image.Resampling.LANCZOS)
        image = image.filter(ImageFilter.UnsharpMask(radius=1.6, percent=70, threshold=2))
    else:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes; Pillow writes no timestamps, so equal pixels give equal bytes.

    Level 3 encodes about twice as fast as the default 6 for files ~15% larger: at 1024px
    the default costs as much as painting the picture."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _dimensions(ratio: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Same rule as the generation service: long side by quality, short side a multiple of 8."""
    w, h = ratio
    if w >= h:
        return long_side, int(long_side * h / w) // 8 * 8
    return int(long_side * w / h) // 8 * 8, long_side


_RATIOS = ((1, 1), (16, 9), (9, 16), (4, 5))


class ProceduralBackend(GenerationBackend):
    """Paints landscapes from prompts with NumPy: no downloads, no weights, deterministic."""

    name = "Procedural"
    model = "vivid-procedural"
    version = "1"
    kinds = ("image",)
    sizes = tuple(_dimensions(r, side) for side in (1024, 512) for r in _RATIOS)

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        """Render ``count`` variations (seed, seed+1, ...) of one scene as PNGs."""
        self._check(request)
        summary = parse_prompt(request.prompt, request.negative_prompt).summary()
        files: list[GeneratedFile] = []
        progress(0.0)
        for i in range(request.count):
            seed = request.seed + i

            def step(fraction: float, i: int = i) -> None:
                progress((i + fraction * 0.97) / request.count)

            try:
                rgb = render_scene(
                    request.prompt,
                    request.negative_prompt,
                    seed,
                    request.width,
                    request.height,
                    request.quality,
                    progress=step,
                )
                data = encode_png(rgb)
            except (GenerationCanceled, BackendError):
                raise
            except Exception as exc:  # a bug here should fail the job, not the worker
                logger.exception("procedural render failed")
                raise BackendError("The procedural painter failed on this prompt.") from exc
            files.append(
                GeneratedFile(
                    data=data,
                    mime="image/png",
                    width=request.width,
                    height=request.height,
                    extra={"seed": seed, "scene": summary},
                )
            )
            progress((i + 1) / request.count)
        return files

    def _check(self, request: GenerationRequest) -> None:
        if request.kind not in self.kinds:
            raise BackendError(f"The procedural backend cannot make {request.kind}s yet.")
        if not 1 <= request.count <= 4:
            raise BackendError("Ask for between 1 and 4 images.")
        if request.quality not in QUALITIES:
            raise BackendError("Quality must be draft or final.")
        w, h = request.width, request.height
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            raise BackendError(f"The procedural backend cannot make {w}x{h} images.")

"""Reading a prompt: small vocabulary tables, and the parser that turns words into a ``Scene``.

Every choice is derived from SHA-256 digests, never from Python's ``hash()`` (salted per process),
so the same prompt reads the same way in any process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache

from apps.generation.backends.procedural.looks import TIME_LOOKS

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

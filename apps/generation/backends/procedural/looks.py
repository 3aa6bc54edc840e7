"""Looks: the colours of each time of day, adjusted by weather, mood and palette."""

from __future__ import annotations

from dataclasses import dataclass, replace

from apps.generation.backends.procedural.arrays import RGB, as_rgb, hex_rgb, luma, mix_rgb


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
    return Look(**{k: hex_rgb(v) if isinstance(v, str) else v for k, v in kw.items()})  # type: ignore[arg-type]


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


def weathered(look: Look, weather: str) -> Look:
    """Grey the sky and dim the sun for overcast weather, keeping the time's brightness."""
    if weather not in OVERCAST:
        return look
    amount, grey_hex = OVERCAST[weather]
    brightness = min(1.1, max(0.07, float(luma(as_rgb(look.mid))) / 0.62))
    grey = tuple(c * brightness for c in hex_rgb(grey_hex))

    def dim(rgb: RGB, k: float = 1.0) -> RGB:
        return mix_rgb(rgb, grey, amount * k)  # type: ignore[arg-type]

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

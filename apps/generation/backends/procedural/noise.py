"""Deterministic value noise on lattices addressed in scene units.

One child generator per layer, so adding octaves (final quality) never reshuffles the coarse
shapes a draft showed.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

LATTICE_CAP = 1024  # cells per axis per octave: bounds memory and time for fine noise


def _axis(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice indices either side of each coordinate (wrapping) and smoothstep weights."""
    c = np.asarray(coords, dtype=np.float64)
    f = np.floor(c)
    t = (c - f).astype(np.float32)
    i0 = f.astype(np.int64) % n
    return i0, (i0 + 1) % n, t * t * (3.0 - 2.0 * t)


def octave_weight(strength: float, k: int) -> float:
    """How far a variation of ``strength`` (0..1) moves octave ``k`` of a noise field.

    The coarsest octaves carry the composition (where ridges, shores and cloud banks are), so
    they move least: at full strength octave 0 turns a quarter of the way, octave 3 and finer
    all the way. A variation keeps the layout and changes the details."""
    return float(strength) * min(1.0, (k + 1) / 4)


def _blend(base: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """Turn lattice values ``weight`` (0..1) of the way from ``base`` towards ``other``.

    An angular mix keeps the spread of the values (a plain average would flatten them)."""
    angle = weight * math.pi / 2
    mixed = 0.5 + (base - 0.5) * math.cos(angle) + (other - 0.5) * math.sin(angle)
    return np.clip(mixed, 0.0, 1.0).astype(np.float32)


def _rng(digest: bytes, name: str) -> np.random.Generator:
    sub = hashlib.sha256(digest + b"/" + name.encode()).digest()
    return np.random.default_rng(int.from_bytes(sub[:16], "little"))


class Noise:
    """Deterministic noise fields derived from one digest.

    ``variations`` ((digest, strength) pairs, applied in order) perturb the lattices of the
    fractal fields, fine octaves more than coarse ones (``octave_weight``): the picture of a
    variation keeps its composition. Discrete choices (``rng``) are never varied."""

    def __init__(self, digest: bytes, variations: tuple[tuple[bytes, float], ...] = ()) -> None:
        self.digest = digest
        self.variations = tuple((d, s) for d, s in variations if s > 0)

    def rng(self, name: str) -> np.random.Generator:
        """An independent generator per purpose; order of use does not matter."""
        return _rng(self.digest, name)

    def _lattice(self, rng: np.random.Generator, name: str, k: int, shape) -> np.ndarray:
        lattice = rng.random(shape, dtype=np.float32)
        for digest, strength in self.variations:
            weight = octave_weight(strength, k)
            if weight > 0:
                other = _rng(digest, f"{name}:{k}").random(shape, dtype=np.float32)
                lattice = _blend(lattice, other, weight)
        return lattice

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
            lattice = self._lattice(rng, name, k, n)
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
            lattice = self._lattice(rng, name, k, (ny, nx))
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

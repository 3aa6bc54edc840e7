"""Near-copy search over every stored asset's perceptual hash, fast at a million assets.

A copy found in the wild is rarely byte-identical: it was re-encoded, resized, cropped a little or
recoloured. ``Asset.phash`` (``apps.media.images.perceptual_hash``: the signs of the 8x8 lowest
DCT frequencies of a 32x32 grey thumbnail) changes little under those edits, so a copy is a hash
within a small Hamming distance of the original's. Measured on procedural scenes (768x768, ten
prompts): JPEG quality 40-70 after a resize to 1/2 or 1/3 gives 0-2 bits; a WebP thumbnail 0;
greyscale, sepia, half saturation 0-2; +20 % brightness or +30 % contrast 0-8; a 40° hue turn
0-8 (one scene 20); a centred crop of 5 % on each side 8-14 and 5 % off one corner 2-18;
a mirror 26-36. Unrelated scenes were 18-38 apart (those pictures share a lot of structure;
photos spread wider). Hence ``MAX_DISTANCE = 12``: every re-encode, resize and recolour, most light
crops, and no unrelated picture seen.

Multi-index hashing (Norouzi, Punjani and Fleet, CVPR 2012) makes that search sublinear: split
the 64 bits into m bands; two hashes within distance d agree within ⌊d/m⌋ bits on at least one
band (pigeonhole). The paper picks m ≈ 64 / log2(N): for N = 1,000,000 that is four bands of 16
bits, where an exact band value holds N / 65536 ≈ 15 rows on average. Eight bands of 8 bits
would reach distance 7 with exact lookups, but each value then holds N / 256 ≈ 3,900 rows: about
31,000 candidates a query at a million assets, 2.5 MB read per lookup. Instead each of the four
16-bit bands is probed at its own value and every value within 2 bits of it (1 + 16 + 120 = 137
values a band, 548 index probes in one statement): that finds every hash within distance
4 x 3 - 1 = 11 for certain, and one at distance 12 unless its 12 differing bits fall exactly 3
into each band (about 2 % of such pairs). With uniform hashes that is about 8,400 candidates,
and the index holds each row's whole hash (``INCLUDE``), so PostgreSQL checks the distance
(``bit_count`` of the XOR) in the index-only scan and returns only the few that pass. The
figures at a million assets are in tests/bench/provenance_match.py.

Clips are indexed by their poster frame (the frame ``Asset.phash`` is of) and frames at 25, 50
and 75 % of their length, so a screenshot of a clip or a re-cut copy finds it too.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q

from apps.media.models import Asset
from apps.provenance.fingerprints import KEYFRAME_AT, keyframe_hashes  # noqa: F401
from apps.provenance.matching_models import PerceptualKey

BANDS = 4
BAND_BITS = 16
# Each band is also probed at the values this many bits away (see the module docstring).
PROBE_RADIUS = 2
MAX_DISTANCE = 12
# At most this many nearest frames are looked at per query hash (a crowd of near-identical
# pictures must not make one lookup read thousands of rows).
MAX_CANDIDATES = 500

_MASK = (1 << BAND_BITS) - 1
_FLIPS = tuple(
    sum(1 << b for b in bits)
    for r in range(PROBE_RADIUS + 1)
    for bits in itertools.combinations(range(BAND_BITS), r)
)


@dataclass(frozen=True)
class Near:
    """An indexed frame near a query hash."""

    asset_id: int
    frame: int
    distance: int


def parse(phash: str) -> int:
    """A 16-hex-digit hash as an unsigned 64-bit integer."""
    return int(phash, 16)


def signed(h: int) -> int:
    """The unsigned 64-bit hash as PostgreSQL's signed ``bigint`` holds it."""
    return h - (1 << 64) if h >= 1 << 63 else h


def unsigned(h: int) -> int:
    return h + (1 << 64) if h < 0 else h


def bands_of(h: int) -> list[int]:
    """The four 16-bit bands of a hash, most significant first."""
    return [(h >> (BAND_BITS * (BANDS - 1 - i))) & _MASK for i in range(BANDS)]


def probes(value: int) -> list[int]:
    """A band value and every value within ``PROBE_RADIUS`` bits of it."""
    return [value ^ flip for flip in _FLIPS]


# --- writing the index ---------------------------------------------------------------------


def frame_rows(asset_id: int, hashes: Sequence[str]) -> list[PerceptualKey]:
    """The index rows of an asset whose frame ``i`` has hash ``hashes[i]``."""
    rows = []
    for frame, phash in enumerate(hashes):
        if not phash:
            continue
        h = parse(phash)
        rows.extend(
            PerceptualKey(asset_id=asset_id, frame=frame, band=band, value=value, hash=signed(h))
            for band, value in enumerate(bands_of(h))
        )
    return rows


def asset_index(*, asset: Asset, data: bytes | None = None) -> int:
    """Put an asset's frames in the near-copy index (replacing what it had); returns the number
    of frames indexed. ``data`` is the original's bytes when the caller has them (a clip's
    keyframes are decoded from it); otherwise they are read from storage.

    Called when an asset is stored and when its facts are filled in, and by
    ``manage.py perceptual_index`` for assets stored before the index existed.
    """
    if not asset.phash:
        return 0
    hashes = [asset.phash]
    if asset.kind == Asset.Kind.VIDEO:
        if data is None:
            from django.core.files.storage import default_storage

            with default_storage.open(asset.original, "rb") as f:
                data = f.read()
        from apps.media import video

        duration = asset.duration_s or video.probe(data).duration_s
        hashes += keyframe_hashes(data, duration)
    with transaction.atomic():
        PerceptualKey.objects.filter(asset_id=asset.id).delete()
        PerceptualKey.objects.bulk_create(frame_rows(asset.id, hashes))
    return len(hashes)


def assets_unindexed():
    """Assets without index rows (stored before the index existed, or before their perceptual
    hash was computed), oldest first."""
    return (
        Asset.objects.filter(perceptual_keys__isnull=True)
        .order_by("id")
        .only("id", "kind", "phash", "fps", "original", "duration_s", "placeholder")
    )


# --- looking up ----------------------------------------------------------------------------


def near(
    phash: str, *, max_distance: int = MAX_DISTANCE, limit: int = MAX_CANDIDATES
) -> list[Near]:
    """Indexed frames within ``max_distance`` of ``phash``, nearest first (at most ``limit``).

    Whatever the visibility of their assets: the caller keeps only what its viewer may see.
    """
    h = parse(phash)
    if connection.vendor == "postgresql":
        return _near_postgresql(h, max_distance, limit)
    return _near_portable(h, max_distance, limit)


def _near_postgresql(h: int, max_distance: int, limit: int) -> list[Near]:
    table = PerceptualKey._meta.db_table
    # One index-only scan per band (UNION ALL keeps them so); the distance is computed from the
    # hash stored in the index entry, and only frames that pass come back.
    branches = " UNION ALL ".join(
        f"SELECT asset_id, frame, hash FROM {table} WHERE band = {band} AND value = ANY(%s)"
        for band in range(BANDS)
    )
    sql = (
        f"SELECT asset_id, frame, bit_count((hash # %s)::bit(64)) AS distance "
        f"FROM ({branches}) AS candidates "
        f"WHERE bit_count((hash # %s)::bit(64)) <= %s "
        f"GROUP BY asset_id, frame, hash ORDER BY distance, asset_id LIMIT %s"
    )
    q = signed(h)
    params = [q, *(probes(v) for v in bands_of(h)), q, max_distance, limit]
    # The %s placeholders are ordered: the select list's, the four bands', then the filter's.
    # No parallel workers: the scans take a few milliseconds, and starting workers took 40-50 ms
    # on a busy two-core server (the planner reaches for them once the table is large).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(sql, params)
        return [Near(a, f, d) for a, f, d in cursor.fetchall()]


def _near_portable(h: int, max_distance: int, limit: int) -> list[Near]:
    """The same search for SQLite (the embedded mode): the distance is checked in Python."""
    where = Q()
    for band, value in enumerate(bands_of(h)):
        where |= Q(band=band, value__in=probes(value))
    found: dict[tuple[int, int], int] = {}
    for asset_id, frame, stored in PerceptualKey.objects.filter(where).values_list(
        "asset_id", "frame", "hash"
    ):
        distance = (unsigned(stored) ^ h).bit_count()
        if distance <= max_distance:
            found[(asset_id, frame)] = distance
    ranked = sorted(found.items(), key=lambda item: (item[1], item[0][0]))
    return [Near(a, f, d) for (a, f), d in ranked[:limit]]


def linear_scan(phash: str, *, max_distance: int = MAX_DISTANCE) -> list[Near]:
    """Every indexed frame within ``max_distance``, by reading the whole table: the baseline the
    benchmark compares the index with, and a check of its recall."""
    table = PerceptualKey._meta.db_table
    q = signed(parse(phash))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT asset_id, frame, bit_count((hash # %s)::bit(64)) AS distance FROM {table} "
            f"WHERE band = 0 AND bit_count((hash # %s)::bit(64)) <= %s "
            f"ORDER BY distance, asset_id",
            [q, q, max_distance],
        )
        return [Near(a, f, d) for a, f, d in cursor.fetchall()]


def hash_picture(data: bytes) -> str:
    """The perceptual hash of a picture's bytes (a trusted, already cleaned file)."""
    from PIL import Image

    from apps.media import images

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return images.perceptual_hash(im)

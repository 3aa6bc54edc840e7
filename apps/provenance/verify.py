"""Verify any copy: what a file found anywhere says about itself and which Vivid item it is.

Three answers for one upload: its content credentials (``apps.provenance.c2pa.read``), the assets
whose original has exactly its bytes (sha256), and those whose frames are perceptually near it
(``apps.provenance.matching``), each with the Hamming distance. Only what the viewer may see
is named (``Asset.objects.visible_to``), and the best match's record goes out as the viewer may
read it (a hidden prompt stays hidden).

The endpoint is open to anyone, so the file is hostile until proven otherwise:
- it goes through ``apps.media.uploads.inspect_untrusted`` (purpose ``verify``: the one entry
  point for untrusted files; type from the bytes, size, pixel and memory caps, polyglots
  refused, at most a few files per person and address at once) and is never stored;
- every decode (the cleaning, a clip's keyframes, the C2PA parser) runs in a child process of
  ``apps.media.sandbox`` with CPU-time and address-space limits and a deadline, never on a
  thread of the web server: a bomb costs its own child, and a crash is a 400;
- each client address gets ``VERIFY_RATE_LIMIT`` checks per ``VERIFY_RATE_WINDOW_S`` (a Redis
  counter shared by every web process): 429 ``rate_limited`` with ``Retry-After`` beyond.
``examine`` is the one call site of the isolated decode.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy

from apps.core import ratelimit
from apps.core.exceptions import ApplicationError
from apps.media.models import Asset
from apps.provenance import matching

# --- limits ----------------------------------------------------------------------------------


def _setting(name: str, default):
    return getattr(settings, name, default)


def rate_limit_take(*, client: str) -> None:
    """Count one check for ``client`` (an address key) in the current window, or raise 429."""
    ratelimit.rate_limit_take(
        scope="verify",
        key=client,
        limit=int(_setting("VERIFY_RATE_LIMIT", 20)),
        window_s=int(_setting("VERIFY_RATE_WINDOW_S", 60)),
        message="Too many files checked from your address.",
    )


# --- the isolated examination -------------------------------------------------------------


@dataclass(frozen=True)
class Examination:
    """What the sandboxed decoders found in a file."""

    source_mime: str  # what the upload is, from its bytes
    source_sha256: str  # of the bytes as they came
    hashes: list[str]  # perceptual hashes: one for a picture; poster and keyframes for a clip
    c2pa: dict[str, Any] = field(default_factory=dict)


def examine(data: bytes, *, uploader=None) -> Examination:
    """Check and fingerprint an untrusted file; raise ApplicationError (400, 413, 415, or 429
    when too many of this uploader's files are being processed).

    The one call site of the isolated decode. ``apps.media.uploads.inspect_untrusted`` (purpose
    ``verify``) checks the file in a sandboxed child and gives its clean copy and perceptual
    hash; a clip's keyframes and the C2PA manifest are read by the same sandbox's children
    (``apps.provenance.fingerprints``), never in the web process.
    """
    from apps.media import uploads

    facts = uploads.inspect_untrusted(data, purpose="verify", uploader=uploader)
    hashes = [facts.phash] if facts.phash else []
    if facts.mime == "video/mp4" and facts.duration_s:
        hashes += _sandboxed(
            "apps.provenance.fingerprints:untrusted_keyframes",
            facts.data,
            duration_s=facts.duration_s,
        )
    return Examination(
        source_mime=facts.source_mime,
        source_sha256=facts.source_sha256 or hashlib.sha256(data).hexdigest(),
        hashes=hashes,
        c2pa=_credentials(data, facts.source_mime),
    )


def _sandboxed(target: str, data: bytes, **kwargs):
    """Run ``target`` in a child of the uploads sandbox, with the same limits as a cleaning."""
    from apps.media import sandbox, uploads

    wall = settings.MEDIA_UPLOAD_TIME_LIMIT_S
    try:
        result, _ = uploads.pool().run(
            target,
            data,
            cpu_s=float(_setting("VERIFY_CPU_S", settings.MEDIA_UPLOAD_CPU_S)),
            wall_s=wall,
            wait_s=wall,
            **kwargs,
        )
    except sandbox.Busy as e:
        raise ApplicationError(
            "rate_limited",
            gettext_lazy("Too many files are being checked. Try again shortly."),
            retry_after=2,
        ) from e
    except sandbox.LimitExceeded as e:
        if e.what == "memory":
            raise _refused("payload_too_large", "The file needs too much memory to check.") from e
        raise _refused("invalid", "The file took too long to check.") from e
    except sandbox.TaskError as e:
        raise _refused("invalid", "The file cannot be read.") from e
    return result


def _refused(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, fields={"file": [message]})


def _credentials(data: bytes, mime: str) -> dict[str, Any]:
    """The C2PA answer for the bytes as uploaded (the cleaned copy carries no manifest).

    A file whose manifest cannot be read in the sandbox's limits is reported as present and not
    valid rather than refused: its pixels were fine, and the matches still stand."""
    from apps.provenance import credentials

    empty = {"present": False, "valid": False, "claims": {}}
    try:
        found = _sandboxed(
            "apps.provenance.fingerprints:untrusted_credentials",
            data,
            mime=mime,
            trust_anchors=credentials.credentials().trust_anchors or "",
        )
    except ApplicationError as e:
        if e.code == "rate_limited":
            raise
        return {**empty, "present": True, "validation_errors": [{"code": "manifest.unreadable"}]}
    return {
        "present": bool(found.get("present")),
        "valid": bool(found.get("valid")),
        "claims": found.get("claims") or {},
        "record_id": found.get("record_id"),
        "validation_errors": found.get("validation_errors") or [],
    }


# --- the answer ------------------------------------------------------------------------------

# Matches listed per answer, at most (nearest first).
MAX_MATCHES = 20


def verify_file(*, viewer, data: bytes, uploader=None) -> dict[str, Any]:
    """The verification of an uploaded file for ``viewer`` (anyone, signed in or not):
    ``{c2pa, matches, record?}`` as ``POST /api/v1/provenance/verify`` answers it.

    The caller has counted the request against its address's rate limit."""
    started = time.monotonic()
    if not connection.in_atomic_block:
        # The sandbox may take seconds: the request's database connection (taken to read its
        # token) goes back to the pool meanwhile, so slow checks cannot starve other requests.
        connection.close()
    examination = examine(data, uploader=uploader)
    sha = examination.source_sha256
    # asset id -> (method, distance); an exact copy beats any perceptual distance.
    found: dict[int, tuple[str, int]] = {asset_id: ("sha256", 0) for asset_id in _exact_copies(sha)}
    limit = matching.MAX_CANDIDATES
    for phash in examination.hashes:
        for near in matching.near(phash, limit=limit):
            best = found.get(near.asset_id)
            if best is None or (best[0] == "perceptual" and near.distance < best[1]):
                found[near.asset_id] = ("perceptual", near.distance)
    matches = _visible_matches(viewer, found)
    if not matches and len(found) >= limit:
        # A crowd of near-identical items the viewer may not see filled the nearest ones:
        # look once more, further, before saying nothing matches.
        for phash in examination.hashes:
            for near in matching.near(phash, limit=limit * 20):
                found.setdefault(near.asset_id, ("perceptual", near.distance))
        matches = _visible_matches(viewer, found)
    answer: dict[str, Any] = {"c2pa": examination.c2pa, "matches": matches}
    record = _best_record(viewer, matches, examination.c2pa)
    if record is not None:
        answer["record"] = record
    answer["file"] = {"mime": examination.source_mime, "sha256": sha, "phash": examination.hashes}
    answer["took_ms"] = round((time.monotonic() - started) * 1000)
    return answer


def _exact_copies(sha: str) -> set[int]:
    """Assets one of whose files has exactly these bytes: the stored original, any served
    variant with its credentials (``CredentialedFile``), or what the backend produced before
    signing (the record's ``asset_sha256``)."""
    from apps.provenance.models import CredentialedFile, ProvenanceRecord

    ids = set(Asset.objects.filter(sha256=sha).values_list("id", flat=True))
    ids.update(CredentialedFile.objects.filter(sha256=sha).values_list("asset_id", flat=True))
    ids.update(ProvenanceRecord.objects.filter(asset_sha256=sha).values_list("asset_id", flat=True))
    return ids


def _visible_matches(viewer, found: dict[int, tuple[str, int]]) -> list[dict[str, Any]]:
    from apps.posts.models import Post
    from apps.provenance.selectors import record_ids_for_assets

    if not found:
        return []
    visible = dict(Asset.objects.visible_to(viewer).filter(id__in=found).values_list("id", "kind"))
    records = record_ids_for_assets(asset_ids=visible)
    posts: dict[int, int] = {}
    for post_id, asset_id in (
        Post.objects.visible_to(viewer)
        .filter(asset_id__in=visible)
        .order_by("id")
        .values_list("id", "asset_id")
    ):
        posts.setdefault(asset_id, post_id)  # the first post that showed it
    ranked = sorted(
        visible, key=lambda a: (found[a][0] != "sha256", found[a][1], a not in posts, a)
    )
    return [
        {
            "provenance_id": str(records[a]) if a in records else None,
            "method": found[a][0],
            "distance": found[a][1],
            "asset_id": str(a),
            "kind": visible[a],
            "post_id": str(posts[a]) if a in posts else None,
            "post_url": f"/p/{posts[a]}" if a in posts else None,
        }
        for a in ranked[:MAX_MATCHES]
    ]


def _best_record(viewer, matches: list[dict[str, Any]], c2pa: dict[str, Any]) -> dict | None:
    """The provenance record of the best match that has one, as ``viewer`` may read it; else
    the record a valid credential names, when the viewer may see it."""
    from apps.provenance import selectors

    candidates = [m["provenance_id"] for m in matches if m["provenance_id"]]
    if c2pa.get("valid") and c2pa.get("record_id"):
        candidates.append(str(c2pa["record_id"]))
    for record_id in candidates:
        try:
            record = selectors.record_get_visible(record_id=int(record_id), viewer=viewer)
        except (ApplicationError, ValueError):
            continue
        return record_view(record=record, viewer=viewer)
    return None


def record_view(*, record, viewer) -> dict[str, Any]:
    """A record as ``GET /api/v1/provenance/{id}`` shows it to ``viewer`` (hidden prompts null)."""
    from apps.provenance.selectors import prompt_visible
    from apps.provenance.serializers import record_data

    hidden = not prompt_visible(record=record, viewer=viewer)
    return record_data(record, viewer=viewer, prompt_hidden=hidden)


def read_upload(request) -> bytes:
    """The ``file`` part of a multipart request, refused past the cap from its declared length
    before the body is read, and never kept (a spooled temporary file is closed at once)."""
    from apps.media import uploads

    cap = min(uploads.PURPOSES["verify"].max_bytes, settings.MEDIA_UPLOAD_MAX_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap + 64 * 1024:  # room for the multipart envelope
        raise _refused("payload_too_large", f"The file is larger than {cap // 1024} KiB.")
    upload = request.FILES.get("file")
    if upload is None:
        raise _refused("invalid", "Send the file to check as the multipart field 'file'.")
    if upload.size > cap:
        upload.close()
        raise _refused("payload_too_large", f"The file is larger than {cap // 1024} KiB.")
    buffer = io.BytesIO()
    for chunk in upload.chunks():
        buffer.write(chunk)
    upload.close()
    return buffer.getvalue()

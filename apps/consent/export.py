"""The training-set export: only what its authors allowed, with its provenance and checksums.

Layout of the folder written by ``manage.py export_training_set DIR``::

    files/<sha256>.<ext>   each original exactly as stored (with its content credentials)
    items.jsonl            one JSON object per line and item: the post, the file, provenance
    SHA256SUMS             ``sha256sum -c`` format, covering every file and items.jsonl

What goes in is decided by ``apps.consent.selectors.training_export_posts`` (public, not taken
down, ``training_use`` on and not withdrawn since, depicting nobody but the author) and by the
remix family: a remix goes in only while each ancestor still allows training use. A hidden
prompt is never written: such items carry no prompt and no negative prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from apps.consent import selectors

_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
}
# A remix family deeper than this is cut off (and its deeper members left out).
MAX_ANCESTORS = 50


def _ancestors_allow(post) -> bool:
    from apps.posts.models import Post

    parent_id, seen = post.remix_of_id, 0
    while parent_id is not None:
        seen += 1
        parent = Post.objects.filter(id=parent_id).first()
        if parent is None:  # deleted by its author: nothing of theirs is left to withhold
            return True
        if seen > MAX_ANCESTORS or not selectors.training_consent_holds(post=parent):
            return False
        parent_id = parent.remix_of_id
    return True


def _provenance(post, asset) -> dict[str, Any]:
    """The item's provenance: its signed record when there is one, else the job's fields."""
    hidden = post.hide_prompt
    record = None
    try:
        from apps.provenance.selectors import record_for_asset
    except ImportError:  # pragma: no cover - provenance not installed
        record_for_asset = None
    if record_for_asset is not None:
        record = record_for_asset(asset=asset)
    if record is not None:
        out = {
            "record_id": str(record.id),
            "record_hash": record.record_hash,
            "prev_hash": record.prev_hash,
            "signature": record.signature,
            "key_id": record.key_id,
            "chain": record.chain,
            "seq": record.seq,
            "op": record.op,
            "backend": record.backend,
            "model": record.model_name,
            "model_version": record.model_version,
            "params": record.params,
            "seed": record.seed,
            "parents": record.parents,
            "likeness_consents": record.likeness_consents,
            "created_at": record.created_at.isoformat(),
            "prompt_commitment": record.prompt_commitment,
            "negative_prompt_commitment": record.negative_prompt_commitment,
        }
        if not hidden:
            out["prompt"] = record.prompt
            out["negative_prompt"] = record.negative_prompt
            out["prompt_salt"] = record.prompt_salt  # lets anyone check the commitment
        return out
    job = asset.job
    if job is None:
        return {"record_id": None}
    out = {
        "record_id": None,
        "job_id": str(job.id),
        "op": job.op,
        "backend": job.backend,
        "params": job.params,
        "seed": job.seed,
        "created_at": job.created_at.isoformat(),
    }
    if not hidden:
        out["prompt"] = job.prompt
        out["negative_prompt"] = job.negative_prompt
    return out


def training_set_export(*, directory: str | os.PathLike, progress: bool = True) -> dict[str, int]:
    """Write the training set into ``directory`` (created if need be; files in it are replaced).

    Returns counts: ``items`` written, ``skipped`` (a remix whose family withdrew consent, or an
    original missing from storage).
    """
    from tqdm import tqdm

    root = Path(directory)
    (root / "files").mkdir(parents=True, exist_ok=True)
    posts = selectors.training_export_posts()
    sums: list[tuple[str, str]] = []
    written = skipped = 0
    seen_files: set[str] = set()
    with (
        open(root / "items.jsonl", "w", encoding="utf-8") as lines,
        tqdm(
            total=posts.count(),
            desc="training set",
            unit="item",
            disable=not progress,
            file=sys.stderr,
        ) as bar,
    ):
        for post in posts.iterator(chunk_size=500):
            bar.update(1)
            asset = post.asset
            if post.remix_of_id and not _ancestors_allow(post):
                skipped += 1
                continue
            try:
                with default_storage.open(asset.original, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, OSError):
                skipped += 1
                continue
            sha = hashlib.sha256(data).hexdigest()
            name = f"files/{sha}.{_EXT.get(asset.mime, 'bin')}"
            if name not in seen_files:
                (root / name).write_bytes(data)
                seen_files.add(name)
                sums.append((sha, name))
            item = {
                "post_id": str(post.id),
                "asset_id": str(asset.id),
                "file": name,
                "sha256": sha,
                "mime": asset.mime,
                "kind": asset.kind,
                "width": asset.width,
                "height": asset.height,
                "duration_s": asset.duration_s,
                "author": post.author.username,
                "caption": post.caption,
                "published_at": post.created_at.isoformat(),
                "remix_of": str(post.remix_of_id) if post.remix_of_id else None,
                "provenance": _provenance(post, asset),
            }
            lines.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
            written += 1
    items_sha = hashlib.sha256((root / "items.jsonl").read_bytes()).hexdigest()
    sums.append((items_sha, "items.jsonl"))
    (root / "SHA256SUMS").write_text("".join(f"{sha}  {name}\n" for sha, name in sums))
    return {"items": written, "skipped": skipped}

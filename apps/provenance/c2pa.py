"""C2PA content credentials: signing Vivid's files and reading anyone's.

What a Vivid manifest says, and nothing more:
- ``c2pa.actions``: ``c2pa.created`` for a generation, or ``c2pa.opened`` (the source, a
  ``parentOf`` ingredient) followed by ``c2pa.edited`` / ``c2pa.resized`` / ``c2pa.transcoded``
  for edits and served variants, with ``digitalSourceType`` trainedAlgorithmicMedia on the
  action that made the pixels;
- the claim generator (Vivid and its version);
- ``org.vivid.provenance``: the provenance record's id and hash, which is where the prompt,
  model, parameters and consents live, behind the record's own visibility rules.

What it never says: the prompt or negative prompt (a hidden prompt must never ship inside a
file, so no prompt goes in at all), a thumbnail (c2pa makes one by default: turned off, it would
be a second copy of the picture that outlives edits to the visible one), and no timestamp
authority (no network call on every signature; the certificate's validity is checked at the
time of reading instead). Ingredients carry a fixed title (``original``, ``input 2``), never a
file name.

Formats: PNG, JPEG, WebP, AVIF and MP4 are all supported by c2pa-python 0.38 (c2pa-rs 0.91)
for both signing and reading; AVIF and MP4 use the BMFF hash (``c2pa.hash.bmff.v3``), the
others a data hash with the manifest's bytes excluded.

Cost, measured in ``tests/bench/c2pa.py``: about 6 ms for a 512x512 draft PNG (13 ms with
c2pa's verify-after-sign, which is therefore off); the ES256 signature itself is microseconds,
the rest is parsing, hashing and writing the file. The ``Context`` and ``Signer`` are made once
per process and thread, never per file.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import c2pa

from apps.provenance import credentials

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ASSERTION_LABEL = "org.vivid.provenance"
SUPPORTED = ("image/png", "image/jpeg", "image/webp", "image/avif", "video/mp4")

Action = Literal["c2pa.created", "c2pa.edited", "c2pa.resized", "c2pa.transcoded"]
# Validation codes that mean the file's bytes are not the ones that were signed.
HASH_MISMATCH_CODES = (
    "assertion.dataHash.mismatch",
    "assertion.bmffHash.mismatch",
    "assertion.boxesHash.mismatch",
    "assertion.collectionHash.mismatch",
)


@dataclass(frozen=True)
class Ingredient:
    """A file this one was made from: the first of a signature's ingredients is its parent
    (``parentOf``), the rest are components (stitched clips)."""

    data: bytes
    mime: str
    title: str = "original"


class CredentialError(Exception):
    """The file could not be signed (unsupported format, or c2pa refused it)."""


_local = threading.local()


def _settings() -> dict[str, Any]:
    creds = credentials.credentials()
    return {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {
            # Checking each file again right after signing doubled the cost of a signature;
            # the round trip of every format is tested instead (tests/provenance/test_c2pa*).
            "verify_after_sign": False,
            "verify_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        "trust": {"user_anchors": creds.trust_anchors} if creds.trust_anchors else {},
    }


def _tools() -> tuple[c2pa.Context, c2pa.Signer]:
    """This thread's c2pa context and signer (native handles are not shared across threads,
    nor across a fork: a worker child makes its own)."""
    tools = getattr(_local, "tools", None)
    if tools is None or tools[0] != os.getpid():
        creds = credentials.credentials()
        context = c2pa.Context.from_dict(_settings())
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                creds.alg, creds.cert_chain.encode(), creds.private_key.encode(), None
            )
        )
        tools = _local.tools = (os.getpid(), context, signer)
    return tools[1], tools[2]


def reset() -> None:
    """Forget the cached context, signer and credentials (after a settings change)."""
    _local.tools = None
    credentials.credentials.cache_clear()


def manifest_definition(
    *,
    mime: str,
    record_id: int | str,
    record_hash: str,
    generator_name: str,
    generator_version: str,
    action: Action,
    ingredient_count: int,
    rendition: str,
) -> dict[str, Any]:
    """The manifest Vivid signs: see the module docstring for what it holds and leaves out."""
    made = {"action": action, "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    if action == "c2pa.created":
        if ingredient_count:
            raise CredentialError("A created file has no source ingredients.")
        actions = [made]
    else:
        if not ingredient_count:
            raise CredentialError(f"{action} needs the source as an ingredient.")
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["ingredient-0"]}}]
        if ingredient_count > 1:
            others = [f"ingredient-{i}" for i in range(1, ingredient_count)]
            actions.append({"action": "c2pa.placed", "parameters": {"ingredientIds": others}})
        actions.append(made)
    return {
        "claim_generator_info": [{"name": generator_name, "version": generator_version}],
        "title": f"vivid-{record_id}-{rendition}",
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {
                "label": ASSERTION_LABEL,
                "data": {
                    "record_id": str(record_id),
                    "record_hash": record_hash,
                    "rendition": rendition,
                },
            },
        ],
    }


def sign(
    data: bytes,
    mime: str,
    *,
    record_id: int | str,
    record_hash: str,
    generator_name: str = "Vivid",
    generator_version: str,
    action: Action,
    ingredients: Sequence[Ingredient] = (),
    rendition: str = "original",
) -> bytes:
    """The file with a signed C2PA manifest embedded (any earlier manifest is replaced).

    Sign last: any re-encode afterwards drops or breaks the credential."""
    if mime not in SUPPORTED:
        raise CredentialError(f"Content credentials are not made for {mime}.")
    definition = manifest_definition(
        mime=mime,
        record_id=record_id,
        record_hash=record_hash,
        generator_name=generator_name,
        generator_version=generator_version,
        action=action,
        ingredient_count=len(ingredients),
        rendition=rendition,
    )
    context, signer = _tools()
    out = io.BytesIO()
    try:
        with c2pa.Builder(definition, context) as builder:
            for i, ingredient in enumerate(ingredients):
                builder.add_ingredient(
                    {
                        "title": ingredient.title,
                        "relationship": "parentOf" if i == 0 else "componentOf",
                        "label": f"ingredient-{i}",
                    },
                    ingredient.mime,
                    io.BytesIO(ingredient.data),
                )
            builder.sign(signer, mime, io.BytesIO(data), out)
    except c2pa.C2paError as e:
        raise CredentialError(str(e)) from e
    return out.getvalue()


def read(data: bytes, mime: str) -> dict[str, Any]:
    """What a file's content credentials say, checked against the trusted anchors.

    ``present``: a manifest is embedded; ``valid``: its signature and hashes hold and the
    signer chains to a trusted anchor; ``claims``: a short summary of the active manifest;
    ``record_id``/``record_hash``: Vivid's provenance reference when the file carries one and
    is valid (``None`` otherwise: an unverified reference proves nothing); ``validation_errors``:
    the failure codes and explanations."""
    result: dict[str, Any] = {
        "present": False,
        "valid": False,
        "claims": {},
        "record_id": None,
        "record_hash": None,
        "validation_errors": [],
    }
    context, _ = _tools()
    try:
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return result
    except c2pa.C2paError.NotSupported as e:
        result["validation_errors"] = [{"code": "format.unsupported", "explanation": str(e)}]
        return result
    except c2pa.C2paError as e:
        message = str(e)
        if "could not be parsed" in message:  # not a file of that format at all
            result["validation_errors"] = [{"code": "file.unreadable", "explanation": message}]
            return result
        # A manifest is there but broken (truncated, altered structure).
        result["present"] = True
        result["validation_errors"] = [{"code": "manifest.unreadable", "explanation": message}]
        return result
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    result["present"] = bool(manifest)
    failures = [
        {"code": f.get("code", ""), "explanation": f.get("explanation", "")}
        for f in ((store.get("validation_results") or {}).get("activeManifest") or {}).get(
            "failure", []
        )
    ]
    if not failures and state not in ("Valid", "Trusted"):
        failures = [
            {"code": f.get("code", ""), "explanation": f.get("explanation", "")}
            for f in store.get("validation_status") or []
        ]
    result["validation_errors"] = failures
    result["valid"] = state == "Trusted" and not failures
    result["claims"] = _claims(manifest, state)
    reference = result["claims"].get("vivid") or {}
    if result["valid"]:
        result["record_id"] = reference.get("record_id")
        result["record_hash"] = reference.get("record_hash")
    return result


def _claims(manifest: dict[str, Any], state: str | None) -> dict[str, Any]:
    """The parts of a manifest a person checking a file cares about."""
    if not manifest:
        return {}
    actions, vivid = [], None
    for assertion in manifest.get("assertions", []):
        label = assertion.get("label", "")
        if label.startswith("c2pa.actions"):
            for a in assertion.get("data", {}).get("actions", []):
                actions.append({k: a[k] for k in ("action", "digitalSourceType") if k in a})
        elif label == ASSERTION_LABEL:
            data = assertion.get("data", {})
            vivid = {k: data.get(k) for k in ("record_id", "record_hash", "rendition")}
    signature = manifest.get("signature_info") or {}
    return {
        "state": state,
        "generator": [
            {"name": g.get("name"), "version": g.get("version")}
            for g in manifest.get("claim_generator_info", [])
        ],
        "actions": actions,
        "ai_generated": any(
            a.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA for a in actions
        ),
        "ingredients": [
            {"title": i.get("title"), "relationship": i.get("relationship")}
            for i in manifest.get("ingredients", [])
        ],
        "signer": signature.get("common_name") or signature.get("issuer"),
        "issuer": signature.get("issuer"),
        "vivid": vivid,
    }

"""Content credentials on their own: signing and reading every format Vivid serves, tampering,
foreign signers, the local CA and its replacement by settings."""

from __future__ import annotations

import io
import json
import multiprocessing
import struct
import zlib
from pathlib import Path

import c2pa as c2pa_lib
import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image

from apps.media import video
from apps.provenance import c2pa, credentials

RECORD_ID = 123456789012345678
RECORD_HASH = "ab" * 32


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    """Each test gets its own local CA (made on first use), as a fresh installation would."""
    settings.C2PA_KEYS_DIR = tmp_path / "keys" / "c2pa"
    c2pa.reset()
    yield
    c2pa.reset()


def picture(fmt: str, size=(96, 64)) -> bytes:
    ramp = np.linspace(0, 255, size[0], dtype=np.uint8)
    rgb = np.stack([np.tile(ramp, (size[1], 1))] * 3, axis=2)
    rgb[:, :, 2] = 90
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt)
    return out.getvalue()


def clip() -> bytes:
    frames = [np.full((64, 96, 3), i * 10, np.uint8) for i in range(12)]
    return video.encode(frames, width=96, height=64, quality="draft")


FILES = {
    "image/png": lambda: picture("PNG"),
    "image/jpeg": lambda: picture("JPEG"),
    "image/webp": lambda: picture("WEBP"),
    "image/avif": lambda: picture("AVIF"),
    "video/mp4": clip,
}


def signed(data: bytes, mime: str, **changes) -> bytes:
    args = {
        "record_id": RECORD_ID,
        "record_hash": RECORD_HASH,
        "generator_version": "9.8.7",
        "action": "c2pa.created",
        **changes,
    }
    return c2pa.sign(data, mime, **args)


def manifest_store(data: bytes, mime: str) -> dict:
    with c2pa_lib.Reader(mime, io.BytesIO(data)) as reader:
        return json.loads(reader.json())


def has_key(tree, key: str) -> bool:
    if isinstance(tree, dict):
        return key in tree or any(has_key(v, key) for v in tree.values())
    if isinstance(tree, list):
        return any(has_key(v, key) for v in tree)
    return False


def png_with_pixel_changed(data: bytes) -> bytes:
    """The same PNG, credential chunk and all, with one value of its first pixel changed: the
    pixels are written back into a new IDAT (unfiltered rows) and every other chunk is kept."""
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB"
        pixels = np.asarray(im).copy()
    pixels[0, 0, 0] ^= 0x01
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    out, written = [data[:8]], False
    for kind, body in chunks:
        if kind == b"IDAT":
            if written:
                continue
            body, written = zlib.compress(rows), True
        crc = zlib.crc32(kind + body)
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc))
    return b"".join(out)


@pytest.mark.parametrize("mime", list(FILES))
def test_a_signed_file_reads_back_valid_and_names_its_record(mime):
    original = FILES[mime]()
    data = signed(original, mime)
    assert data != original

    result = c2pa.read(data, mime)
    assert result["present"] and result["valid"], result["validation_errors"]
    assert result["record_id"] == str(RECORD_ID) and result["record_hash"] == RECORD_HASH
    claims = result["claims"]
    assert claims["state"] == "Trusted"
    assert claims["generator"] == [{"name": "Vivid", "version": "9.8.7"}]
    assert claims["actions"] == [
        {"action": "c2pa.created", "digitalSourceType": c2pa.TRAINED_ALGORITHMIC_MEDIA}
    ]
    assert claims["ai_generated"] and claims["ingredients"] == []
    assert claims["signer"] == "Vivid content credentials"

    # No thumbnail anywhere in the manifest store, and no timestamp authority's countersignature.
    store = manifest_store(data, mime)
    assert not has_key(store, "thumbnail")
    assert b"c2pa.thumbnail" not in data
    signature = store["manifests"][store["active_manifest"]]["signature_info"]
    assert "time" not in signature  # only a TSA's timestamp sets it

    # The file still decodes as before.
    if mime.startswith("image/"):
        with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(original)) as b:
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    else:
        assert video.probe(data).frames == video.probe(original).frames


def test_a_png_with_one_pixel_changed_is_invalid():
    data = signed(picture("PNG"), "image/png")
    tampered = png_with_pixel_changed(data)
    with Image.open(io.BytesIO(tampered)) as a, Image.open(io.BytesIO(data)) as b:
        diff = np.asarray(a, dtype=int) - np.asarray(b, dtype=int)
        assert np.count_nonzero(diff) == 1  # exactly one value of one pixel

    result = c2pa.read(tampered, "image/png")
    assert result["present"] and not result["valid"]
    assert result["record_id"] is None  # an unverified reference is not passed on
    assert {e["code"] for e in result["validation_errors"]} & set(c2pa.HASH_MISMATCH_CODES)


@pytest.mark.parametrize("mime", ["image/webp", "image/avif", "image/jpeg", "video/mp4"])
def test_a_change_to_the_coded_picture_is_invalid(mime):
    data = signed(FILES[mime](), mime)
    # One byte near the end of the coded picture (WebP VP8 data, AVIF and MP4 mdat, JPEG scan).
    marker = {"image/webp": b"VP8", "image/jpeg": b"\xff\xda"}.get(mime, b"mdat")
    start = data.index(marker)
    tampered = bytearray(data)
    tampered[start + 60] ^= 0x01
    result = c2pa.read(bytes(tampered), mime)
    assert result["present"] and not result["valid"]
    assert {e["code"] for e in result["validation_errors"]} & set(c2pa.HASH_MISMATCH_CODES)


def test_a_file_without_credentials_or_not_a_picture_reads_as_absent():
    assert c2pa.read(picture("PNG"), "image/png") == {
        "present": False,
        "valid": False,
        "claims": {},
        "record_id": None,
        "record_hash": None,
        "validation_errors": [],
    }
    junk = c2pa.read(b"not a picture at all", "image/png")
    assert not junk["present"] and not junk["valid"]


def test_a_signer_outside_the_trusted_anchors_is_not_valid(tmp_path):
    """Someone else's CA, with a leaf made exactly like ours: signed, but not trusted here."""
    ca, leaf, key = credentials.issue_local()
    (tmp_path / "chain.pem").write_bytes(leaf + ca)
    (tmp_path / "key.pem").write_bytes(key)
    context = c2pa_lib.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa_lib.Signer.from_info(c2pa_lib.C2paSignerInfo("es256", leaf + ca, key, None))
    definition = c2pa.manifest_definition(
        mime="image/png",
        record_id=1,
        record_hash=RECORD_HASH,
        generator_name="Vivid",
        generator_version="1",
        action="c2pa.created",
        ingredient_count=0,
        rendition="original",
    )
    out = io.BytesIO()
    with c2pa_lib.Builder(definition, context) as builder:
        builder.sign(signer, "image/png", io.BytesIO(picture("PNG")), out)

    result = c2pa.read(out.getvalue(), "image/png")
    assert result["present"] and not result["valid"] and result["record_id"] is None
    assert "signingCredential.untrusted" in {e["code"] for e in result["validation_errors"]}


def test_variants_and_edits_name_their_source_as_ingredient():
    original = signed(picture("PNG"), "image/png")
    thumb = signed(
        picture("WEBP", size=(48, 32)),
        "image/webp",
        action="c2pa.resized",
        ingredients=[c2pa.Ingredient(original, "image/png")],
        rendition="thumb",
    )
    result = c2pa.read(thumb, "image/webp")
    assert result["valid"], result["validation_errors"]
    assert [a["action"] for a in result["claims"]["actions"]] == ["c2pa.opened", "c2pa.resized"]
    assert result["claims"]["ingredients"] == [{"title": "original", "relationship": "parentOf"}]
    assert result["claims"]["vivid"]["rendition"] == "thumb"
    store = manifest_store(thumb, "image/webp")
    assert len(store["manifests"]) == 2  # the original's manifest travels inside

    stitched = signed(
        clip(),
        "video/mp4",
        action="c2pa.edited",
        ingredients=[
            c2pa.Ingredient(signed(clip(), "video/mp4"), "video/mp4"),
            c2pa.Ingredient(clip(), "video/mp4", "input 2"),
        ],
    )
    result = c2pa.read(stitched, "video/mp4")
    assert result["valid"], result["validation_errors"]
    assert [a["action"] for a in result["claims"]["actions"]] == [
        "c2pa.opened",
        "c2pa.placed",
        "c2pa.edited",
    ]
    assert [i["relationship"] for i in result["claims"]["ingredients"]] == [
        "parentOf",
        "componentOf",
    ]

    with pytest.raises(c2pa.CredentialError):
        signed(picture("PNG"), "image/png", action="c2pa.edited")  # an edit without a source


def test_the_local_leaf_passes_the_c2pa_certificate_profile(settings):
    creds = credentials.credentials()
    assert creds.alg == "es256"
    leaf, ca = x509.load_pem_x509_certificates(creds.cert_chain.encode())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.issuer == ca.subject
    folder = Path(settings.C2PA_KEYS_DIR)
    assert (folder / "signer.key").stat().st_mode & 0o077 == 0  # the key is the owner's only
    assert not list(folder.glob("*ca*.key"))  # the CA's key was thrown away


def _make_and_report(folder: str, queue) -> None:
    path = credentials.ensure_local(Path(folder))
    queue.put((path / "signer.pem").read_text())


def test_workers_starting_together_agree_on_one_certificate(tmp_path):
    folder = tmp_path / "race" / "c2pa"
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    workers = [spawn.Process(target=_make_and_report, args=(str(folder), queue)) for _ in range(4)]
    for w in workers:
        w.start()
    chains = {queue.get(timeout=60) for _ in workers}
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert len(chains) == 1
    assert chains == {(folder / "signer.pem").read_text()}
    assert sorted(p.name for p in folder.parent.iterdir()) == ["c2pa"]  # no staging left


def test_a_configured_certificate_replaces_the_local_one(settings, tmp_path):
    ca, leaf, key = credentials.issue_local()
    (tmp_path / "chain.pem").write_bytes(leaf + ca)
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "anchors.pem").write_bytes(ca)
    settings.C2PA_SIGNING_CERT = str(tmp_path / "chain.pem")
    settings.C2PA_SIGNING_KEY = str(tmp_path / "key.pem")
    settings.C2PA_TRUST_ANCHORS = str(tmp_path / "anchors.pem")
    c2pa.reset()

    data = signed(picture("PNG"), "image/png")
    assert c2pa.read(data, "image/png")["valid"]
    store = manifest_store(data, "image/png")
    chain = store["manifests"][store["active_manifest"]]["signature_info"]["cert_serial_number"]
    assert int(chain) == x509.load_pem_x509_certificate(leaf).serial_number
    assert not Path(settings.C2PA_KEYS_DIR).exists()  # no local CA was made

    settings.C2PA_SIGNING_KEY = ""
    c2pa.reset()
    with pytest.raises(RuntimeError):
        credentials.credentials()

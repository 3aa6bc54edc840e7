"""Fixtures for media tests: pictures with metadata, followers, and an S3-compatible server."""

from __future__ import annotations

import io
import socket
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from apps.social.models import Follow


def picture(size=(1600, 1200), seed=0) -> Image.Image:
    """A detailed, photo-like picture (smooth gradients, edges and noise), different per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (37 + seed) + y / 53),
            128 + 100 * np.cos(y / (41 + seed) - x / 71),
            128 + 60 * np.sin((x + y) / 29),
        ],
        axis=2,
    )
    base[(x // 97 + y // 89) % 2 == 0] *= 0.8
    base += rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def png_of(im: Image.Image, **save) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", **save)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


SECRET = b"secret-location-51.5007N"


def png_with_metadata(im: Image.Image) -> bytes:
    """A PNG carrying text, XMP (iTXt), EXIF with GPS (eXIf) and a time chunk before its pixels."""
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 2.5)}  # GPSInfo
    exif[0x010E] = SECRET.decode()  # ImageDescription
    raw = png_of(im)
    ihdr_end = 8 + 12 + 13
    extra = (
        _chunk(b"tEXt", b"Comment\x00" + SECRET)
        + _chunk(
            b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>" + SECRET + b"</x:xmpmeta>"
        )
        + _chunk(b"eXIf", exif.tobytes())
        + _chunk(b"tIME", b"\x07\xea\x01\x01\x00\x00\x00")
    )
    return raw[:ihdr_end] + extra + raw[ihdr_end:]


@pytest.fixture
def follow():
    def do(follower, followee):
        return Follow.objects.create(follower=follower, followee=followee)

    return do


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port, spoken to over real HTTP."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch):
    """Media stored in a fresh bucket on the S3 server, through django-storages."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"vivid-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": True,
            },
        },
    }
    client.bucket = bucket
    return client

"""A corpus of hostile files, made here: bombs, scan bombs, polyglots, lying types, truncations,
video containers posing as pictures, EXIF of the wrong types and metadata that must not survive.

``corpus()`` returns ``Hostile`` entries: the bytes, the name and Content-Type the client claims,
and which answers are right (a status, or a set of them). Everything is generated in memory in
about a second.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

SECRET = b"hostile-secret-51.5007N"
PNG_SIG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    filename: str = "x.png"
    content_type: str = "image/png"
    expect: frozenset[int] = frozenset({200})


def _e(*statuses: int) -> frozenset[int]:
    return frozenset(statuses)


REFUSED = _e(400, 413, 415)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def seg(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def photo(size=(320, 240), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=2).astype(np.int16)
    base += rng.integers(-8, 8, base.shape, dtype=np.int16)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def png_raw(width: int, height: int, *, bit_depth=1, colour=0, idat: bytes | None = None) -> bytes:
    """A PNG whose header claims any size; its pixels all zero (tiny once compressed)."""
    if idat is None:
        row = b"\x00" + b"\x00" * ((width * bit_depth * (3 if colour == 2 else 1) + 7) // 8)
        compressor = zlib.compressobj(9)
        parts = [compressor.compress(row) for _ in range(height)]
        idat = b"".join(parts) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_scan_bomb(side: int = 4096, scans: int = 5000) -> bytes:
    """A progressive greyscale JPEG with thousands of empty AC scans: small on disk, and each scan
    makes libjpeg walk every block of the picture again."""
    small = encode(Image.new("L", (8, 8)), "JPEG", progressive=True, quality=50)
    tables, pos = b"", 2
    while small[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", small[pos + 2 : pos + 4])
        if small[pos + 1] == 0xDB:
            tables += small[pos : pos + 2 + length]
        pos += 2 + length
    one_code = bytes([1] + [0] * 15) + b"\x00"
    dht = seg(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    sof = seg(0xC2, struct.pack(">BHHB", 8, side, side, 1) + bytes([1, 0x11, 0]))
    dc = seg(0xDA, bytes([1, 1, 0x00, 0, 0, 0x00])) + b"\x00"
    ac = seg(0xDA, bytes([1, 1, 0x00, 1, 63, 0x00])) + b"\x00"
    return b"\xff\xd8" + tables + dht + sof + dc + ac * (scans - 1) + b"\xff\xd9"


def exif_blob(entries: list[tuple[int, int, int, bytes]], *, loop: bool = False) -> bytes:
    """A big-endian TIFF/EXIF block with one IFD of (tag, type, count, value) entries; values
    longer than 4 bytes go after the IFD. ``loop`` makes the next-IFD pointer point at itself."""
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd, extra = struct.pack(">H", len(entries)), b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            ifd += struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            ifd += struct.pack(">HHII", tag, kind, count, data_at + len(extra))
            extra += value
    ifd += struct.pack(">I", ifd_at if loop else 0)
    return b"MM\x00\x2a" + struct.pack(">I", ifd_at) + ifd + extra


def jpeg_with_exif(blob: bytes, size=(64, 48)) -> bytes:
    return encode(photo(size), "JPEG", exif=blob, quality=85)


def jpeg_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 2.5), 3: "W", 4: (0.0, 7.0, 28.0)}  # GPS
    exif[0x010E] = SECRET.decode()
    exif[0x0112] = 6
    data = encode(photo((200, 100)), "JPEG", exif=exif.tobytes(), icc_profile=b"ICC" + SECRET)
    xmp = seg(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + SECRET + b"</x:xmpmeta>")
    comment = seg(0xFE, b"comment " + SECRET)
    iptc = seg(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + SECRET)
    return data[:2] + xmp + comment + iptc + data[2:]


def png_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 2.5)}
    exif[0x010E] = SECRET.decode()
    raw = encode(photo((120, 80)), "PNG")
    extra = (
        chunk(b"tEXt", b"Comment\x00" + SECRET)
        + chunk(b"zTXt", b"Secret\x00\x00" + zlib.compress(SECRET))
        + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>" + SECRET + b"</x>")
        + chunk(b"eXIf", exif.tobytes())
        + chunk(b"tIME", b"\x07\xea\x01\x01\x00\x00\x00")
    )
    return raw[:33] + extra + raw[33:]


def gif_with_comment() -> bytes:
    data = encode(photo((40, 30)).convert("P"), "GIF")
    comment = b"\x21\xfe" + bytes([len(SECRET)]) + SECRET + b"\x00"
    return data[:-1] + comment + b"\x3b"


def webp_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()
    return encode(photo((64, 64)), "WEBP", exif=exif.tobytes(), xmp=b"<x>" + SECRET + b"</x>")


def webp_huge_canvas() -> bytes:
    """A VP8X header claiming a 16384x16384 canvas over a tiny picture."""
    small = encode(photo((16, 16)), "WEBP", lossless=True)
    vp8l = small[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little")
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_huge_screen() -> bytes:
    data = bytearray(encode(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def gif_many_frames(frames: int = 3000) -> bytes:
    head = encode(Image.new("P", (4, 4)), "GIF")
    # the first frame's image block (descriptor onwards), repeated
    start = head.index(b"\x2c")
    frame = head[start:-1]
    return head[:start] + frame * frames + b"\x3b"


def mp4_clip(seconds: float = 0.5, size=(64, 48), title: str | None = None) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        with av.open(tmp.name, mode="w") as out:
            if title is not None:
                out.metadata["title"] = title
            stream = out.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            for i in range(max(1, int(seconds * 24))):
                rgb = np.full((size[1], size[0], 3), i * 9 % 256, np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, "rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        with open(tmp.name, "rb") as f:
            return f.read()


def mp4_non_utf8_title() -> bytes:
    marker = "TITLE-PLACEHOLDER-0123456789"
    data = mp4_clip(title=marker)
    latin1 = "Café déjà vu — naïve".encode("latin-1", "replace").ljust(len(marker), b"\xff")
    assert data.count(marker.encode()) >= 1
    return data.replace(marker.encode(), latin1[: len(marker)])


def mp4_hour_long_last_sample() -> bytes:
    """One second of video whose last sample lasts an hour, behind an edit list saying 1 s."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        out = av.open(tmp.name, "w", options={"use_editlist": "1"})
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        packets = []
        for i in range(24):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 9, np.uint8), "rgb24")
            frame.pts = i
            packets += list(stream.encode(frame))
        packets += list(stream.encode(None))
        packets[-1].duration = int(3600 / packets[-1].time_base)
        for packet in packets:
            out.mux(packet)
        out.close()
        with open(tmp.name, "rb") as f:
            data = f.read()
    elst = data.find(b"elst")
    mvhd = data.find(b"mvhd")
    (timescale,) = struct.unpack(">I", data[mvhd + 16 : mvhd + 20])
    at = elst + 12  # version/flags, entry count, then the first segment's duration
    return data[:at] + struct.pack(">I", timescale) + data[at + 4 :]


def corpus() -> list[Hostile]:
    jpg = encode(photo(), "JPEG", quality=85)
    pjpg = encode(photo(), "JPEG", quality=85, progressive=True)
    png = encode(photo(), "PNG")
    gif = encode(photo().convert("P"), "GIF")
    webp = encode(photo(), "WEBP")
    zipped = b"PK\x03\x04" + b"\x14\x00" * 10 + b"\xff\xd9payload\xff\xd9"
    zipped += b"PK\x05\x06" + b"\0" * 18
    html = b"<html><script>alert(document.cookie)</script></html>"
    items = [
        # ordinary files, and files whose name and Content-Type lie about them
        Hostile("jpeg", jpg, "x.jpg", "image/jpeg"),
        Hostile("progressive jpeg", pjpg, "x.jpg", "image/jpeg"),
        Hostile("gif", gif, "x.gif", "image/gif"),
        Hostile("webp", webp, "x.webp", "image/webp"),
        Hostile("png called jpeg", png, "x.jpg", "image/jpeg"),
        Hostile("jpeg called gif", jpg, "x.gif", "image/gif"),
        Hostile("html called png", html, "x.png", "image/png", _e(415)),
        Hostile(
            "svg with script",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
            "x.svg",
            "image/svg+xml",
            _e(415),
        ),
        Hostile(
            "pdf called png",
            b"%PDF-1.7\n%\xe2\xe3\n1 0 obj<<>>endobj\n",
            "x.png",
            "image/png",
            _e(415),
        ),
        Hostile("zip called jpeg", zipped, "x.jpg", "image/jpeg", _e(415)),
        Hostile(
            "elf called gif", b"\x7fELF\x02\x01\x01" + b"\0" * 64, "x.gif", "image/gif", _e(415)
        ),
        Hostile("empty", b"", "x.png", "image/png", _e(400)),
        # video containers as pictures
        Hostile("mp4 called png", mp4_clip(), "x.png", "image/png", _e(415)),
        Hostile(
            "webm",
            b"\x1a\x45\xdf\xa3" + b"\x9f\x42\x86\x81\x01" + b"\0" * 64,
            "x.webm",
            "video/webm",
            _e(415),
        ),
        Hostile(
            "avif",
            b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\0" * 32,
            "x.png",
            "image/png",
            _e(415),
        ),
        Hostile(
            "heic",
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1" + b"\0" * 32,
            "x.jpg",
            "image/jpeg",
            _e(415),
        ),
        Hostile(
            "quicktime",
            b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\0" * 32,
            "x.jpg",
            "image/jpeg",
            _e(415),
        ),
        # bombs
        Hostile("png 12000x12000 (Pillow's bomb)", png_raw(12000, 12000), expect=_e(413)),
        Hostile(
            "png header 65535x65535",
            png_raw(65535, 65535, idat=zlib.compress(b"\0" * 1000)),
            expect=_e(413),
        ),
        Hostile("png 6000x6000 1-bit", png_raw(6000, 6000)),
        Hostile("png 6000x6000 rgb", png_raw(6000, 6000, bit_depth=8, colour=2), expect=_e(413)),
        Hostile(
            "png zTXt bomb",
            encode(photo((16, 16)), "PNG")[:33]
            + chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"\0" * 8_000_000, 9))
            + encode(photo((16, 16)), "PNG")[33:],
            expect=_e(200, 400),
        ),
        Hostile(
            "png iCCP bomb",
            encode(photo((16, 16)), "PNG")[:33]
            + chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"\0" * 8_000_000, 9))
            + encode(photo((16, 16)), "PNG")[33:],
            expect=_e(200, 400),
        ),
        Hostile(
            "png idat zip bomb",
            png_raw(64, 64, idat=zlib.compress(b"\0" * 30_000_000, 9)),
            expect=_e(200, 400),
        ),
        Hostile(
            "jpeg header 60000x60000",
            jpg[:2]
            + seg(0xC0, struct.pack(">BHHB", 8, 60000, 60000, 1) + bytes([1, 0x11, 0]))
            + jpg[2:],
            "x.jpg",
            "image/jpeg",
            REFUSED,
        ),
        Hostile(
            "jpeg 6000x4000",
            encode(Image.new("RGB", (6000, 4000), (9, 99, 199)), "JPEG"),
            "x.jpg",
            "image/jpeg",
        ),
        Hostile("gif screen 65535x65535", gif_huge_screen(), "x.gif", "image/gif", _e(413)),
        Hostile("gif 3000 frames", gif_many_frames(), "x.gif", "image/gif"),
        Hostile(
            "webp canvas 16383x16383", webp_huge_canvas(), "x.webp", "image/webp", _e(413, 400)
        ),
        Hostile("jpeg scan bomb", jpeg_scan_bomb(4096, 5000), "x.jpg", "image/jpeg", _e(400)),
        Hostile("jpeg scan bomb, big", jpeg_scan_bomb(8192, 20000), "x.jpg", "image/jpeg", REFUSED),
        Hostile("jpeg 99 scans", jpeg_scan_bomb(2048, 99), "x.jpg", "image/jpeg"),
        # polyglots: a picture with another file after its end
        Hostile("png + html", png + html, expect=_e(415)),
        Hostile("png + zip", png + zipped, expect=_e(415)),
        Hostile("jpeg + zip", jpg + zipped, "x.jpg", "image/jpeg", _e(415)),
        Hostile("jpeg + jpeg", jpg + jpg, "x.jpg", "image/jpeg", _e(415)),
        Hostile("gif + html", gif + html, "x.gif", "image/gif", _e(415)),
        Hostile("gif + script ending in ;", gif + b"=1;alert(1);", "x.gif", "image/gif", _e(415)),
        Hostile("png without IEND + gif", png[:-12] + gif, expect=REFUSED),
        Hostile("png + png", png + png, expect=_e(415)),
        Hostile("webp + html", webp + html, "x.webp", "image/webp", _e(415)),
        Hostile("html + png", html + png, expect=_e(415)),
        # truncations and damage
        *[
            Hostile(f"{kind} cut at {cut}", data[:cut], "x", "image/png", REFUSED)
            for kind, data in (("png", png), ("jpeg", jpg), ("gif", gif), ("webp", webp))
            for cut in (16, len(data) // 2, len(data) - 3)
        ],
        Hostile("progressive jpeg cut", pjpg[: len(pjpg) * 2 // 3], "x.jpg", "image/jpeg", REFUSED),
        Hostile("png bad crc", png[:40] + bytes([png[40] ^ 0xFF]) + png[41:], expect=REFUSED),
        Hostile(
            "png garbage idat",
            png_raw(64, 64, idat=b"\x78\x9c" + bytes(range(256)) * 4),
            expect=REFUSED,
        ),
        Hostile(
            "jpeg garbage entropy",
            jpg[:-400] + bytes(range(200)) * 2 + b"\xff\xd9",
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile("png zero size", png_raw(0, 0, idat=zlib.compress(b"")), expect=REFUSED),
        # EXIF of the wrong types around an orientation tag
        Hostile(
            "exif orientation as text",
            jpeg_with_exif(exif_blob([(0x0112, 2, 2, b"6\x00")])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif orientation as rational",
            jpeg_with_exif(exif_blob([(0x0112, 5, 1, struct.pack(">II", 6, 1))])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif orientation as two shorts",
            jpeg_with_exif(exif_blob([(0x0112, 3, 2, struct.pack(">HH", 6, 8))])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif orientation 9999",
            jpeg_with_exif(exif_blob([(0x0112, 3, 1, struct.pack(">H", 9999))])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif orientation undefined type",
            jpeg_with_exif(exif_blob([(0x0112, 7, 4, b"\x00\x06\x00\x00")])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif orientation count 2^30",
            jpeg_with_exif(exif_blob([(0x0112, 3, 1 << 30, b"\x00\x06\x00\x00")])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif ifd loop",
            jpeg_with_exif(
                exif_blob(
                    [(0x0112, 3, 1, b"\x00\x06"), (0x8769, 4, 1, struct.pack(">I", 8))], loop=True
                )
            ),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "exif gps of wrong types",
            jpeg_with_exif(exif_blob([(0x0112, 3, 1, b"\x00\x06"), (0x8825, 2, 4, b"abc\x00")])),
            "x.jpg",
            "image/jpeg",
            _e(200, 400),
        ),
        Hostile(
            "png eXIf orientation text",
            encode(photo((32, 32)), "PNG")[:33]
            + chunk(b"eXIf", exif_blob([(0x0112, 2, 2, b"6\x00")]))
            + encode(photo((32, 32)), "PNG")[33:],
            expect=_e(200, 400),
        ),
        Hostile(
            "webp exif orientation rational",
            encode(
                photo((32, 32)),
                "WEBP",
                exif=b"Exif\x00\x00" + exif_blob([(0x0112, 5, 1, struct.pack(">II", 6, 1))]),
            ),
            "x.webp",
            "image/webp",
            _e(200, 400),
        ),
        # metadata that must not survive
        Hostile(
            "jpeg with gps, xmp, comment, iptc, icc", jpeg_with_metadata(), "x.jpg", "image/jpeg"
        ),
        Hostile("png with text, xmp, exif, time", png_with_metadata()),
        Hostile("gif with comment", gif_with_comment(), "x.gif", "image/gif"),
        Hostile("webp with exif and xmp", webp_with_metadata(), "x.webp", "image/webp"),
    ]
    return items

"""Hostile image files built in memory: headers that lie to a naive reader.

Each builder returns bytes. The pixel data is a few KiB of compressed zeros however
large the image claims to be, so a test can hold dozens of them; decoding one
naively would need gigabytes, which is what the tests make sure never happens.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np


# --- JPEG ---------------------------------------------------------------------------

def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """(marker, whole segment bytes) of a JPEG up to and including SOS; then the rest
    (entropy-coded data and EOI) as marker -1."""
    out, pos = [], 2
    while True:
        marker = jpeg[pos + 1]
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        out.append((marker, jpeg[pos:pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            out.append((-1, jpeg[pos:]))
            return out


def small_jpeg(side: int = 16) -> bytes:
    """A real grey JPEG, side×side pixels."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.full((side, side), 128, np.uint8))
    assert ok
    return data.tobytes()


def sof(width: int, height: int) -> bytes:
    """A baseline frame header for one grey component."""
    return b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"


def jpeg_frame(width: int, height: int, before_sof: bytes = b"", extra_segments: bytes = b"",
               trailer: bytes = b"") -> bytes:
    """A grey JPEG whose frame header states width×height; the scan is a 16×16 one,
    so the decoder fills the rest (libjpeg pads missing data and carries on).

    before_sof goes right before the frame header, extra_segments right after it,
    trailer after the end-of-image marker."""
    parts = _segments(small_jpeg())
    head = b"".join(seg for marker, seg in parts if marker not in (0xC0, 0xDA, -1))
    scan = b"".join(seg for marker, seg in parts if marker in (0xDA, -1))
    return b"\xff\xd8" + head + before_sof + sof(width, height) + extra_segments + scan + trailer


def jpeg_fill_bytes_hide_sof(width: int, height: int, decoy=(64, 64)) -> bytes:
    """``FF 00 LL LL`` before the real frame header. libjpeg discards FF 00 as fill and
    reads the real (large) frame; a reader that takes 00 for a marker with a length
    jumps over it, into a comment that holds a decoy (small) frame header."""
    real = sof(width, height)
    decoy_sof = sof(*decoy)
    pad = b"\x00" * 7
    comment = b"\xff\xfe" + struct.pack(">H", 2 + len(pad) + len(decoy_sof)) + pad + decoy_sof
    # the naive jump (2 + LLLL from FF) lands on the decoy inside the comment's payload
    jump = 4 + len(real) + 4 + len(pad) - 2
    data = jpeg_frame(width, height, before_sof=b"\xff\x00" + struct.pack(">H", jump))
    return data.replace(real, real + comment, 1)


def jpeg_two_frames(first=(64, 64), second=(30000, 30000)) -> bytes:
    """Two frame headers before the scan: libjpeg refuses such a file."""
    return jpeg_frame(*second, before_sof=sof(*first))


def jpeg_garbage_before_sof(width: int, height: int) -> bytes:
    """Stray non-marker bytes and fill bytes (FF FF) before the frame header, which
    libjpeg skips."""
    return jpeg_frame(width, height, before_sof=b"\x12\x34\x00\xff\x00\xff\xff")


def jpeg_decoy_after_end(width: int, height: int, decoy=(64, 64)) -> bytes:
    """The real frame is large; a small frame header follows the end-of-image marker."""
    return jpeg_frame(width, height, trailer=sof(*decoy) + b"\xff\xd9")


# --- TIFF ---------------------------------------------------------------------------

def tiff(width: int, height: int, samples: int = 1, bits: int = 8, sample_format: int = 1,
         rows_per_strip: int = 16, duplicates: dict[int, int] | None = None,
         order: str = "<") -> bytes:
    """A deflate-compressed TIFF of zeros, every strip pointing at the same data.

    duplicates: {tag: value} written again right after the tag's real entry (libtiff
    keeps the first of duplicates; a last-wins reader takes the second).
    """
    row = width * samples * bits // 8
    block = zlib.compress(b"\0" * (row * rows_per_strip), 9)
    n_strips = -(-height // rows_per_strip)
    entries = [
        (256, 4, width), (257, 4, height), (258, 3, bits), (259, 3, 8), (262, 3, 2 if samples >= 3 else 1),
        (273, 4, None), (277, 3, samples), (278, 4, rows_per_strip), (279, 4, None), (284, 3, 1),
        (339, 3, sample_format),
    ]
    for tag, value in (duplicates or {}).items():
        at = next(i for i, e in enumerate(entries) if e[0] == tag)
        entries.insert(at + 1, (tag, entries[at][1], value))
    header = 8
    ifd_size = 2 + 12 * len(entries) + 4
    offsets_at = header + ifd_size
    counts_at = offsets_at + 4 * n_strips
    data_at = counts_at + 4 * n_strips
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, value in entries:
        if tag == 273:
            ifd += struct.pack(order + "HHII", tag, 4, n_strips, offsets_at if n_strips > 1 else data_at)
        elif tag == 279:
            ifd += struct.pack(order + "HHII", tag, 4, n_strips, counts_at if n_strips > 1 else len(block))
        elif kind == 3:
            ifd += struct.pack(order + "HHIHH", tag, 3, 1, value, 0)
        else:
            ifd += struct.pack(order + "HHII", tag, kind, 1, value)
    ifd += struct.pack(order + "I", 0)
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return (magic + struct.pack(order + "I", header) + ifd + struct.pack(order + "I", data_at) * n_strips
            + struct.pack(order + "I", len(block)) * n_strips + block)


def tiff_duplicate_width(real=(20000, 20000), decoy_width: int = 64) -> bytes:
    """ImageWidth given twice: libtiff keeps the first, a last-wins reader sees the decoy."""
    return tiff(*real, duplicates={256: decoy_width})


# --- PNG ----------------------------------------------------------------------------

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, bit_depth: int = 8, colour: int = 2, rows: int | None = None,
        extra_ihdr: tuple[int, int] | None = None) -> bytes:
    """A PNG of zeros. rows: how many rows the pixel data really holds (default all);
    extra_ihdr: a second IHDR chunk stating another size."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    rows = height if rows is None else rows
    line = b"\0" + b"\0" * (width * channels * bit_depth // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(line) for _ in range(rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if extra_ihdr:
        out += _chunk(b"IHDR", struct.pack(">IIBBBBB", *extra_ihdr, bit_depth, colour, 0, 0, 0))
    return out + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# --- GIF and WebP -------------------------------------------------------------------

def gif_frame_beyond_screen(screen=(64, 64), frame=(30000, 30000), at=(0, 0)) -> bytes:
    """A GIF whose logical screen (the size a reader checks) is small and whose one
    frame is large or placed outside it."""
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"  # 2 colours
    out += b"\x2c" + struct.pack("<HHHHB", *at, *frame, 0)
    return out + b"\x02\x02\x4c\x01\x00" + b"\x3b"  # LZW minimum code size 2, one tiny block


def webp_canvas_lie(side: int = 3000, canvas=(64, 64)) -> bytes:
    """A lossy WebP of side×side pixels wrapped in a VP8X header stating a small canvas."""
    import cv2

    ok, data = cv2.imencode(".webp", np.zeros((side, side, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 50])
    assert ok
    vp8 = data.tobytes()[12:]  # the VP8 chunk
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (canvas[0] - 1).to_bytes(3, "little") \
        + (canvas[1] - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + vp8
    return b"RIFF" + struct.pack("<I", len(body)) + body

"""Image dimensions read from file headers the way the decoders read them.

The size checked before decoding must be the size the decoder will produce, so each
reader follows its decoder's rules, not the format's ideal:

* JPEG, as libjpeg: bytes that are not markers are skipped, ``FF FF`` is fill and
  ``FF 00`` is a stuffed zero that is discarded (it has no length); the frame is the
  one frame header (SOF) before the first scan (SOS), and a second one before it is
  an error.
* TIFF, as libtiff: of a tag given twice in a directory, the first is used.
* PNG, as libpng: the IHDR chunk that must come first.

OpenCV checks the same pixel limit itself, from its decoders' own header parsing
(``OPENCV_IO_MAX_IMAGE_PIXELS``, set in ``emobrowser/__init__.py``), and decode_image
checks that the decoded picture has the size checked here; a file that makes the two
disagree is refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from emobrowser.core.errors import MediaError

_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


@dataclass(frozen=True)
class ImageHeader:
    """What a header says: width and height in pixels; for TIFF also the samples per
    pixel, the bits per sample and whether the samples are floating point."""

    width: int
    height: int
    samples: int = 3
    bits: int = 8
    floating: bool = False


def _next_marker(data: bytes, pos: int) -> tuple[int | None, int]:
    """libjpeg's next_marker: (marker, offset just past it), or (None, len) at the end."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return None, n
        pos += 1
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            return None, n
        if data[pos] != 0x00:
            return data[pos], pos + 1
        pos += 1  # FF 00 outside a scan is discarded, as libjpeg does


def _jpeg_header(data: bytes) -> ImageHeader | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos, frame = 2, None
    while True:
        marker, pos = _next_marker(data, pos)
        if marker is None or marker in (0xDA, 0xD9):  # first scan, end of image, end of data
            return frame
        if marker in _JPEG_STANDALONE or marker == 0xD8:
            continue
        if pos + 2 > len(data):
            return frame
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            raise MediaError(f"corrupt JPEG header (a segment states a length of {length} bytes)")
        if marker in _JPEG_FRAMES:
            if frame is not None:
                raise MediaError("corrupt JPEG header (two frame headers before the image data)")
            if pos + 7 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            frame = ImageHeader(width, height)
        pos += length


_TIFF_INT = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}


def _tiff_header(data: bytes) -> ImageHeader | None:
    """The first image directory of a TIFF or BigTIFF (the one libtiff and OpenCV
    decode), taking the first of any tag that is given twice, as libtiff does."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        return None
    version = struct.unpack(order + "H", data[2:4])[0]
    if version == 42:  # classic: 32-bit offsets, 12-byte entries
        offset = struct.unpack(order + "I", data[4:8])[0]
        count_fmt, entry_size, value_at, count_size, word = "H", 12, 8, 2, "I"
    elif version == 43:  # BigTIFF: 64-bit offsets, 20-byte entries
        offset = struct.unpack(order + "Q", data[8:16])[0]
        count_fmt, entry_size, value_at, count_size, word = "Q", 20, 12, 8, "Q"
    else:
        return None
    n = struct.unpack(order + count_fmt, data[offset:offset + count_size])[0]
    tags: dict[int, int] = {}
    for k in range(min(n, 4096)):
        at = offset + count_size + k * entry_size
        tag, kind = struct.unpack(order + "HH", data[at:at + 4])
        if tag not in (256, 257, 258, 277, 339) or tag in tags:
            continue  # libtiff ignores the later copies of a tag
        code = _TIFF_INT.get(kind)
        if code is None:
            if tag in (256, 257):
                return None
            continue
        inline = struct.calcsize(word)  # the value field: 4 bytes, 8 in BigTIFF
        count = struct.unpack(order + word, data[at + 4:at + 4 + inline])[0]
        where = at + value_at
        if count * struct.calcsize(code) > inline:  # the values are stored elsewhere
            where = struct.unpack(order + word, data[where:where + inline])[0]
        tags[tag] = struct.unpack(order + code, data[where:where + struct.calcsize(code)])[0]
    if 256 not in tags or 257 not in tags:
        return None
    return ImageHeader(tags[256], tags[257], samples=tags.get(277, 1), bits=tags.get(258, 1),
                       floating=tags.get(339, 1) == 3)


def read_header(data: bytes, fmt: str) -> ImageHeader | None:
    """What the header of an image of format ``fmt`` states; None if it cannot be read.
    Raises MediaError for a header its decoder would refuse anyway."""
    try:
        if fmt == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
            return ImageHeader(*struct.unpack(">II", data[16:24]))
        if fmt == "gif" and len(data) >= 10:
            return ImageHeader(*struct.unpack("<HH", data[6:10]))
        if fmt == "bmp" and len(data) >= 26:
            if int.from_bytes(data[14:18], "little") == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
                return ImageHeader(*struct.unpack("<HH", data[18:22]))
            width, height = struct.unpack("<ii", data[18:26])
            return ImageHeader(abs(width), abs(height))
        if fmt == "webp" and len(data) >= 30:
            chunk = data[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return ImageHeader(w & 0x3FFF, h & 0x3FFF)
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return ImageHeader((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            if chunk == b"VP8X":
                return ImageHeader(int.from_bytes(data[24:27], "little") + 1,
                                   int.from_bytes(data[27:30], "little") + 1)
        if fmt == "jpeg":
            return _jpeg_header(data)
        if fmt == "tiff":
            return _tiff_header(data)
    except struct.error:
        return None
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) stated in the header, or None if it cannot be read."""
    header = read_header(data, fmt)
    return None if header is None else (header.width, header.height)

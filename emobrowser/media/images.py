"""Image decoding with OpenCV: reduced-size decoding and a decompression-bomb guard.

Dimensions are read from the file header before any pixel is decoded, so a file that
claims 30000×30000 pixels is refused without allocating memory for it. JPEGs are
decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT scaling, which is several times
faster than a full decode followed by a resize.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np

from emobrowser.core.errors import MediaError, read_failure

# Larger than any camera sensor in common use (about 100 MP medium format), small
# enough that a full decode of an uncompressible format still fits in memory.
MAX_PIXELS = 150_000_000
# Images are decoded so that their longest side is at least this many pixels when a
# reduced decode is possible; the models work at 320 px or less.
DEFAULT_MIN_SIDE = 384


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """Return (width, height) stated in the header, or None if it cannot be read."""
    try:
        if fmt == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if fmt == "gif" and len(data) >= 10:
            return struct.unpack("<HH", data[6:10])
        if fmt == "bmp" and len(data) >= 26:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if fmt == "webp" and len(data) >= 30:
            chunk = data[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        if fmt == "jpeg":
            return _jpeg_size(data)
        if fmt == "tiff":
            return _tiff_size(data)
    except struct.error:
        return None
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first image directory of a TIFF or BigTIFF.

    Only the header is read, so an image that decodes to gigabytes (a few MB of
    compressed zeros) is refused before decoding, as for the other formats.
    """
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        return None
    version = struct.unpack(order + "H", data[2:4])[0]
    if version == 42:  # classic: 32-bit offsets, 12-byte entries
        offset = struct.unpack(order + "I", data[4:8])[0]
        count_fmt, entry_size, value_at, count_size = "H", 12, 8, 2
    elif version == 43:  # BigTIFF: 64-bit offsets, 20-byte entries
        offset = struct.unpack(order + "Q", data[8:16])[0]
        count_fmt, entry_size, value_at, count_size = "Q", 20, 12, 8
    else:
        return None
    n = struct.unpack(order + count_fmt, data[offset:offset + count_size])[0]
    dims = {}
    for k in range(min(n, 4096)):
        at = offset + count_size + k * entry_size
        tag, kind = struct.unpack(order + "HH", data[at:at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength, of any integer type
            code = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}.get(kind)
            if code is None:
                return None
            dims[tag] = struct.unpack(order + code, data[at + value_at:at + value_at + struct.calcsize(code)])[0]
            if len(dims) == 2:
                return dims[256], dims[257]
    return None


def _check_complete(data: bytes, fmt: str) -> None:
    """Raise MediaError if a JPEG or PNG stops before its end marker.

    The end marker is normally in the last bytes. When it is not, the file may carry
    data after the image (a phone's "motion photo" appends a whole video to the JPEG;
    some tools append metadata), so the image's own structure is walked to its end.
    """
    if fmt == "jpeg" and b"\xff\xd9" not in data[-4096:] and _jpeg_end(data) is None:
        raise MediaError("truncated JPEG (no end-of-image marker)")
    if fmt == "png" and b"IEND" not in data[-64:] and _png_end(data) is None:
        raise MediaError("truncated PNG (no IEND chunk)")


_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length
_NOT_FF = re.compile(rb"[^\xff]")


def _jpeg_end(data: bytes) -> int | None:
    """Offset just past the JPEG's end-of-image marker, found by walking its segments
    (an embedded EXIF thumbnail's own marker is inside APP1 and skipped); None if
    the data ends first."""
    pos, n = 2, len(data)
    while pos + 2 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > n:
            return None
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # entropy-coded data: runs to the next marker other than RSTn or a stuffed 0xFF00
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                if data[pos + 1] == 0xFF:  # a run of fill bytes: to its last one, in one step
                    other = _NOT_FF.search(data, pos)
                    if other is None:
                        return None
                    pos = other.start() - 1
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                    continue
                break
    return None


def _png_end(data: bytes) -> int | None:
    """Offset just past the PNG's IEND chunk, found by walking its chunks; None if the data ends first."""
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos if pos <= n else None
    return None


def _float_to_8bit(img: np.ndarray) -> np.ndarray:
    """Float samples to 8 bits: [0, 1] as is (the usual range); any other range is
    stretched from its own minimum to its maximum."""
    img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(img.min()), float(img.max())
    if lo < 0.0 or hi > 1.0:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return np.round(img * 255.0).astype(np.uint8)


def reduction_factor(width: int, height: int, min_side: int) -> int:
    """The largest JPEG scale-down factor (1, 2, 4, 8) keeping the longest side ≥ min_side."""
    longest = max(width, height)
    factor = 1
    for f in (2, 4, 8):
        if longest / f >= min_side:
            factor = f
    return factor


def decode_image(data: bytes, fmt: str, min_side: int | None = DEFAULT_MIN_SIDE,
                 max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, int, int]:
    """Decode image bytes to 8-bit BGR.

    Returns (bgr, width, height) where width/height are the full image's dimensions.
    min_side None decodes at full size. Raises MediaError with a specific reason.
    """
    import cv2

    size = header_size(data, fmt)
    if size is not None:
        width, height = size
        if width <= 0 or height <= 0:
            raise MediaError(f"{fmt.upper()} header states an empty image ({width}×{height})")
        if width * height > max_pixels:
            raise MediaError(f"image {width}×{height} exceeds the pixel limit of {max_pixels // 1_000_000} megapixels")
    elif fmt in ("jpeg", "png", "gif", "bmp", "webp", "tiff"):
        raise MediaError(f"corrupt {fmt.upper()} header (no image dimensions)")
    _check_complete(data, fmt)
    flags = cv2.IMREAD_COLOR
    if fmt == "jpeg" and min_side is not None and size is not None:
        flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}[reduction_factor(*size, min_side)]
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise MediaError(f"cannot decode {fmt.upper()}: {str(exc).strip().splitlines()[-1]}") from exc
    if bgr is None and fmt == "tiff":  # 32-bit float samples (HDR, scientific): only read as they are
        bgr = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
        if bgr is not None and bgr.dtype.kind == "f":
            bgr = _float_to_8bit(bgr)
    if bgr is None:
        raise MediaError(f"corrupt {fmt.upper()} data (decoder returned no image)")
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    elif bgr.shape[2] == 4:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
    if size is None:
        size = (bgr.shape[1], bgr.shape[0])
        if size[0] * size[1] > max_pixels:
            raise MediaError(f"image {size[0]}×{size[1]} exceeds the pixel limit")
    elif bgr.shape[0] != bgr.shape[1] and size[0] != size[1] and (bgr.shape[0] > bgr.shape[1]) != (size[1] > size[0]):
        size = (size[1], size[0])  # the decoder turned it upright (EXIF orientation): report it as shown
    if bgr.dtype != np.uint8:
        bgr = (bgr / (np.iinfo(bgr.dtype).max / 255.0)).astype(np.uint8)
    if min_side is not None and max(bgr.shape[:2]) > 2 * min_side:
        scale = 2 * min_side / max(bgr.shape[:2])
        bgr = cv2.resize(bgr, (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    return bgr, int(size[0]), int(size[1])


def read_bytes(path: str | Path | bytes, limit: int = 1 << 30) -> bytes:
    """Read a whole file, refusing ones larger than ``limit`` bytes."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise MediaError(f"file too large for an image ({size >> 20} MiB; the limit is {limit >> 20} MiB)")
            data = fh.read(limit + 1)
    except OSError as exc:
        raise read_failure(exc) from exc
    if len(data) > limit:
        raise MediaError(f"file larger than {limit >> 20} MiB")
    if not data:
        raise MediaError("empty file (0 bytes)")
    return data


def load_image(path: str | Path | bytes, min_side: int | None = DEFAULT_MIN_SIDE) -> tuple[np.ndarray, int, int]:
    """Read and decode an image file; see decode_image."""
    from emobrowser.media.sniff import HEADER_BYTES, sniff

    data = read_bytes(path)
    modality, fmt = sniff(data[:HEADER_BYTES], str(path))
    if modality.value != "image":
        raise MediaError(f"content is {fmt}, not an image")
    return decode_image(data, fmt, min_side=min_side)

"""Image decoding with OpenCV: reduced-size decoding and guards on memory.

Dimensions are read from the file header before any pixel is decoded, the way the
decoder reads them (see image_headers), so a file that claims 30000×30000 pixels is
refused without allocating memory for it; OpenCV checks the same pixel limit from its
own header parsing, and a picture that decodes to another size than its header states
is refused. JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT scaling, which
is several times faster than a full decode followed by a resize.

Memory: a decode needs at most about DECODE_BUDGET (1.1 GB) for the decoder's buffers
and the conversion to 8 bits, about 1.5 GB with the indexing worker's own memory.
8-bit decodes stay under it through the pixel limit (OpenCV's TIFF and 16-bit PNG
readers use up to about 7 bytes a pixel: 1.05 GB at 150 megapixels); floating-point
TIFFs, which OpenCV can only decode at full size and depth, are measured against it
before decoding and converted to 8 bits in place. Indexing workers and the GUI's
thumbnail process also run under a hard memory limit (index.procpool), and decodes
expected to need more than core.heavy.HEAVY_BYTES take turns among the workers, so
that together they stay near one large decode.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from emobrowser.core.errors import MediaError, read_failure
from emobrowser.core.heavy import heavy
from emobrowser.media.image_headers import ImageHeader, header_size, read_header

__all__ = ["MAX_PIXELS", "DECODE_BUDGET", "decode_image", "header_size", "load_image", "read_bytes",
           "reduction_factor"]

# Larger than any camera sensor in common use (about 100 MP medium format), small
# enough that a full decode of an uncompressible format still fits in memory.
MAX_PIXELS = 150_000_000
# The most memory one decode may need for the decoder's buffers and the conversion to
# 8 bits, in bytes (see the module docstring).
DECODE_BUDGET = 1_100_000_000
# Images are decoded so that their longest side is at least this many pixels when a
# reduced decode is possible; the models work at 320 px or less.
DEFAULT_MIN_SIDE = 384


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


def _float_to_8bit(img: np.ndarray, min_side: int | None) -> np.ndarray:
    """Float samples to 8 bits: [0, 1] as is (the usual range); any other range is
    stretched from its own minimum to its maximum. Works in place on the decoder's
    array (NaN and infinities become 0) and reduces before converting, so no second
    full-size float copy is made."""
    import cv2

    np.nan_to_num(img, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(img.min()), float(img.max())
    alpha, beta = 255.0, 0.0
    if lo < 0.0 or hi > 1.0:
        alpha = 255.0 / (hi - lo) if hi > lo else 0.0
        beta = -lo * alpha
    if min_side is not None and max(img.shape[:2]) > 2 * min_side:
        img = _shrink(img, min_side)
    return cv2.convertScaleAbs(img, alpha=alpha, beta=beta)  # values land in [0, 255]: abs changes nothing


def _shrink(img: np.ndarray, min_side: int) -> np.ndarray:
    """Resize so that the longest side is 2 × min_side (area averaging)."""
    import cv2

    scale = 2 * min_side / max(img.shape[:2])
    return cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)


def _float_budget(header: ImageHeader) -> int:
    """The bytes a TIFF's decode at full depth needs; MediaError if more than DECODE_BUDGET:
    OpenCV's TIFF reader holds the samples twice at full size (taken as at least 32
    bits when the header does not say they are floating point), then 8 bits a sample."""
    samples = max(1, header.samples)
    bits = header.bits if header.floating else max(32, header.bits)
    need = header.width * header.height * samples * (2 * max(4, bits // 8) + 1)
    if need > DECODE_BUDGET:
        kind = f" with {max(32, bits)}-bit floating-point samples" if header.floating else ""
        raise MediaError(f"image {header.width}×{header.height}{kind} would need about {need // 1_000_000:,} MB "
                         f"to decode (the limit is {DECODE_BUDGET // 1_000_000:,} MB)")
    return need


def _expected_bytes(header: ImageHeader | None, fmt: str, factor: int) -> int:
    """About how many bytes an 8-bit decode needs: 3 a pixel for JPEG (at its reduced
    size), up to 7 for the others (OpenCV's TIFF and 16-bit PNG readers, measured)."""
    if header is None:
        return 0
    pixels = header.width * header.height
    return pixels * 3 // (factor * factor) if fmt == "jpeg" else pixels * 7


def _short_of_memory(need: int) -> bool:
    """Whether this process's memory limit (RLIMIT_DATA, as in an indexing worker) leaves
    less than ``need`` bytes: then a decoder that gave up did so for want of memory."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
        if limit == resource.RLIM_INFINITY or need <= 0:
            return False
        with open("/proc/self/statm", "rb") as fh:
            in_use = int(fh.read().split()[5]) * os.sysconf("SC_PAGE_SIZE")  # data + stack
    except (ImportError, OSError, ValueError, IndexError):
        return False
    return in_use + need > limit


def _allocation_failed(exc: Exception) -> bool:
    text = str(exc).lower()
    return "failed to allocate" in text or "insufficient memory" in text or "out of memory" in text


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
    min_side None decodes at full size. Raises MediaError with a specific reason, and
    MemoryError when the decoder could not get the memory it asked for.
    """
    import cv2

    header = read_header(data, fmt)
    if header is not None:
        width, height = header.width, header.height
        if width <= 0 or height <= 0:
            raise MediaError(f"{fmt.upper()} header states an empty image ({width}×{height})")
        if width * height > max_pixels:
            raise MediaError(f"image {width}×{height} exceeds the pixel limit of {max_pixels // 1_000_000} megapixels")
    elif fmt in ("jpeg", "png", "gif", "bmp", "webp", "tiff"):
        raise MediaError(f"corrupt {fmt.upper()} header (no image dimensions)")
    _check_complete(data, fmt)
    flags, factor = cv2.IMREAD_COLOR, 1
    if fmt == "jpeg" and min_side is not None and header is not None:
        factor = reduction_factor(header.width, header.height, min_side)
        flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    buf = np.frombuffer(data, dtype=np.uint8)
    floating = header is not None and header.floating
    try:
        bgr = None
        if not floating:
            with heavy(_expected_bytes(header, fmt, factor)):
                bgr = cv2.imdecode(buf, flags)
        if bgr is None and fmt == "tiff" and header is not None:
            # floating-point samples (HDR, scientific): OpenCV reads them only as they are
            with heavy(_float_budget(header)):
                raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
                if raw is not None and raw.dtype.kind == "f":
                    _check_decoded_size(raw, header, 1)
                    bgr = _float_to_8bit(raw, min_side)
                del raw
    except cv2.error as exc:
        if _allocation_failed(exc):
            raise MemoryError(str(exc)) from None
        raise MediaError(f"cannot decode {fmt.upper()}: {str(exc).strip().splitlines()[-1]}") from exc
    if bgr is None:
        need = _expected_bytes(header, fmt, factor) if not floating else 0
        if header is not None and fmt == "tiff":
            need = max(need, header.width * header.height * max(1, header.samples) * 9)
        if _short_of_memory(need):  # the decoders report a failed allocation as a failed decode
            raise MemoryError(f"the decoder needed about {need // 1_000_000:,} MB")
        raise MediaError(f"corrupt {fmt.upper()} data (decoder returned no image)")
    if header is not None and not floating:
        _check_decoded_size(bgr, header, factor)
    if bgr.ndim == 3 and bgr.shape[2] == 2:  # grey with alpha, from a float TIFF
        bgr = np.ascontiguousarray(bgr[:, :, 0])
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    elif bgr.shape[2] == 4:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
    if header is None:
        size = (bgr.shape[1], bgr.shape[0])
        if size[0] * size[1] > max_pixels:
            raise MediaError(f"image {size[0]}×{size[1]} exceeds the pixel limit")
    else:
        size = (header.width, header.height)
        if (not floating and bgr.shape[0] != bgr.shape[1] and size[0] != size[1]
                and (bgr.shape[0] > bgr.shape[1]) != (size[1] > size[0])):
            size = (size[1], size[0])  # the decoder turned it upright (EXIF orientation): report it as shown
    if bgr.dtype != np.uint8:
        bgr = (bgr / (np.iinfo(bgr.dtype).max / 255.0)).astype(np.uint8)
    if min_side is not None and max(bgr.shape[:2]) > 2 * min_side:
        bgr = _shrink(bgr, min_side)
    return bgr, int(size[0]), int(size[1])


def _check_decoded_size(img: np.ndarray, header: ImageHeader, factor: int) -> None:
    """Refuse a picture that decoded to another size than its header states (upright
    or turned by EXIF orientation): the file is built to fool the size check."""
    want = (-(-header.width // factor), -(-header.height // factor))
    got = (img.shape[1], img.shape[0])
    if got != want and got != want[::-1]:
        stated = f"{header.width}×{header.height}" + (f" (1/{factor}: {want[0]}×{want[1]})" if factor > 1 else "")
        raise MediaError(f"the decoder found a {got[0]}×{got[1]} image where the header states {stated}")


def read_bytes(path: str | Path | bytes, limit: int = 1 << 30) -> bytes:
    """Read a whole regular file, refusing ones larger than ``limit`` bytes (a named
    pipe, device or socket is refused with what it is, without blocking)."""
    from emobrowser.media.sniff import open_regular

    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh:
            size = os.fstat(fd).st_size
            if size > limit:
                raise MediaError(f"file too large for an image ({size >> 20} MiB; the limit is {limit >> 20} MiB)")
            # as much as the file holds (and a byte to see it grew): read(limit) would
            # reserve the whole limit up front, which counts against a worker's memory
            data = fh.read(min(size, limit) + 1)
    except OSError as exc:
        raise read_failure(exc) from exc
    finally:
        os.close(fd)
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

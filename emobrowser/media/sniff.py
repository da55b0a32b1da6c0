"""Decide what a file is from its first bytes, with the extension as a hint.

The scanner only looks at files whose extension is a known media type; sniffing
then decides the modality by content, so a PNG named ``.mp3`` is indexed as an image
and a text file named ``.jpg`` fails with a reason that says so.
"""

from __future__ import annotations

import os
import stat

from emobrowser.core.errors import MediaError, read_failure
from emobrowser.core.types import Modality

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "png", "webp", "bmp", "tif", "tiff", "gif"})
AUDIO_EXTENSIONS = frozenset({"mp3", "flac", "ogg", "oga", "opus", "wav", "wave", "m4a", "aac"})
VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mkv", "webm", "mov", "avi"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | AUDIO_EXTENSIONS | VIDEO_EXTENSIONS

HEADER_BYTES = 65536  # as much as the scanner reads for its fingerprint, so score and index decide alike

_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"  # Sony Wave64's GUIDs
_W64_WAVE = b"wave\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"

_ARTICLE = {Modality.IMAGE: "an image", Modality.AUDIO: "an audio", Modality.VIDEO: "a video"}


def extension_modality(name: str) -> Modality | None:
    """The modality a file name suggests, or None when it is not a media name."""
    ext = os.path.splitext(name)[1][1:].lower()
    if ext in IMAGE_EXTENSIONS:
        return Modality.IMAGE
    if ext in AUDIO_EXTENSIONS:
        return Modality.AUDIO
    if ext in VIDEO_EXTENSIONS:
        return Modality.VIDEO
    return None


def _mp4_modality(head: bytes, hint: Modality | None) -> Modality:
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
        return Modality.AUDIO
    # An MP4 family file named as audio (.m4a/.aac) is audio; otherwise video.
    return Modality.AUDIO if hint is Modality.AUDIO else Modality.VIDEO


def _adts_header(head: bytes) -> bool:
    """An AAC ADTS frame header: sync, layer 0, a defined sampling-rate index."""
    return len(head) >= 7 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0 and ((head[2] >> 2) & 0x0F) < 13


def _mpeg_audio_header(head: bytes) -> bool:
    """An MPEG audio (MP3) frame header: sync, and no reserved version, layer, bitrate
    or sample-rate field."""
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)


def sniff(head: bytes, name: str) -> tuple[Modality, str]:
    """Return (modality, format) for a file's first bytes.

    ``format`` is a short name such as "jpeg", "png", "mp3", "mp4".
    Raises MediaError with a specific reason when the content is not media.
    """
    hint = extension_modality(name)
    if not head:
        raise MediaError("empty file (0 bytes)")
    if head[:3] == b"\xff\xd8\xff":
        return Modality.IMAGE, "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return Modality.IMAGE, "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Modality.IMAGE, "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return Modality.IMAGE, "tiff"
    if head[:4] == b"RIFF" and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return Modality.IMAGE, "webp"
        if kind == b"WAVE":
            return Modality.AUDIO, "wav"
        if kind[:3] == b"AVI":
            return Modality.VIDEO, "avi"
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":  # WAV beyond 4 GiB (recorders, broadcast)
        return Modality.AUDIO, "wav"
    if head[:16] == _W64_RIFF and head[24:40] == _W64_WAVE:
        return Modality.AUDIO, "wav"
    if head[:2] == b"BM" and len(head) >= 14:
        return Modality.IMAGE, "bmp"
    if head[:4] == b"fLaC":
        return Modality.AUDIO, "flac"
    if head[:4] == b"OggS":
        return Modality.AUDIO, "ogg"
    # An ID3 tag; some taggers write its size without the 7-bit "syncsafe" coding, so
    # the size bytes are not checked.
    if head[:3] == b"ID3" and len(head) >= 10 and head[3] in (2, 3, 4):
        return Modality.AUDIO, "mp3"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _mp4_modality(head, hint), "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return Modality.VIDEO, "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Modality.VIDEO, "matroska"
    # Bare MPEG audio frames have only an 11-bit sync word, which about one random file
    # in 2,000 also starts with: trust it only with valid header fields and an audio name.
    if hint in (Modality.AUDIO, None) and _adts_header(head):
        return Modality.AUDIO, "aac"
    if hint in (Modality.AUDIO, None) and _mpeg_audio_header(head):
        return Modality.AUDIO, "mp3"
    # MPEG audio after zero padding (some rippers and broken copies write it): FFmpeg
    # skips the zeros. Only for audio names, as above.
    padded = head.lstrip(b"\x00")
    if hint is Modality.AUDIO and padded and len(padded) < len(head) and (
            _mpeg_audio_header(padded) or _adts_header(padded) or padded[:3] == b"ID3"):
        return Modality.AUDIO, "mp3"
    expected = _ARTICLE.get(hint, "a media")
    if _looks_like_text(head):
        raise MediaError(f"content is text, not {expected} file")
    if not head.strip(b"\x00"):
        if len(head) >= HEADER_BYTES:  # only this much was read
            raise MediaError(f"the first {len(head):,} bytes are all zero: not {expected} file")
        raise MediaError(f"content is all zero bytes, not {expected} file")
    raise MediaError(f"unrecognised content: not {expected} file of a known format")


_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_regular(path: str | bytes | os.PathLike) -> int:
    """Open a regular file for reading; returns the descriptor (the caller closes it).

    Anything else is refused with what it is ("is a FIFO (named pipe), not a regular
    file"): a named pipe would block the reader for good, and a device or socket is
    not media. Opened non-blocking and checked on the open descriptor, so nothing can
    be swapped in between (for a regular file O_NONBLOCK changes nothing).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise read_failure(exc) from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise read_failure(exc) from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise MediaError("is a directory, not a file")
        what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        raise MediaError(f"is {what}, not a regular file")
    return fd


def read_header(path: str | bytes) -> bytes:
    """Read the first HEADER_BYTES of a regular file (see open_regular); MediaError
    with the reason on failure."""
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(HEADER_BYTES)
    except OSError as exc:
        raise read_failure(exc) from exc
    finally:
        os.close(fd)

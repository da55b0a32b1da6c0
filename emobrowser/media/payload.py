"""Where a sound file's tags end and its sound begins, read from block headers only.

Two uses, both cheap (a few small reads, never the whole file):

* ``payload_key`` fingerprints the sound alone (MP3, FLAC, WAV), so that a file
  whose tags were edited, and whose size and time therefore changed, is recognised
  as the same recording: its scores are kept and only its tags are read again.
  Other formats (Ogg, MP4) renumber or move their sound when tags grow; for them the
  key is None and a change of any kind is a new recording.
* ``tag_blocks_size`` says how many bytes of tags a tag reader would load, so a
  hostile tag (a 50 MB cover) is refused before it is read.

Every walk is bounded by ``_MAX_BLOCKS`` headers, so a file of endless tiny blocks
or a block pointing back at itself ends quickly.
"""

from __future__ import annotations

import hashlib
import os

_CHUNK = 65536
_MAX_BLOCKS = 4096


def _id3v2_end(fh, at: int = 0) -> int:
    """Offset just past the ID3v2 tags that start at ``at`` (several may follow each other)."""
    for _ in range(16):
        fh.seek(at)
        head = fh.read(10)
        if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
            return at
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        at += 10 + size + (10 if head[5] & 0x10 else 0)  # footer flag
    return at


def _tail_tags(fh, end: int) -> int:
    """The offset where an ID3v1 and/or APEv2 tag at the end of the file starts."""
    if end >= 128:
        fh.seek(end - 128)
        if fh.read(3) == b"TAG":
            end -= 128
    if end >= 32:
        fh.seek(end - 32)
        footer = fh.read(32)
        if footer[:8] == b"APETAGEX":
            size = int.from_bytes(footer[12:16], "little")  # items + footer
            has_header = bool(int.from_bytes(footer[20:24], "little") & 0x80000000)
            end = max(0, end - size - (32 if has_header else 0))
    return end


def _flac_blocks(fh, at: int) -> int:
    """Offset of the first audio frame of a FLAC stream whose "fLaC" is at ``at``."""
    at += 4
    for _ in range(_MAX_BLOCKS):
        fh.seek(at)
        head = fh.read(4)
        if len(head) < 4:
            return at
        at += 4 + int.from_bytes(head[1:4], "big")
        if head[0] & 0x80:  # last metadata block
            return at
    return at


def _riff_data(fh) -> tuple[int, int] | None:
    """(start, end) of a RIFF/WAVE file's data chunk."""
    fh.seek(12)
    for _ in range(_MAX_BLOCKS):
        at = fh.tell()
        head = fh.read(8)
        if len(head) < 8:
            return None
        size = int.from_bytes(head[4:8], "little")
        if head[:4] == b"data":
            return at + 8, at + 8 + size
        fh.seek(at + 8 + size + (size & 1))
    return None


def payload_range(path: str | bytes, size: int) -> tuple[int, int] | None:
    """(start, end) byte offsets of the sound of an MP3, FLAC or WAV file, tags
    excluded; None for other formats, or when the blocks make no sense."""
    with open(path, "rb") as fh:
        magic = fh.read(12)
        if magic[:4] == b"RIFF" and magic[8:12] == b"WAVE":
            found = _riff_data(fh)
            return (found[0], min(found[1], size)) if found and found[0] < size else None
        start = _id3v2_end(fh)
        fh.seek(start)
        head = fh.read(4)
        if head == b"fLaC":
            start = _flac_blocks(fh, start)
        elif not (len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
            return None  # not an MPEG audio frame: not a format whose tags we can step over
        end = _tail_tags(fh, size)
    return (start, end) if start < end else None


def payload_key(path: str | bytes, size: int) -> str | None:
    """A fingerprint of the sound alone (see payload_range): its length and three
    64 KiB samples (start, middle, end). None for formats without one."""
    try:
        span = payload_range(path, size)
        if span is None:
            return None
        start, end = span
        h = hashlib.blake2b(digest_size=16)
        h.update(b"payload" + (end - start).to_bytes(8, "little"))
        with open(path, "rb") as fh:
            for at in sorted({start, max(start, (start + end) // 2), max(start, end - _CHUNK)}):
                fh.seek(at)
                h.update(fh.read(min(_CHUNK, end - at)))
        return h.hexdigest()
    except OSError:
        return None


def _ogg_headers(fh) -> int:
    """Bytes of an Ogg stream's header pages (granule position 0: the comment packet
    with any cover lives there)."""
    total = 0
    for _ in range(_MAX_BLOCKS):
        head = fh.read(27)
        if len(head) < 27 or head[:4] != b"OggS":
            return total
        if int.from_bytes(head[6:14], "little") not in (0, 2**64 - 1) and total:
            return total
        segments = fh.read(head[26])
        length = 27 + head[26] + sum(segments)
        total += length
        fh.seek(length - 27 - head[26], os.SEEK_CUR)
    return total


def _mp4_moov(fh, size: int) -> int:
    """Size of an MP4 file's top-level "moov" atom (which holds its tags)."""
    at = 0
    for _ in range(_MAX_BLOCKS):
        fh.seek(at)
        head = fh.read(16)
        if len(head) < 8:
            return 0
        length = int.from_bytes(head[:4], "big")
        if length == 1 and len(head) == 16:
            length = int.from_bytes(head[8:16], "big")
        elif length == 0:
            length = size - at
        if head[4:8] == b"moov":
            return length
        if length > size - at:  # a box past the end of the file: the tag reader would be misled
            return length
        if length < 8:
            return 0
        at += length
    return 0


def tag_blocks_size(path: str | bytes) -> int:
    """How many bytes of tags a tag reader would load from ``path``: ID3v2, FLAC
    metadata blocks, Ogg header pages, an MP4 "moov" atom or WAV tag chunks."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            magic = fh.read(12)
            if magic[:4] == b"RIFF":
                total, at = 0, 12
                for _ in range(_MAX_BLOCKS):
                    fh.seek(at)
                    head = fh.read(8)
                    if len(head) < 8:
                        break
                    length = int.from_bytes(head[4:8], "little")
                    if head[:4] in (b"id3 ", b"ID3 ", b"LIST"):
                        total += length
                    at += 8 + length + (length & 1)
                return total
            if magic[:4] == b"OggS":
                fh.seek(0)
                return _ogg_headers(fh)
            if magic[4:8] == b"ftyp":
                return _mp4_moov(fh, size)
            end = _id3v2_end(fh)
            fh.seek(end)
            if fh.read(4) == b"fLaC":
                return _flac_blocks(fh, end)
            return end
    except (OSError, ValueError):  # ValueError: an offset too large to seek to
        return 0

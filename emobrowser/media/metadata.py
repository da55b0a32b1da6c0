"""What a file says about itself: song tags, a photo's date taken, a video's title.

Audio tags are read with mutagen (ID3v1/v2 in MP3 and WAV, FLAC and Ogg Vorbis/Opus
comments, MP4 atoms); a photo's EXIF with Pillow; a video's container fields, and
RIFF INFO lists that mutagen does not read, with PyAV. Nothing here decodes pixels
or samples.

``read_metadata`` never raises: tags are a nicety, and a file with broken or hostile
tags must still be indexed and scored. What went wrong is in ``Metadata.problem``.
Reading stays bounded: a tag block larger than ``MAX_TAG_BYTES`` is refused from its
header before anything is read (a 50 MB cover), and every text is cut to
``MAX_TEXT`` characters.
"""

from __future__ import annotations

import os
import re
import struct
import unicodedata
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime

from emobrowser.media.payload import tag_blocks_size

MAX_TAG_BYTES = 16 * 2**20  # the largest tag block read (covers included), in bytes
MAX_TEXT = 500  # characters kept of any one text field
_YEAR = re.compile(r"^\s*(\d{4})(?!\d)")


@dataclass
class Metadata:
    """Tags of one file; None where the file says nothing.

    year: e.g. 1999; track: track number on its album; date: ISO 8601 (a photo's
    date taken, from EXIF, with its UTC offset when stated; a video's creation time);
    has_cover: an embedded cover picture; problem: why tags could not be read (or
    only in part), for the log.
    """

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    album_artist: str | None = None
    year: int | None = None
    track: int | None = None
    date: str | None = None
    camera: str | None = None
    has_cover: bool = False
    problem: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def fold(text: str) -> str:
    """Text for matching that ignores case and accents: "Salão" -> "salao"."""
    if text.isascii():  # most file names: nothing to decompose (text searches fold every name)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def song_name(title: str | None, artist: str | None, dash: str = "–") -> str | None:
    """How tags name a song: "Artist – Title", the title alone without an artist, None
    without a title."""
    if not title:
        return None
    return f"{artist} {dash} {title}" if artist else title


def clean(value) -> str | None:
    """A tag value as plain one-line text: lone surrogates (broken UTF-16) become
    U+FFFD, control characters spaces; cut to MAX_TEXT; None when empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)[:MAX_TEXT * 2]
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    text = " ".join(text.split())[:MAX_TEXT]
    return text or None


def year_of(value) -> int | None:
    """The year a date tag starts with ("1999", "1999-05-01"), or None."""
    m = _YEAR.match(clean(value) or "")
    return int(m.group(1)) if m and 1000 <= int(m.group(1)) <= 9999 else None


def _number(value) -> int | None:
    """A track number from "3", "3/12" or (3, 12)."""
    if isinstance(value, tuple):
        value = value[0] if value else None
    m = re.match(r"\s*(\d{1,6})", clean(value) or "")
    return int(m.group(1)) if m else None


def read_metadata(path: str | bytes, modality: str) -> Metadata:
    """The tags of ``path`` as ``modality`` ("image", "audio" or "video"); never raises."""
    path = os.fsdecode(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # Pillow's "corrupt EXIF" and the like: they become the problem
            meta = _READERS.get(modality, lambda _path: Metadata())(path)
        if caught and meta.problem is None:
            meta.problem = f"tags read in part: {clean(str(caught[0].message))}"
        return meta
    except MemoryError:
        return Metadata(problem="tags not read: out of memory")
    except RecursionError:
        return Metadata(problem="tags not read: nested too deeply")
    except Exception as exc:  # a library bug on hostile input costs the tags, never the item
        return Metadata(problem=f"tags not read: {type(exc).__name__}: {clean(str(exc)) or 'no detail'}")


# -- audio ------------------------------------------------------------------------------

def _first(tags, *keys):
    for key in keys:
        try:
            value = tags.get(key)
        except (ValueError, KeyError, TypeError):
            continue
        if value is None:
            continue
        if hasattr(value, "text"):  # an ID3 frame
            value = value.text
        if isinstance(value, (list, tuple)) and not (value and isinstance(value[0], int)):
            value = value[0] if value else None
        if value is not None and str(value).strip():
            return value
    return None


def _audio(path: str) -> Metadata:
    import mutagen

    size = tag_blocks_size(path)
    whole = os.path.getsize(path)
    if size > whole:
        return Metadata(problem=f"tags not read: their header states {size} bytes, more than the whole file "
                                f"({whole} bytes)")
    if size > MAX_TAG_BYTES:
        return Metadata(problem=f"tags not read: their block is {size / 2**20:.1f} MiB, over the "
                                f"{MAX_TAG_BYTES // 2**20} MiB limit")
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as exc:
        meta = Metadata(problem=f"unreadable tags: {clean(str(exc)) or type(exc).__name__}")
        audio = None
    else:
        meta = Metadata()
    tags = getattr(audio, "tags", None)
    if tags is not None:
        _from_tags(meta, tags)
        pictures = getattr(audio, "pictures", None)  # FLAC picture blocks
        meta.has_cover = meta.has_cover or bool(pictures)
    if meta.title is None and meta.artist is None and meta.problem is None:
        # RIFF INFO lists (WAV), formats mutagen does not know, and frames it drops whole
        # (FFmpeg keeps what it can of a badly encoded text): as FFmpeg reads them
        fallback = _container(path)
        for field in ("title", "artist", "album", "album_artist", "year", "track"):
            if getattr(meta, field) is None:
                setattr(meta, field, getattr(fallback, field))
    return meta


def _from_tags(meta: Metadata, tags) -> None:
    """Fill ``meta`` from ID3 frames, Vorbis comments or MP4 atoms."""
    try:
        keys = {str(k) for k in tags.keys()}
    except Exception:  # noqa: BLE001 - a tag object that cannot list itself has nothing to give
        return
    meta.title = clean(_first(tags, "TIT2", "title", "TITLE", "\xa9nam"))
    meta.artist = clean(_first(tags, "TPE1", "artist", "ARTIST", "\xa9ART"))
    meta.album = clean(_first(tags, "TALB", "album", "ALBUM", "\xa9alb"))
    meta.album_artist = clean(_first(tags, "TPE2", "albumartist", "ALBUMARTIST", "album artist", "aART"))
    meta.year = year_of(_first(tags, "TDRC", "TYER", "date", "DATE", "year", "YEAR", "\xa9day"))
    track = _first(tags, "TRCK", "tracknumber", "TRACKNUMBER", "trkn")
    meta.track = _number(track)
    meta.has_cover = any(k.startswith("APIC") for k in keys) or "covr" in keys or \
        any(k.lower() == "metadata_block_picture" for k in keys)


# -- photos -----------------------------------------------------------------------------

_DATE_TIME_ORIGINAL, _DATE_TIME_DIGITIZED, _OFFSET_ORIGINAL = 0x9003, 0x9004, 0x9011
_MODEL, _EXIF_IFD = 0x0110, 0x8769
_OFFSET = re.compile(r"^[+-]\d\d:\d\d$")


def exif_date(stamp, offset=None) -> str | None:
    """ISO 8601 of an EXIF "YYYY:MM:DD HH:MM:SS" stamp, with "+HH:MM" when given."""
    text = clean(stamp)
    if not text:
        return None
    try:
        when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = when.isoformat()
    offset = clean(offset)
    return iso + offset if offset and _OFFSET.match(offset) else iso


def _image(path: str) -> Metadata:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # nothing is decoded here: the decoder has its own guard
    try:
        with Image.open(path) as img:
            exif = img.getexif()
            sub = exif.get_ifd(_EXIF_IFD) if _EXIF_IFD in exif else {}
    except UnidentifiedImageError:
        return Metadata()  # a format Pillow does not read; OpenCV decodes it
    except (SyntaxError, OSError, ValueError, struct.error) as exc:
        return Metadata(problem=f"unreadable EXIF: {clean(str(exc)) or type(exc).__name__}")
    stamp = sub.get(_DATE_TIME_ORIGINAL) or sub.get(_DATE_TIME_DIGITIZED)
    return Metadata(date=exif_date(stamp, sub.get(_OFFSET_ORIGINAL)), camera=clean(exif.get(_MODEL)))


# -- containers (video, and audio that mutagen does not read) -----------------------------

def _container(path: str) -> Metadata:
    import av

    from emobrowser.media.audio import ffmpeg_local_name

    try:
        with av.open(ffmpeg_local_name(path), mode="r", metadata_errors="ignore") as container:
            fields = {str(k).lower(): v for k, v in dict(container.metadata).items()}
    except av.error.FFmpegError as exc:
        return Metadata(problem=f"container tags not read: {clean(exc.strerror or str(exc))}")
    meta = Metadata(title=clean(fields.get("title")), artist=clean(fields.get("artist")),
                    album=clean(fields.get("album")), album_artist=clean(fields.get("album_artist")),
                    year=year_of(fields.get("date") or fields.get("year")), track=_number(fields.get("track")))
    created = clean(fields.get("creation_time"))
    if created:
        try:
            when = datetime.fromisoformat(created)
        except ValueError:
            when = None
        if when is not None and when.year > 1970:  # 1970 (or 1904) is an unset field, not a date
            meta.date = when.isoformat(timespec="seconds").replace("+00:00", "Z")
            meta.year = meta.year or when.year
    return meta


_READERS = {"image": _image, "audio": _audio, "video": _container}


# -- cover art ----------------------------------------------------------------------------

_FOLDER_COVERS = ("cover", "folder", "front")
_COVER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def embedded_cover(path: str | bytes) -> bytes | None:
    """The encoded picture (JPEG, PNG...) a song carries as its cover, front cover
    first; None when it has none or its tags are over MAX_TAG_BYTES."""
    import base64

    import mutagen

    path = os.fsdecode(path)
    if tag_blocks_size(path) > min(MAX_TAG_BYTES, os.path.getsize(path)):
        return None
    audio = mutagen.File(path)
    if audio is None:
        return None
    found: list[tuple[int, bytes]] = []  # (0 for a front cover, else 1; data)
    for picture in getattr(audio, "pictures", None) or []:  # FLAC
        found.append((picture.type != 3, picture.data))
    tags = audio.tags
    if tags is not None:
        for key in list(tags.keys()):
            if str(key).startswith("APIC"):  # ID3
                frame = tags[key]
                found.append((frame.type != 3, frame.data))
            elif str(key) == "covr":  # MP4
                found.extend((0, bytes(c)) for c in tags[key])
            elif str(key).lower() == "metadata_block_picture":  # Ogg
                from mutagen.flac import Picture

                for text in tags[key]:
                    try:
                        picture = Picture(base64.b64decode(text))
                    except (ValueError, TypeError, mutagen.MutagenError):
                        continue
                    found.append((picture.type != 3, picture.data))
    found.sort(key=lambda f: f[0])
    return found[0][1] if found else None


def folder_cover(path: str | bytes) -> str | None:
    """A cover picture beside a song, as music players find it: cover.*, folder.* or
    front.* (any case; JPEG, PNG or WebP); None when there is none."""
    folder = os.path.dirname(os.path.abspath(os.fsdecode(path)))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    ranked = []
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() in _COVER_EXTENSIONS and stem.lower() in _FOLDER_COVERS:
            ranked.append((_FOLDER_COVERS.index(stem.lower()), name))
    return os.path.join(folder, min(ranked)[1]) if ranked else None

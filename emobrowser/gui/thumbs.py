"""Thumbnail cache: small PNG files in cache_dir()/thumbs, rebuilt at will.

Qt-free: requested from a worker thread (see workers.ThumbnailLoader). A thumbnail is
keyed by a hash of the item's path, size and modification time, so an edited file gets
a new one; it is written to a temporary name and then renamed into place.

The media is untrusted, so it is never decoded in the GUI's own process: one helper
process, kept between thumbnails, decodes with the indexer's guards (the decoder's own
size checks, the decode budget of media.images) under the same memory limit as an
indexing worker and a time limit. A file that would need gigabytes is refused there,
and a decoder that crashes, hangs or runs out of memory costs the helper, not the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from emobrowser.core.paths import cache_dir, private_dir

log = logging.getLogger(__name__)

THUMB_SIDE = 160  # longest side in pixels
# Part of every thumbnail's key: raised when thumbnails are drawn differently, so old
# ones are not shown again. 2: video posters follow the display rotation.
THUMB_VERSION = 2
THUMB_SECONDS = 30.0  # time limit of one thumbnail in the helper process

_helper = None
_helper_lock = threading.Lock()


def thumbs_dir() -> Path:
    return cache_dir() / "thumbs"


def thumb_path(path: str, side: int = THUMB_SIDE) -> Path | None:
    """Where the picture of ``path`` whose longest side is at most ``side`` pixels lives
    (whether or not it exists yet); None if unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    size = "" if side == THUMB_SIDE else f"{side}\0"  # thumbnails keep the keys they had
    key = hashlib.blake2b(f"{THUMB_VERSION}\0{size}{path}\0{st.st_size}\0{st.st_mtime_ns}"
                          .encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return thumbs_dir() / key[:2] / f"{key}.png"


def cached_thumb(path: str, side: int = THUMB_SIDE) -> Path | None:
    """The existing thumbnail file of ``path`` (at ``side`` pixels), or None."""
    p = thumb_path(path, side)
    return p if p is not None and p.exists() else None


def poster_frame(path: str):
    """The first decodable video frame as a BGR array (PyAV, imported lazily)."""
    import av

    from emobrowser.media.audio import ffmpeg_local_name
    from emobrowser.media.video import upright_bgr

    with av.open(ffmpeg_local_name(path), mode="r", metadata_errors="ignore") as container:
        for frame in container.decode(video=0):
            return upright_bgr(frame)
    raise ValueError("no video frame")


def song_cover(path: str, side: int = THUMB_SIDE):
    """A song's cover as a BGR array: its embedded picture, else a cover.jpg,
    folder.jpg or front.* in its folder; None when it has neither. Runs in the
    helper process (see render_thumb), like every decode of the user's media."""
    from emobrowser.media.images import decode_image, load_image
    from emobrowser.media.metadata import embedded_cover, folder_cover
    from emobrowser.media.sniff import sniff

    data = embedded_cover(path)
    if data:
        modality, fmt = sniff(data[:65536], "cover.jpg")
        if modality.value == "image":
            return decode_image(data, fmt, min_side=side)[0]
    beside = folder_cover(path)
    return load_image(beside, min_side=side)[0] if beside else None


def _decoder():
    """The helper process pool (one worker, started on first use)."""
    global _helper
    from emobrowser.index.procpool import IMAGE_MEMORY_LIMIT, ProcessPool

    with _helper_lock:
        if _helper is None:
            _helper = ProcessPool(render_thumb, workers=1, timeout=THUMB_SECONDS, nice=0,
                                  memory_limit=IMAGE_MEMORY_LIMIT)
        return _helper


def stop_decoder() -> None:
    """Stop the helper process (it is started again when needed)."""
    global _helper
    with _helper_lock:
        helper, _helper = _helper, None
    if helper is not None:
        helper.close()


def make_thumb(path: str, modality: str, side: int = THUMB_SIDE) -> Path | None:
    """Create (if needed) and return the thumbnail file of an image, a video or a song
    with cover art (song_cover); None for a song without one or a file that cannot be
    decoded (see thumbnail for the reason)."""
    return thumbnail(path, modality, side)[0]


def thumbnail(path: str, modality: str, side: int = THUMB_SIDE) -> tuple[Path | None, str | None]:
    """(thumbnail file, None), or (None, the reason there is none); its longest side is
    at most ``side`` pixels (the quick look asks for large ones). The file is decoded in
    the guarded helper process, never in this one."""
    target = thumb_path(path, side)
    if target is None:
        return None, "cannot read file"
    if modality not in ("image", "video", "audio"):
        return None, f"no thumbnail for {modality}"
    if target.exists():
        return target, None
    ok, value = _decoder().call((path, modality, str(target), side))
    if not ok:
        log.info("no thumbnail for %s: %s", path, value)
        return None, value
    return Path(value), None


def render_thumb(path: str, modality: str, target: str, side: int = THUMB_SIDE) -> str:
    """Decode ``path`` and write its picture PNG, at most ``side`` pixels on its longest
    side, to ``target``; returns ``target``. Runs in the helper process; raises
    MediaError with the reason."""
    import cv2

    from emobrowser.core.errors import MediaError

    try:
        if modality == "image":
            from emobrowser.media.images import load_image

            bgr = load_image(path, min_side=side)[0]
        elif modality == "audio":
            bgr = song_cover(path, side)
            if bgr is None:
                raise MediaError("no cover art")
        else:
            from emobrowser.media.sniff import read_header

            read_header(path)  # a FIFO or device is refused here, not left to block FFmpeg
            bgr = poster_frame(path)
    except (ValueError, OSError) as exc:  # PyAV's errors, and files that went away
        what = {"image": "cannot decode the photo", "audio": "cannot decode the cover"}.get(modality, "no poster frame")
        raise MediaError(f"{what}: {exc}") from None
    h, w = bgr.shape[:2]
    scale = side / max(h, w)
    if scale < 1:
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise MediaError("the thumbnail could not be encoded")
    out = Path(target)
    private_dir(out.parent)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.{id(data)}.tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, out)
    return str(out)

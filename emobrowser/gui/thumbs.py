"""Thumbnail cache: small PNG files in cache_dir()/thumbs, rebuilt at will.

Qt-free: made in a worker thread (see workers.ThumbnailLoader). A thumbnail is keyed
by a hash of the item's path, size and modification time, so an edited file gets a
new one; it is written to a temporary name and then renamed into place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from emobrowser.core.paths import cache_dir, private_dir

THUMB_SIDE = 160  # longest side in pixels
# Part of every thumbnail's key: raised when thumbnails are drawn differently, so old
# ones are not shown again. 2: video posters follow the display rotation.
THUMB_VERSION = 2


def thumbs_dir() -> Path:
    return cache_dir() / "thumbs"


def thumb_path(path: str) -> Path | None:
    """Where the thumbnail of ``path`` lives (whether or not it exists yet); None if unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = hashlib.blake2b(f"{THUMB_VERSION}\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape"),
                          digest_size=12).hexdigest()
    return thumbs_dir() / key[:2] / f"{key}.png"


def cached_thumb(path: str) -> Path | None:
    """The existing thumbnail file of ``path``, or None."""
    p = thumb_path(path)
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


def song_cover(path: str):
    """A song's cover as a BGR array: its embedded picture, else a cover.jpg,
    folder.jpg or front.* in its folder; None when it has neither."""
    from emobrowser.media.images import decode_image, load_image
    from emobrowser.media.metadata import embedded_cover, folder_cover
    from emobrowser.media.sniff import sniff

    data = embedded_cover(path)
    if data:
        modality, fmt = sniff(data[:65536], "cover.jpg")
        if modality.value == "image":
            return decode_image(data, fmt, min_side=THUMB_SIDE)[0]
    beside = folder_cover(path)
    return load_image(beside, min_side=THUMB_SIDE)[0] if beside else None


def make_thumb(path: str, modality: str) -> Path | None:
    """Create (if needed) and return the thumbnail file of an image, a video or a song
    with cover art (song_cover); None for an undecodable file or a song without one."""
    import cv2

    target = thumb_path(path)
    if target is None or modality not in ("image", "video", "audio"):
        return None
    if target.exists():
        return target
    try:
        if modality == "image":
            from emobrowser.media.images import load_image

            bgr = load_image(path, min_side=THUMB_SIDE)[0]
        elif modality == "audio":
            bgr = song_cover(path)
            if bgr is None:
                return None
        else:
            bgr = poster_frame(path)
    except Exception:  # a broken file just has no thumbnail
        return None
    h, w = bgr.shape[:2]
    scale = THUMB_SIDE / max(h, w)
    if scale < 1:
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        return None
    private_dir(target.parent)
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.{id(data)}.tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, target)
    return target

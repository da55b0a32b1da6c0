"""M3U8 playlists of query results, written the same way by the GUI's export and by
``emobrowser query --m3u8``.

A playlist is one entry per line pair: ``#EXTINF:<seconds>,<title>`` then the file.
File names are the user's, possibly hostile: a name holding a line break (``\\n``,
``\\r``, U+0085, U+2028 or any other separator ``str.splitlines`` knows) would start a
new line and so inject an entry of its choosing. Such a file is written as a
percent-encoded ``file://`` URI, which every player opens and which has no line breaks;
titles have those characters replaced by spaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# line breaks of any kind, and every other control character
_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
PLAYABLE = ("audio", "video")


@dataclass
class PlaylistResult:
    written: int  # entries in the playlist
    as_uri: int  # of those, written as file:// URIs (their names hold line breaks)
    gone: list[str]  # paths left out: no longer on disk


def default_title(hit) -> str:
    """The EXTINF title of a hit: "Artist - Title" from its tags (``hit.tags``, where
    loaded), else its file name without the extension (a byte that is not UTF-8 shown
    as U+FFFD)."""
    from emobrowser.index.store import shown
    from emobrowser.index.tags import extinf_label

    return (extinf_label(None, getattr(hit, "tags", None))
            or shown(os.path.splitext(os.path.basename(hit.path))[0]))


def entry_location(path: str) -> tuple[str, bool]:
    """(the line that names ``path`` in a playlist, whether it is a file:// URI).

    A plain absolute path when it holds no line break or control character; a name
    that is not UTF-8 keeps its own bytes (surrogate escapes, written back as bytes).
    """
    path = os.path.abspath(path)
    if not _BREAKING.search(path):
        return path, False
    quoted = urllib.parse.quote(os.fsencode(path).replace(os.sep.encode(), b"/"), safe="/")
    return "file://" + ("" if quoted.startswith("/") else "/") + quoted, True


def one_line_title(title: str) -> str:
    """A title with line breaks and control characters replaced by spaces."""
    return _BREAKING.sub(" ", title)


def write_m3u8(target: str | os.PathLike, hits: Iterable, seconds: dict[int, float],
               title: Callable[[object], str] = default_title) -> PlaylistResult:
    """Write an extended M3U playlist (UTF-8) of the music and videos among ``hits``
    that are still on disk, in their order; images are left out.

    ``hits`` have ``id``, ``path`` and ``modality``; ``seconds`` maps an id to its
    duration in seconds (``#EXTINF:-1`` where unknown); ``title(hit)`` gives the text
    after the comma. The file is written to a temporary name, then renamed into place.
    """
    lines, as_uri, gone, written = ["#EXTM3U"], 0, [], 0
    for hit in hits:
        if getattr(hit, "modality", "audio") not in PLAYABLE:
            continue
        if not os.path.isfile(hit.path):  # deleted or moved since indexing
            gone.append(hit.path)
            continue
        dur = seconds.get(hit.id)
        location, uri = entry_location(hit.path)
        lines.append(f"#EXTINF:{round(dur) if dur is not None else -1},{one_line_title(title(hit))}")
        lines.append(location)
        as_uri += uri
        written += 1
    target = os.fspath(target)
    tmp = f"{target}.tmp"
    try:
        # a name that is not UTF-8 is written as its own bytes, which is what a player opens
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return PlaylistResult(written, as_uri, gone)

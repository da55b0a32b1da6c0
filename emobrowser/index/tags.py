"""The stored tags of library items, for search and display (no Qt).

Text search matches an item's file name, title, artist, album and album artist,
ignoring case and accents (media.metadata.fold: "salao" finds "Salão").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emobrowser.index.store import Store, shown_name
from emobrowser.media.metadata import fold

JSON_FIELDS = ("title", "artist", "album", "year", "date")


def text_mask(store: Store, ids: np.ndarray, paths: list[str], text: str) -> np.ndarray:
    """Which of the items (``ids`` with their ``paths``) match ``text`` by file name
    or tags, ignoring case and accents."""
    needle = fold(text.strip())
    folded = store.folded_tags()
    return np.fromiter((needle in fold(shown_name(p)) or needle in folded.get(int(i), "")
                        for i, p in zip(ids.tolist(), paths)), bool, len(paths))


def song_label(path: str, meta: dict | None) -> str:
    """How an item is named to people: "Artist – Title" when tagged (the title alone
    without an artist), else the file name."""
    meta = meta or {}
    title, artist = meta.get("title"), meta.get("artist")
    if title and artist:
        return f"{artist} – {title}"
    return title or shown_name(path)


def extinf_label(path: str, meta: dict | None) -> str:
    """The text of a playlist entry: "Artist - Title" (M3U's plain hyphen), or the file name."""
    meta = meta or {}
    title, artist = meta.get("title"), meta.get("artist")
    if title and artist:
        return f"{artist} - {title}"
    return title or shown_name(path)


def sort_date(meta: dict | None) -> str:
    """A key that orders items by date: the ISO date, else the year; "" when neither."""
    meta = meta or {}
    return meta.get("date") or (str(meta["year"]) if meta.get("year") else "")


def tags_of(db: str | Path, ids) -> dict[int, dict]:
    """{item id: stored tags} (Store.metadata_of) of a library's items."""
    with Store(db) as store:
        return store.metadata_of(ids)


def json_fields(meta: dict | None) -> dict:
    """title, artist, album, year and date (ISO 8601) of a query row; None when absent."""
    meta = meta or {}
    return {name: meta.get(name) for name in JSON_FIELDS}

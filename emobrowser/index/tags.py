"""The stored tags of library items, for search and display (no Qt).

Text search matches an item's file name, title, artist, album and album artist,
ignoring case and accents (media.metadata.fold: "salao" finds "Salão").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emobrowser.index.store import Store, shown_name
from emobrowser.media.metadata import fold, song_name

JSON_FIELDS = ("title", "artist", "album", "year", "date")


def text_mask(folded: dict[int, str], ids: np.ndarray, paths: list[str], text: str) -> np.ndarray:
    """Which of the items (``ids`` with their ``paths``) match ``text`` by file name
    or tags, ignoring case and accents. ``folded``: {id: tags folded for search}
    (Store.folded_tags)."""
    needle = fold(text.strip())
    return np.fromiter((needle in fold(shown_name(p)) or needle in folded.get(int(i), "")
                        for i, p in zip(ids.tolist(), paths)), bool, len(paths))


def song_label(path: str, meta: dict | None) -> str:
    """How an item is named to people: "Artist – Title" when tagged (the title alone
    without an artist), else the file name."""
    meta = meta or {}
    return song_name(meta.get("title"), meta.get("artist")) or shown_name(path)


def extinf_label(path: str | None, meta: dict | None) -> str | None:
    """The text of a playlist entry: "Artist - Title" (M3U's plain hyphen), the title
    alone, else the file name (None without a path)."""
    meta = meta or {}
    return song_name(meta.get("title"), meta.get("artist"), "-") or (shown_name(path) if path else None)


def sort_date(meta: dict | None) -> str:
    """A key that orders items by date: the ISO date, else the year; "" when neither."""
    meta = meta or {}
    return meta.get("date") or (str(meta["year"]) if meta.get("year") else "")


def tags_of(db: str | Path, ids) -> dict[int, dict]:
    """{item id: stored tags} (Store.metadata_of) of a library's items."""
    with Store(db, readonly=True) as store:
        return store.metadata_of(ids)


def json_fields(meta: dict | None) -> dict:
    """title, artist, album, year and date (ISO 8601) of a query row; None when absent."""
    meta = meta or {}
    return {name: meta.get(name) for name in JSON_FIELDS}


def hit_label(hit) -> str:
    """The name a Hit is shown under: "Artist – Title" for tagged songs and videos
    (song_label), the file name otherwise."""
    return song_label(hit.path, getattr(hit, "tags", None))


def detail_lines(hit) -> list[str]:
    """What the tags add about a Hit, one line each: the album with its year (or the
    year alone), a photo's date taken with its camera; [] when there are no tags."""
    meta = getattr(hit, "tags", None) or {}
    lines = []
    album, year = meta.get("album"), meta.get("year")
    if album or year:
        lines.append(f"{album or 'Year'} ({year})" if album and year else (album or str(year)))
    if hit.modality == "image" and meta.get("date"):
        taken = f"Taken {meta['date'].replace('T', ' ')}"
        lines.append(f"{taken} · {meta['camera']}" if meta.get("camera") else taken)
    elif meta.get("date"):
        lines.append(f"Created {meta['date'].replace('T', ' ')}")
    return lines


SORT_KEYS = ("relevance", "date", "name")


def sorted_hits(hits: list, key: str) -> list:
    """``hits`` in the order ``key`` names: "relevance" (as given: the search's own
    order), "date" (newest first by date taken or created, else by year; undated
    last), or "name" (by the name shown, ignoring case and accents)."""
    if key == "date":
        dated = [h for h in hits if sort_date(h.tags)]
        undated = [h for h in hits if not sort_date(h.tags)]
        return sorted(dated, key=lambda h: sort_date(h.tags), reverse=True) + undated
    if key == "name":
        return sorted(hits, key=lambda h: fold(hit_label(h)))
    return list(hits)

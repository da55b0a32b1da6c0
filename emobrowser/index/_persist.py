"""On-disk cache of the retrieval engine's Annoy indices (internal to emobrowser.index).

Layout in the cache folder, for an engine named NAME:

* ``NAME-GEN-MODALITY.ann``       the Annoy index (2-D euclidean; item i = position i)
* ``NAME-GEN-MODALITY.items.npy`` structured array (id int64, v float64, a float64),
  row i describing Annoy position i; loaded with allow_pickle=False
* ``NAME.meta.json``              format version, generation GEN, and for every file
  its size and CRC-32. Written last, atomically: it is the commit point.

GEN is new for every build, so a build never overwrites files that another index
object may still have memory-mapped (Windows cannot replace a mapped file), and a
crash mid-build leaves the previous generation intact. Every file is written under a
temporary name, fsynced and renamed into place.

Loading verifies sizes and CRCs *before* mapping the Annoy file: Annoy does not
bounds-check node references, so a corrupt file could crash the process rather
than raise. Any problem makes ``load`` return None (and log why); the caller then
rebuilds. Nothing here is ever fatal to the application.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from emobrowser.core.types import Modality

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ITEM_DTYPE = np.dtype([("id", "<i8"), ("v", "<f8"), ("a", "<f8")])


def new_generation() -> str:
    return f"{time.time_ns():x}{secrets.token_hex(3)}"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _replace_durably(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        _replace_durably(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _describe(path: Path) -> dict[str, Any]:
    return {"file": path.name, "size": path.stat().st_size, "crc32": file_crc(path)}


def _verify(folder: Path, entry: dict[str, Any]) -> Path:
    path = folder / entry["file"]
    if path.name != entry["file"] or path.stat().st_size != entry["size"]:
        raise ValueError(f"{path.name}: size differs from the metadata")
    if file_crc(path) != entry["crc32"]:
        raise ValueError(f"{path.name}: checksum differs from the metadata")
    return path


def new_annoy():
    from annoy import AnnoyIndex

    return AnnoyIndex(2, "euclidean")


def save_part(folder: Path, name: str, gen: str, modality: Modality, items: np.ndarray, index) -> dict:
    """Write one modality's built index and its items; return its metadata entry.

    ``index`` is a built AnnoyIndex; on return it is unloaded and a fresh, memory-
    mapped one is in ``entry["_index"]`` (not serialised).
    """
    ann_path = folder / f"{name}-{gen}-{modality.value}.ann"
    items_path = folder / f"{name}-{gen}-{modality.value}.items.npy"
    tmp = _tmp_name(ann_path)
    try:
        index.save(str(tmp))  # Annoy then maps tmp; unmap before renaming (Windows)
        index.unload()
        _replace_durably(tmp, ann_path)
    finally:
        tmp.unlink(missing_ok=True)
    tmp = _tmp_name(items_path)
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(items, dtype=ITEM_DTYPE), allow_pickle=False)
        _replace_durably(tmp, items_path)
    finally:
        tmp.unlink(missing_ok=True)
    mapped = new_annoy()
    mapped.load(str(ann_path))
    return {"count": int(len(items)), "ann": _describe(ann_path),
            "items": _describe(items_path), "_index": mapped}


def write_meta(folder: Path, name: str, gen: str, n_trees: int, parts: dict[Modality, dict]) -> None:
    meta = {
        "format": FORMAT_VERSION,
        "generation": gen,
        "metric": "euclidean",
        "dimensions": 2,
        "n_trees": n_trees,
        "modalities": {m.value: {k: v for k, v in e.items() if not k.startswith("_")}
                       for m, e in parts.items()},
    }
    atomic_write_bytes(folder / f"{name}.meta.json", json.dumps(meta, indent=1).encode())


def load(folder: Path, name: str) -> dict[Modality, tuple[np.ndarray, Any]] | None:
    """Load the cached generation: {modality: (items, mapped AnnoyIndex or None)}.

    Returns None when there is no cache or it is stale in format, incomplete or
    corrupt; never raises for a bad cache.
    """
    meta_path = folder / f"{name}.meta.json"
    if not meta_path.exists():
        return None
    loaded: dict[Modality, tuple[np.ndarray, Any]] = {}
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("dimensions") != 2:
            raise ValueError(f"format {meta.get('format')!r} is not {FORMAT_VERSION}")
        for key, entry in meta["modalities"].items():
            modality = Modality(key)
            count = int(entry["count"])
            items = np.load(_verify(folder, entry["items"]), allow_pickle=False)
            if items.dtype != ITEM_DTYPE or items.shape != (count,):
                raise ValueError(f"{entry['items']['file']}: unexpected contents")
            if count == 0:
                loaded[modality] = (items, None)
                continue
            index = new_annoy()
            index.load(str(_verify(folder, entry["ann"])))
            if index.get_n_items() != count:
                raise ValueError(f"{entry['ann']['file']}: {index.get_n_items()} items, expected {count}")
            loaded[modality] = (items, index)
        return loaded
    except Exception as exc:  # any defect in a rebuildable cache means: rebuild
        log.warning("ignoring the index cache %s: %s", meta_path, exc)
        for _, index in loaded.values():
            if index is not None:
                index.unload()
        return None


def cleanup(folder: Path, name: str, keep_gen: str) -> None:
    """Delete other generations' files and stray temporaries; best effort."""
    for path in folder.glob(f"{name}-*"):
        if not path.name.startswith(f"{name}-{keep_gen}-"):
            try:
                path.unlink()
            except OSError:  # e.g. still mapped on Windows: next build retries
                pass
    for path in folder.glob(f".{name}*.tmp-*"):
        try:
            if time.time() - path.stat().st_mtime > 3600:  # not a concurrent writer's
                path.unlink()
        except OSError:
            pass

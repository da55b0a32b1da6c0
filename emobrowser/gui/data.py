"""Qt-free reads and queries that the GUI runs in worker threads (see workers.py).

Every function opens its own Store, so it can run in any thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

from emobrowser.index.balance import DEFAULT_BALANCE
from emobrowser.index.library import (MODALITIES, Hit, LibraryPoints, alignment_version, folder_mask,
                                      hits_with_paths, load_points, open_engine)
from emobrowser.index.store import Store
from emobrowser.index.timeline import Timeline, item_timeline

# The retrieval engine of the points most recently loaded: (points, engine, (database, alignment version)).
_engine: tuple[LibraryPoints, object] | None = None
_engine_lock = threading.Lock()


@dataclass(frozen=True)
class QuerySpec:
    """What to search for. ``region`` is None for a point query, else ("rect", v0, a0, v1, a1)
    or ("circle", v, a, r). valence and arousal are in [-1, 1]. ``max_distance`` (point
    queries): None = the engine's relevance limit, ``math.inf`` = no limit."""

    valence: float = 0.0
    arousal: float = 0.0
    region: tuple | None = None
    k: int = 40
    modalities: tuple[str, ...] = MODALITIES
    balance: float = DEFAULT_BALANCE
    folder: str | None = None
    exclude: tuple[int, ...] = field(default_factory=tuple)
    max_distance: float | None = None
    text: str | None = None  # only items whose file name or tags contain it (index.tags.text_mask)
    mood: str | None = None  # the mood words the point came from, for the results header


def model_keys(image_model: str | None, audio_model: str | None) -> dict[str, tuple[str, str]]:
    """{"image": (name, version), "audio": (name, version)} of the models the GUI uses.

    Building a model object does not load its weights, so this never imports TensorFlow.
    """
    from emobrowser.models import registry

    image, audio = registry.image_model(image_model), registry.audio_model(audio_model)
    return {"image": (image.info.name, image.info.version), "audio": (audio.info.name, audio.info.version)}


def load_library(db_path, models: dict[str, tuple[str, str]]) -> LibraryPoints:
    """Every indexed item's point, for the given model keys.

    Also opens the retrieval engine over them: its Annoy indices load from the
    cache or build in a background thread, and until then it searches exactly.
    """
    global _engine
    with Store(db_path) as store, store.snapshot():  # the points and the alignment they went through
        points = load_points(store, models)
        points.folded, points.labels = store.folded_tags(), store.tag_labels()
        version, newest = alignment_version(store, models)
    with _engine_lock:
        if _engine is not None and same_points(_engine[0], points) and _engine[2] == (db_path, version):
            # The same points (a reload while indexing between two writes); tags read
            # since (a tags-only pass scores nothing) still reach searches and the map.
            kept = _engine[0]
            kept.folded, kept.labels = points.folded, points.labels
            return kept
    engine = open_engine(points, db_path, version, background=True, newest_alignment=newest)
    with _engine_lock:
        _engine = (points, engine, (db_path, version))
    return points


def same_points(old: LibraryPoints | None, new: LibraryPoints) -> bool:
    """Whether two LibraryPoints hold the same items at the same places."""
    if old is None or len(old) != len(new):
        return False
    return (np.array_equal(old.ids, new.ids) and np.array_equal(old.valence, new.valence)
            and np.array_equal(old.arousal, new.arousal) and np.array_equal(old.modality, new.modality))


def _engine_for(points: LibraryPoints):
    global _engine
    with _engine_lock:
        if _engine is None or _engine[0] is not points:
            _engine = (points, open_engine(points, background=True), None)
        return _engine[1]


def run_query(points: LibraryPoints, spec: QuerySpec, db_path=None) -> list[Hit]:
    """The balanced hits of ``spec`` over ``points``, through the retrieval engine: a
    QueryResult, whose ``left_out`` counts the farther items the distance limit kept
    off the page (see engine.QueryResult). With ``db_path``, each hit carries its
    stored tags (Hit.tags)."""
    from emobrowser.index.engine import QueryResult

    if len(points) == 0:
        return QueryResult()
    engine = _engine_for(points)
    keep = folder_mask(points, spec.folder) if spec.folder else None
    if spec.text:
        from emobrowser.index.tags import text_mask

        matching = text_mask(points.folded, points.ids, points.paths, spec.text)
        keep = matching if keep is None else keep & matching
    allowed = None if keep is None else points.ids[keep].tolist()
    options = {"modalities": spec.modalities, "balance": spec.balance, "allowed": allowed,
               "exclude": list(spec.exclude) or None}
    if spec.region is None:
        hits = engine.query(spec.valence, spec.arousal, k=spec.k, max_distance=spec.max_distance, **options)
    elif spec.region[0] == "rect":
        hits = engine.query_rect(*spec.region[1:], limit=spec.k, **options)
    else:
        hits = engine.query_circle(*spec.region[1:], limit=spec.k, **options)
    out = hits_with_paths(points, hits)
    if db_path is not None and out:
        from emobrowser.index.tags import tags_of

        tags = tags_of(db_path, [h.id for h in out])
        for hit in out:
            hit.tags = tags.get(hit.id)
    return QueryResult(out, hits.left_out, hits.limit)


def load_timeline(db_path, item_id: int, models: dict[str, tuple[str, str]]) -> Timeline:
    """The timeline of an audio or video item in the aligned space (index.timeline)."""
    with Store(db_path) as store:
        return item_timeline(store, item_id, models)


def durations(db_path, item_ids: list[int]) -> dict[int, float]:
    """Duration in seconds of each item that has one (audio and video)."""
    if not item_ids:
        return {}
    with Store(db_path) as store:
        return {int(i): float(d) for i, d in store.durations(item_ids).items()}


def library_status(db_path, models: dict[str, tuple[str, str]] | None = None):
    """(root folders, status counts per modality, failures as (path, reason), alignment
    note); paths are file-system paths (see Store.paths_of). The note says which
    alignment is in force, or why the stored one does not apply to ``models`` (None
    when none is stored, or without models)."""
    from emobrowser.align.transform import alignment_status

    with Store(db_path) as store:
        roots = [os.fsdecode(r) for _, r in store.roots()]
        note = None
        if models is not None:
            status = alignment_status(store, models)
            if "note" in status:
                note = f"{status['note'][0].upper()}{status['note'][1:]}. Library → Align photos with music fits it again."
            elif status["method"] != "identity":
                note = (f"Photos are aligned with music ({status['method']}, fit {status['version']}); "
                        f"Library → Remove alignment undoes it.")
        return roots, store.status_counts(), [(p, reason) for p, _m, reason in store.failures()], note


def write_m3u8(target: str, hits: list[Hit], seconds: dict[int, float]):
    """Write an M3U8 playlist of the music and videos among ``hits`` that are on disk;
    returns a playlist.PlaylistResult (see emobrowser.index.playlist, which
    ``emobrowser query --m3u8`` shares)."""
    from emobrowser.index.playlist import write_m3u8 as write

    return write(target, hits, seconds)


def copy_files(paths: list[str], folder: str, failed: list[tuple[str, str]] | None = None) -> list[str]:
    """Copy files into ``folder`` (originals untouched; existing names get " (2)" etc.).

    Returns the new paths. A file that cannot be copied (deleted or moved since it was
    indexed, unreadable, disk full) is skipped and, with ``failed``, listed there as
    (path, reason); the others are still copied.
    """
    import shutil

    out = []
    os.makedirs(folder, exist_ok=True)
    for src in paths:
        stem, ext = os.path.splitext(os.path.basename(src))
        dest, n = os.path.join(folder, stem + ext), 2
        while os.path.lexists(dest):  # a dangling symlink's name is taken too
            dest, n = os.path.join(folder, f"{stem} ({n}){ext}"), n + 1
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            if os.path.lexists(dest):  # the name was free before: a half-written copy
                os.remove(dest)
            if failed is not None:
                failed.append((src, exc.strerror or str(exc)))
            continue
        try:
            shutil.copystat(src, dest)  # times and mode, where the target allows them
        except OSError:
            pass
        out.append(dest)
    return out


def load_timelines(db_path, item_ids: list[int], models: dict[str, tuple[str, str]]) -> dict[int, Timeline]:
    """Timelines of several items (for the results' mood bars); items without one are left out."""
    out = {}
    for item_id in item_ids:
        t = load_timeline(db_path, item_id, models)
        if len(t):
            out[item_id] = t
    return out

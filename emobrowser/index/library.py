"""Queries over the library: the points of indexed items and the balanced search.

This is what ``emobrowser query`` and the GUI call. It reads each item's point from
the store (for the current models) and answers with balanced, mixed results.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emobrowser.core.errors import EmobrowserError
from emobrowser.index.balance import DEFAULT_BALANCE
from emobrowser.index.store import ItemRow, Store, within

MODALITIES = ("image", "audio", "video")


class QueryError(EmobrowserError):
    """A query that cannot be answered as asked; the message says why."""


@dataclass
class Hit:
    id: int
    path: str
    modality: str
    valence: float
    arousal: float
    distance: float
    tags: dict | None = None  # the item's stored tags (Store.metadata_of), where loaded


@dataclass
class LibraryPoints:
    """Arrays of every indexed item: ids, paths, modality codes, valence, arousal."""

    ids: np.ndarray
    paths: list[str]
    modality: np.ndarray  # object array of "image"/"audio"/"video"
    valence: np.ndarray
    arousal: np.ndarray
    # (stored path, real path) of the library folders (real_roots), for folder filters
    roots: list[tuple[str, str]] = field(default_factory=list)
    # Filled by callers that search and name items often (the GUI; Store.folded_tags and
    # Store.tag_labels): {id: tags folded for search}, {id: "Artist – Title"}, of tagged items only.
    folded: dict[int, str] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def current_models(store: Store | None = None) -> dict[str, tuple[str, str]]:
    """The (name, version) per modality whose scores queries use.

    These are the models the library was last indexed with, or the default models
    for a library that has never been indexed.
    """
    if store is not None:
        stored = store.get_setting("models")
        if stored:
            import json

            data = json.loads(stored)
            return {k: (v[0], v[1]) for k, v in data.items()}
    from emobrowser.models import registry

    image, audio = registry.image_model(), registry.audio_model()
    return {"image": (image.info.name, image.info.version), "audio": (audio.info.name, audio.info.version)}


def load_points(store: Store, models: dict[str, tuple[str, str]] | None = None,
                align: bool = True) -> LibraryPoints:
    """Every indexed item's point in the aligned space.

    Image-model values go through the library's active alignment (identity until
    ``emobrowser align`` has fitted one); audio values are the reference. A video's
    point is the mean of its aligned image value and its audio value.
    """
    with store.snapshot():  # scores and paths of the same items, even while indexing runs
        return _load_points(store, models or current_models(store), align)


def _load_points(store: Store, models: dict[str, tuple[str, str]], align: bool) -> LibraryPoints:
    ids, codes, source, valence, arousal = store.score_columns(models)
    if align and len(ids):
        from emobrowser.align.transform import active_transform

        transform = active_transform(store, models)
        if not transform.is_identity:
            from_image = source == 0
            moved = transform.apply(np.column_stack((valence[from_image], arousal[from_image])))
            valence, arousal = valence.copy(), arousal.copy()
            valence[from_image], arousal[from_image] = moved[:, 0], moved[:, 1]
    # collapse a video's two rows into their mean (rows are sorted by id)
    unique, start, counts = np.unique(ids, return_index=True, return_counts=True)
    if len(unique) != len(ids):
        valence = np.add.reduceat(valence, start) / counts
        arousal = np.add.reduceat(arousal, start) / counts
        codes = codes[start]
    names = np.array(MODALITIES, dtype=object)
    return LibraryPoints(unique.astype(np.int64), store.paths_of(unique), names[codes],
                         np.asarray(valence, np.float64), np.asarray(arousal, np.float64), real_roots(store))


def parse_modalities(text: str | None) -> tuple[str, ...]:
    if not text:
        return MODALITIES
    chosen = tuple(m.strip().lower() for m in text.split(",") if m.strip())
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown or not chosen:
        raise QueryError(f"unknown modality {(unknown or [text])[0]!r}; choose from image, audio, video")
    return chosen


def folder_mask(points: LibraryPoints, folder: str) -> np.ndarray:
    """Which points lie under ``folder``, written any of its ways (``~`` expanded; a
    symlink to a library folder, or a library folder's real path: library_forms).
    QueryError if the folder is neither on disk nor in or around a library folder (a
    drive that is not mounted keeps its items)."""
    folder = os.path.expanduser(folder)
    if not os.path.isdir(folder):
        given = os.path.abspath(folder)
        if not any(within(given, root) or within(root, given) for root, _real in points.roots):
            raise QueryError(f"no folder {folder!r}")
    return under_folder(points.paths, *library_forms(folder, points.roots))


def under_folder(paths: list[str], *folders: str) -> np.ndarray:
    """Which of ``paths`` are one of ``folders`` or lie below one (as ``store.within``,
    with each folder's prefix built once: this runs over the whole library)."""
    folders = tuple(os.path.abspath(f) for f in folders)
    prefixes = tuple(f.rstrip(os.sep) + os.sep for f in folders)
    return np.fromiter((p in folders or p.startswith(prefixes) for p in paths), bool, len(paths))


def engine_cache_dir(db: Path, alignment_version: int = 0) -> Path:
    """The cache folder of a library's Annoy indices (rebuildable at any time):
    ``<cache>/index/<library key>/align-<version>``. A new alignment moves every
    image, so it gets an index of its own."""
    import hashlib

    from emobrowser.core.paths import cache_dir

    key = hashlib.blake2b(f"{Path(db).resolve()}".encode(), digest_size=8).hexdigest()
    return cache_dir() / "index" / key / f"align-{int(alignment_version)}"


def _drop_older_indexes(db: Path, alignment_version: int, newest: int) -> None:
    """Delete a library's index folders of alignments older than ``newest`` (the
    library's latest fit) other than the one in force: nothing reads them any more
    (a process still searching one keeps its open files). A process that opens an
    older alignment after a newer one keeps the newer. Going back to no alignment
    (in force: 0) stores a fit of its own, so the fitted folders before it go too.
    Also the folders of the earlier layout, one per (library, alignment) directly
    under ``<cache>/index``."""
    import hashlib
    import shutil

    folder = engine_cache_dir(db, alignment_version)
    for other in folder.parent.glob("align-*"):
        version = other.name.removeprefix("align-")
        if version.isdigit() and int(version) != alignment_version and int(version) < newest:
            shutil.rmtree(other, ignore_errors=True)
    for version in range(int(alignment_version) + 1):
        key = hashlib.blake2b(f"{Path(db).resolve()}|{version}".encode(), digest_size=8).hexdigest()
        shutil.rmtree(folder.parent.parent / key, ignore_errors=True)


def open_engine(points: LibraryPoints, db: Path | None = None, alignment_version: int = 0,
                background: bool = False, newest_alignment: int = 0):
    """A RetrievalEngine over the library's points, its Annoy files cached per database.

    A cached index from an earlier run is reused: items that changed since are
    searched exactly from the engine's delta, so results are always current. With
    ``background`` the index is loaded or built in a thread while the engine already
    answers queries exactly.
    """
    from emobrowser.core.paths import private_dir
    from emobrowser.index.engine import RetrievalEngine

    folder = None
    if db is not None:
        folder = engine_cache_dir(db, alignment_version)
        try:
            # The first open of an alignment, or of an older one than the latest fit
            # (no alignment after `align --method identity`): older folders are done with.
            if not folder.is_dir() or newest_alignment > alignment_version:
                private_dir(folder)
                _drop_older_indexes(db, alignment_version, max(alignment_version, newest_alignment))
        except OSError:
            folder = None  # an unwritable cache: the index lives in memory
    engine = RetrievalEngine(points.ids, points.modality, points.valence, points.arousal, cache_dir=folder)
    engine.rebuild_if_needed(background=background)
    return engine


def hits_with_paths(points: LibraryPoints, hits) -> list[Hit]:
    """Engine hits (ids and points) completed with each item's path."""
    row_of = {int(i): r for r, i in enumerate(points.ids.tolist())}
    out = []
    for h in hits:
        r = row_of[int(h.id)]
        out.append(Hit(int(h.id), points.paths[r], str(getattr(h.modality, "value", h.modality)),
                       float(h.valence), float(h.arousal), float(h.distance)))
    return out


def parse_region(spec: str) -> tuple:
    """"rect:V0,A0,V1,A1" or "circle:V,A,R" -> ("rect", ...) / ("circle", ...)."""
    kind, _, numbers = spec.partition(":")
    try:
        values = tuple(float(x) for x in numbers.split(","))
    except ValueError:
        values = ()
    if not all(math.isfinite(x) for x in values):
        values = ()
    if kind == "rect" and len(values) == 4:
        return ("rect", *values)
    if kind == "circle" and len(values) == 3 and values[2] > 0:
        return ("circle", *values)
    raise QueryError(f"cannot read region {spec!r}; use rect:V0,A0,V1,A1 or circle:V,A,RADIUS")


def real_roots(store: Store) -> list[tuple[str, str]]:
    """(stored path, real path) of every library folder."""
    return [(root, os.path.realpath(root)) for root in (os.fsdecode(r) for _, r in store.roots())]


def library_forms(path: str, roots: list[tuple[str, str]]) -> list[str]:
    """The ways ``path`` may be written in the library: as given (absolute), and as it
    lies under each library folder of ``roots`` (see real_roots) reached by another
    route (a symlink to the folder, or the folder's real path when it was added
    through a symlink)."""
    forms = [os.path.abspath(path)]
    real = os.path.realpath(path)
    for root, real_root in roots:
        if within(real, real_root):
            form = os.path.normpath(os.path.join(root, os.path.relpath(real, real_root)))
            if form not in forms:
                forms.append(form)
    return forms


def library_item(store: Store, path: str, roots: list[tuple[str, str]]):
    """The library's item for ``path`` written any of its ways (see library_forms), or None."""
    for form in library_forms(path, roots):
        item = store.item_by_path(form)
        if item is not None:
            return item
    return None


def like_point(store: Store, points: LibraryPoints, path: str, item: ItemRow | None,
               at: float | None = None) -> tuple[str, float, float]:
    """(modality, valence, arousal) of an example file; ``item`` is the library's item
    for it (library_item), or None.

    An indexed file uses its point in ``points`` (the library's loaded points) or,
    with ``at``, the timeline moment at that time; any other file is scored now.
    """
    if item is not None and item.status == "indexed":
        rows = np.flatnonzero(points.ids == item.id)
        if rows.size:
            r = int(rows[0])
            if at is None:
                return str(points.modality[r]), float(points.valence[r]), float(points.arousal[r])
            models = current_models(store)
            wanted = {tuple(models["image"]), tuple(models["audio"])}
            moment = [s for s in store.segments(item.id) if s[3] <= at < s[4] and (s[0], s[1]) in wanted]
            if not moment:
                raise QueryError(f"{path} has no timeline moment at {at} s")
            values = np.array([[s[5], s[6]] for s in moment])
            from_image = np.array([s[2] == "image" for s in moment])
            if from_image.any():
                from emobrowser.align.transform import active_transform

                values[from_image] = active_transform(store, models).apply(values[from_image])
            return item.modality, float(values[:, 0].mean()), float(values[:, 1].mean())
    if not os.path.exists(path):
        raise QueryError(f"no such file: {path}")
    from emobrowser.index.scoring import score_paths

    from emobrowser.align.transform import active_transform

    result = next(score_paths([path]))
    if result.error:
        raise QueryError(f"cannot score {path}: {result.error}")
    transform = active_transform(store, current_models(store))
    if result.modality.value == "image":
        v, a = transform.apply(np.array([result.valence, result.arousal]))
        return "image", float(v), float(a)
    segments = [s for s in result.segments if at is None or s.start <= at < s.end]
    if at is None and result.modality.value == "audio":
        return "audio", float(result.valence), float(result.arousal)
    if not segments:
        if at is not None:
            raise QueryError(f"{path} has no timeline moment at {at} s")
        return result.modality.value, float(result.valence), float(result.arousal)
    # per source: image-model values are aligned, audio values are the reference
    per_source = []
    for source in ("image", "audio"):
        rows = np.array([[s.valence, s.arousal] for s in segments if s.source.value == source])
        if len(rows):
            point = rows.mean(axis=0)
            per_source.append(transform.apply(point) if source == "image" else point)
    v, a = np.mean(per_source, axis=0)
    return result.modality.value, float(v), float(a)


def resolve_target(args) -> tuple[float, float]:
    """The query point from --valence/--arousal or --mood."""
    if args.mood:
        from emobrowser.index.moods import parse_mood

        try:
            point = parse_mood(args.mood)
        except ValueError as exc:
            raise QueryError(str(exc)) from exc
        return float(point[0]), float(point[1])
    if args.valence is None or args.arousal is None:
        raise QueryError("give --valence and --arousal, or --mood, --like or --region")
    for name, value in (("valence", args.valence), ("arousal", args.arousal)):
        if not -1.0 <= value <= 1.0:
            raise QueryError(f"{name} must be in [-1, 1], got {value}")
    return args.valence, args.arousal


def alignment_version(store: Store, models: dict[str, tuple[str, str]] | None = None) -> tuple[int, int]:
    """(version of the alignment in force for ``models`` (default: the library's),
    0 = identity; version of the library's latest fit, whatever it is for)."""
    from emobrowser.align.transform import active_transform, stored_transform

    stored = stored_transform(store)
    return active_transform(store, models or current_models(store)).version, stored.version if stored else 0


def run_query(db: Path, args) -> list[Hit]:
    """Answer a parsed ``emobrowser query`` command line: a QueryResult (engine) of Hits
    with paths, whose ``left_out`` and ``limit`` say what the distance limit left out.

    ``--max-distance`` None applies the engine's relevance limit, a number replaces it,
    ``inf`` lifts it. ``--text`` keeps items whose file name or tags contain the text;
    alone, it lists every match, nearest to neutral first."""
    text = getattr(args, "text", None)
    if text is not None and not text.strip():
        raise QueryError("--text needs some text to look for")
    text_only = bool(text) and not (args.valence is not None or args.arousal is not None or args.mood
                                     or args.like or args.region)
    if args.k is not None and args.k < 1:
        raise QueryError("-k must be at least 1")
    balance = DEFAULT_BALANCE if args.balance is None else args.balance
    if not (balance >= 1.0 and math.isfinite(balance)):
        raise QueryError("--balance must be a finite number of at least 1")
    targets = [name for name, given in (("--valence/--arousal", args.valence is not None or args.arousal is not None),
                                        ("--mood", bool(args.mood)), ("--like", bool(args.like)),
                                        ("--region", bool(args.region))) if given]
    if len(targets) > 1:
        raise QueryError(f"give one target, not {' and '.join(targets)}")
    if args.at is not None and not args.like:
        raise QueryError("--at picks a moment of the --like example; give --like too")
    max_distance = args.max_distance
    if max_distance is not None:
        if not max_distance >= 0:  # also rejects nan; inf lifts the limit
            raise QueryError("--max-distance must be a number of at least 0, or inf for no limit")
        if args.region:
            raise QueryError("--max-distance applies to a point, a mood or --like; a region is its own limit")
    modalities = parse_modalities(args.modality)
    region = parse_region(args.region) if args.region else None
    with Store(db, readonly=True) as store, store.snapshot():  # the points and the alignment they went through
        points = load_points(store)
        version, newest = alignment_version(store)
        roots = points.roots
        exclude = None
        if args.like:
            item = library_item(store, args.like, roots)
            example_modality, valence, arousal = like_point(store, points, args.like, item, args.at)
            if not args.modality:  # a photo finds songs, a song finds photos
                modalities = tuple(m for m in MODALITIES if m != example_modality)
            exclude = [item.id] if item is not None else None
        elif text_only:  # every match, nearest to neutral first, in plain distance order
            valence, arousal = 0.0, 0.0
            max_distance = math.inf if max_distance is None else max_distance
            balance = 1.0 if args.balance is None else balance
        elif region is None:
            valence, arousal = resolve_target(args)
        matching = None
        if text:
            from emobrowser.index.tags import text_mask

            matching = text_mask(store.folded_tags(), points.ids, points.paths, text)
    from emobrowser.index.engine import QueryResult

    if len(points) == 0:
        return QueryResult()
    keep = folder_mask(points, args.folder) if args.folder else None
    if matching is not None:
        keep = matching if keep is None else keep & matching
    allowed = points.ids[keep].tolist() if keep is not None else None
    k = args.k if args.k is not None else (max(1, len(allowed)) if text_only else 20)
    engine = open_engine(points, db, version, newest_alignment=newest)
    try:
        if region is not None:
            if region[0] == "rect":
                hits = engine.query_rect(*region[1:], modalities=modalities, balance=balance, allowed=allowed,
                                         limit=k)
            else:
                hits = engine.query_circle(*region[1:], modalities=modalities, balance=balance, allowed=allowed,
                                           limit=k)
        else:
            hits = engine.query(valence, arousal, k=k, modalities=modalities, balance=balance,
                                max_distance=max_distance, allowed=allowed, exclude=exclude)
    finally:
        engine.close()
    return QueryResult(hits_with_paths(points, hits), hits.left_out, hits.limit)

"""A mood slideshow: library photos whose emotion follows a song's, span by span.

Qt-free and free of video encoding (``emobrowser.media.slideshow_video`` renders a
plan). Coordinates are the library's aligned space, as the map shows them
(``library.load_points``): valence and arousal in [-1, 1], 0 = neutral, distances
Euclidean in that plane.

The rule (also in the README):

1. **Spans.** The song is cut into spans of about S seconds. Each cut may move up to
   ``min(S / 3, 2 s)`` either way, to the 0.5 s step where the song's emotion changes
   most (the distance between its mean over the 1 s before and the 1 s after), when
   that change is at least ``MIN_CHANGE``. The last span runs to the song's end and is
   between S / 2 and 1.5 S long (a song shorter than 1.5 S is one span).
2. **Target.** A span's target is the mean of the timeline steps whose middle lies in it.
3. **Photo.** Let ``nearest`` be the distance from the target to the closest photo.
   Photos not shown yet and within ``nearest + REPEAT_MARGIN`` are the candidates; among
   the candidates within ``SMOOTH_SLACK`` of the closest candidate, the one closest to
   the previous span's photo is shown (no jarring jump when a nearly-as-close photo is
   smoother). Only when no unused photo is within ``nearest + REPEAT_MARGIN`` does a
   photo repeat: the one within that distance shown longest ago.
4. **Figures.** ``mean_distance`` is the duration-weighted mean distance between each
   span's target and its photo; ``random_mean_distance`` the same for a photo drawn at
   random from the pool (its expectation: every photo counted equally).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emobrowser.core.errors import EmobrowserError
from emobrowser.index.timeline import Timeline as SongTimeline, item_timeline

STEP_SECONDS = 0.5        # the audio timeline's step
CONTEXT_STEPS = 2         # a cut compares the 1 s before it with the 1 s after
MAX_SHIFT_SECONDS = 2.0   # a cut moves at most min(S / 3, this) from its nominal place
MIN_CHANGE = 0.1          # emotion change (distance in the plane) worth moving a cut for
REPEAT_MARGIN = 0.2       # unused photos this much farther than the nearest are still near enough
SMOOTH_SLACK = 0.05       # "nearly as close": may be shown instead, when nearer the previous photo
MIN_SECONDS_PER_PHOTO = 1.0


class SlideshowError(EmobrowserError):
    """A slideshow that cannot be made as asked; the message says why (exit status 1)."""


@dataclass
class Shot:
    """One photo on screen from ``start`` to ``end`` (seconds). valence/arousal are the
    photo's; song_valence/song_arousal the song's mean over the span; ``distance``
    between the two."""

    start: float
    end: float
    photo_id: int
    path: str
    valence: float
    arousal: float
    song_valence: float
    song_arousal: float
    distance: float


@dataclass
class SlideshowPlan:
    """Which photo shows when. ``pool`` is the number of photos the choice was made from;
    ``skipped`` lists (path, reason) of photos that could not be read and were passed over."""

    song: str
    duration: float
    shots: list[Shot]
    pool: int
    random_mean_distance: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    timeline: SongTimeline | None = None  # the song's, in the same space

    @property
    def mean_distance(self) -> float:
        """Duration-weighted mean distance between each span's target and its photo."""
        weights = np.array([s.end - s.start for s in self.shots])
        return float(np.average([s.distance for s in self.shots], weights=weights))

    @property
    def distinct(self) -> int:
        return len({s.photo_id for s in self.shots})

    @property
    def repeats(self) -> int:
        """How many shots show a photo already shown."""
        return len(self.shots) - self.distinct

    def repeat_note(self) -> str | None:
        """Why photos repeat, for the user; None when none does."""
        if not self.repeats:
            return None
        if self.pool < len(self.shots):
            return (f"only {self.pool} photos for {len(self.shots)} spans, so {self.repeats} "
                    f"span{'s' if self.repeats != 1 else ''} repeat a photo")
        return (f"{self.repeats} span{'s' if self.repeats != 1 else ''} repeat a photo: no unused photo was "
                f"near the song's emotion there")

    def to_json(self, out: str) -> dict:
        """The ``emobrowser slideshow --json`` object (numbers rounded to 6 digits)."""
        r = lambda x: round(float(x), 6)  # noqa: E731
        return {"song": self.song, "out": out, "duration_s": r(self.duration),
                "frames": [{"start": r(s.start), "end": r(s.end), "photo": s.path, "valence": r(s.valence),
                            "arousal": r(s.arousal), "song_valence": r(s.song_valence),
                            "song_arousal": r(s.song_arousal), "distance": r(s.distance)} for s in self.shots],
                "mean_distance": r(self.mean_distance), "random_mean_distance": r(self.random_mean_distance),
                "photos": self.pool, "distinct_photos": self.distinct, "repeats": self.repeats,
                "skipped": [{"photo": p, "error": e} for p, e in self.skipped]}


# -- spans -------------------------------------------------------------------------------


def _change_at(points: np.ndarray, i: int) -> float:
    """Distance between the mean emotion of the CONTEXT_STEPS steps before step i and of those from it."""
    before, after = points[max(0, i - CONTEXT_STEPS):i], points[i:i + CONTEXT_STEPS]
    if not len(before) or not len(after):
        return 0.0
    return float(np.linalg.norm(before.mean(axis=0) - after.mean(axis=0)))


def cut_spans(timeline: SongTimeline, duration: float, seconds: float) -> list[tuple[float, float]]:
    """(start, end) spans in seconds covering [0, duration], about ``seconds`` long each,
    with cuts moved to nearby changes of emotion (rule 1 of the module docstring)."""
    if duration <= 0:
        raise SlideshowError("the song has no length")
    points, times = timeline.points, np.asarray(timeline.start, np.float64)
    shift = min(seconds / 3.0, MAX_SHIFT_SECONDS)
    spans, start = [], 0.0
    while duration - start > 1.5 * seconds:
        nominal = start + seconds
        best, best_change = nominal, MIN_CHANGE
        for i in np.flatnonzero((times >= nominal - shift) & (times <= nominal + shift)):
            at = float(times[i])
            if i == 0 or at - start < seconds / 2 or duration - at < seconds / 2:
                continue
            change = _change_at(points, int(i))
            # the larger change wins; of equal ones, the cut nearer its nominal place
            nearer = abs(at - nominal) < abs(best - nominal)
            if change > best_change + 1e-9 or (change >= best_change - 1e-9 and nearer):
                best, best_change = at, change
        spans.append((start, best))
        start = best
    spans.append((start, duration))
    return spans


def span_targets(timeline: SongTimeline, spans: list[tuple[float, float]]) -> np.ndarray:
    """(n, 2) mean song emotion per span: the steps whose middle lies in the span (the
    nearest step when none does)."""
    middles = (np.asarray(timeline.start) + np.asarray(timeline.end)) / 2.0
    points = timeline.points
    out = np.empty((len(spans), 2))
    for j, (s, e) in enumerate(spans):
        inside = (middles >= s) & (middles < e)
        out[j] = points[inside].mean(axis=0) if inside.any() else points[np.argmin(np.abs(middles - (s + e) / 2))]
    return out


# -- choosing photos -----------------------------------------------------------------------


class PhotoChooser:
    """Chooses one photo per span in order (rule 3 of the module docstring).

    ``points`` (n, 2) are the photos' valence and arousal. ``usable(i)``, if given, is
    asked once about each photo before it is first chosen; a photo it refuses (raising
    EmobrowserError, whose message is kept in ``skipped``) is never chosen.
    """

    def __init__(self, points: np.ndarray, usable: Callable[[int], None] | None = None):
        self.points = np.asarray(points, np.float64).reshape(-1, 2)
        self.usable = usable
        self.bad = np.zeros(len(self.points), bool)
        self.checked = np.zeros(len(self.points), bool)
        self.last_shown = np.full(len(self.points), -1)  # span index of the latest showing, -1 = never
        self.previous: int | None = None
        self.skipped: list[tuple[int, str]] = []
        self._span = 0

    def choose(self, target) -> int:
        """The photo for the next span, whose song emotion is ``target`` (valence, arousal).
        SlideshowError when no usable photo is left."""
        while True:
            i = self._pick(np.asarray(target, np.float64))
            if i is None:
                raise SlideshowError(f"none of the {len(self.points)} photos could be read"
                                     + (f" ({self.skipped[0][1]})" if self.skipped else ""))
            if self.checked[i] or self.usable is None:
                break
            self.checked[i] = True
            try:
                self.usable(i)
                break
            except EmobrowserError as exc:
                self.bad[i] = True
                self.skipped.append((i, str(exc)))
        self.last_shown[i] = self._span
        self._span += 1
        self.previous = i
        return i

    def _pick(self, target: np.ndarray) -> int | None:
        d = np.linalg.norm(self.points - target, axis=1)
        d[self.bad] = np.inf
        if not len(d) or not np.isfinite(d).any():
            return None
        near = d <= d.min() + REPEAT_MARGIN
        unused = near & (self.last_shown < 0)
        if unused.any():
            best = d[unused].min()
            pool = np.flatnonzero(unused & (d <= best + SMOOTH_SLACK))
            if self.previous is None or len(pool) == 1:
                return int(pool[np.argmin(d[pool])])
            jump = np.linalg.norm(self.points[pool] - self.points[self.previous], axis=1)
            return int(pool[np.lexsort((d[pool], jump))[0]])
        pool = np.flatnonzero(near)
        return int(pool[np.lexsort((d[pool], self.last_shown[pool]))[0]])


def plan_shots(timeline: SongTimeline, duration: float, seconds: float, photo_ids, photo_paths: list[str],
               photo_points, usable: Callable[[int], None] | None = None) -> tuple[list[Shot], list[tuple[str, str]]]:
    """The shots of a slideshow and the (path, reason) of photos passed over as unreadable.

    ``usable`` as for PhotoChooser, called with a photo's index in the arrays."""
    if not len(timeline):
        raise SlideshowError("the song has no emotion timeline")
    points = np.asarray(photo_points, np.float64).reshape(-1, 2)
    if not len(points):
        raise SlideshowError("no photos to choose from")
    spans = cut_spans(timeline, duration, seconds)
    targets = span_targets(timeline, spans)
    chooser = PhotoChooser(points, usable)
    shots = []
    for (start, end), target in zip(spans, targets):
        i = chooser.choose(target)
        shots.append(Shot(float(start), float(end), int(photo_ids[i]), photo_paths[i], float(points[i, 0]),
                          float(points[i, 1]), float(target[0]), float(target[1]),
                          float(np.linalg.norm(points[i] - target))))
    return shots, [(photo_paths[i], reason) for i, reason in chooser.skipped]


def random_mean_distance(shots: list[Shot], photo_points) -> float:
    """The expected duration-weighted mean distance of the shots' targets to a photo
    drawn at random from ``photo_points`` (the baseline for ``mean_distance``)."""
    points = np.asarray(photo_points, np.float64).reshape(-1, 2)
    targets = np.array([[s.song_valence, s.song_arousal] for s in shots])
    per_span = np.linalg.norm(points[None, :, :] - targets[:, None, :], axis=2).mean(axis=1)
    return float(np.average(per_span, weights=[s.end - s.start for s in shots]))


# -- from the library ----------------------------------------------------------------------


def library_song(store, path: str, roots):
    """The library's audio item for ``path``, indexed; SlideshowError saying why not."""
    from emobrowser.index.library import library_item
    from emobrowser.index.store import shown

    item = library_item(store, path, roots)
    if item is None:
        if not os.path.exists(path):
            raise SlideshowError(f"cannot use {shown(path)} as the song: no such file")
        raise SlideshowError(f"{shown(path)} has no emotion timeline: it is not in the library; add its "
                             f"folder with `emobrowser index FOLDER`")
    if item.status == "failed":
        raise SlideshowError(f"{shown(path)} has no emotion timeline: it could not be indexed ({item.error})")
    if item.status != "indexed":
        raise SlideshowError(f"{shown(path)} has no emotion timeline: it is {item.status}, not indexed; "
                             f"run `emobrowser index`")
    if item.modality != "audio":
        raise SlideshowError(f"{shown(path)} is {'a photo' if item.modality == 'image' else 'a video'}, "
                             f"not a song")
    return item


def plan_for_song(store, song: str, seconds: float = 3.0, folder: str | None = None,
                  usable: Callable[[str], None] | None = None) -> SlideshowPlan:
    """The slideshow plan for a song of the library, from its indexed photos (those under
    ``folder`` only, if given). ``usable(path)`` may refuse a photo by raising
    EmobrowserError (e.g. a decode check); the plan passes over it."""
    from emobrowser.index.library import QueryError, current_models, folder_mask, load_points
    from emobrowser.index.store import shown

    if not (seconds >= MIN_SECONDS_PER_PHOTO and np.isfinite(seconds)):
        raise SlideshowError(f"--seconds-per-photo must be at least {MIN_SECONDS_PER_PHOTO:g}, not {seconds:g}")
    with store.snapshot():
        models = current_models(store)
        points = load_points(store, models)
        item = library_song(store, song, points.roots)
        timeline = item_timeline(store, item.id, models)
        stored = store.durations([item.id]).get(item.id)
    if not len(timeline):
        raise SlideshowError(f"{shown(song)} has no emotion timeline for the library's current models; "
                             f"run `emobrowser index` to score it")
    duration = float(stored) if stored else float(timeline.end[-1])
    mask = points.modality == "image"
    if folder:
        try:
            mask &= folder_mask(points, folder)
        except QueryError as exc:
            raise SlideshowError(str(exc)) from None
    rows = np.flatnonzero(mask)
    if not len(rows):
        raise SlideshowError(f"no indexed photos under {shown(folder)}" if folder else
                             "the library has no indexed photos; add a folder of photos with `emobrowser index`")
    ids, paths = points.ids[rows], [points.paths[r] for r in rows]
    va = np.column_stack((points.valence[rows], points.arousal[rows]))
    check = None if usable is None else (lambda i: usable(paths[i]))
    shots, skipped = plan_shots(timeline, duration, seconds, ids, paths, va, check)
    bad = {p for p, _ in skipped}
    good = np.array([p not in bad for p in paths])
    return SlideshowPlan(os.fsdecode(item.raw_path), duration, shots, int(good.sum()),
                         random_mean_distance(shots, va[good]), skipped, timeline)


def plan_for_library(db_path, song: str, seconds: float = 3.0, folder: str | None = None,
                     usable: Callable[[str], None] | None = None) -> SlideshowPlan:
    """plan_for_song on the library at ``db_path``, opened for this call (any thread)."""
    from emobrowser.index.store import Store

    with Store(db_path) as store:
        return plan_for_song(store, song, seconds, folder, usable)

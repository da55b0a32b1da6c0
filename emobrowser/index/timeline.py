"""An item's emotion over time, as the app shows it: the detail view's timeline and
the slideshow's song both read it from here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Timeline:
    """An item's emotion over time: step start/end in seconds, valence and arousal in
    [-1, 1] (0 = neutral), in the library's aligned space."""

    start: np.ndarray
    end: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @property
    def points(self) -> np.ndarray:
        """(steps, 2) array of (valence, arousal)."""
        return np.column_stack((self.valence, self.arousal))


def item_timeline(store, item_id: int, models: dict[str, tuple[str, str]]) -> Timeline:
    """The timeline of an audio or video item of ``store`` (an index.store.Store) in the
    aligned space; empty when it has none.

    A video's image-model values pass through the library's alignment, then each
    moment's image and audio values are averaged, as for the item's own point.
    """
    from emobrowser.align.transform import active_transform

    wanted = {tuple(models["image"]), tuple(models["audio"])}
    transform = active_transform(store, models)
    moments: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for model, version, source, start, end, v, a in store.segments(item_id):
        if (model, version) in wanted:
            if source == "image" and not transform.is_identity:
                v, a = transform.apply(np.array([v, a]))
            moments.setdefault((start, end), []).append((float(v), float(a)))
    keys = sorted(moments)
    va = np.array([np.mean(moments[k], axis=0) for k in keys]).reshape(-1, 2)
    return Timeline(np.array([k[0] for k in keys], np.float64), np.array([k[1] for k in keys], np.float64),
                    va[:, 0], va[:, 1])

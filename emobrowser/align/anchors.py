"""Anchors for the alignment: matched (image, audio) scores of the same video segment.

Every indexed video is cut into segments (15 s by default); each segment carries a
mean-of-frames score from the image model (source 'image') and a score of its
soundtrack from the audio model (source 'audio'). The picture and the sound of one
moment of a film are meant to feel alike, so these pairs are the natural anchors
for mapping one model's space onto the other's.

All values are valence and arousal in [-1, 1], 0 = neutral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Segment boundaries come from the same floats for both sources; rounding to the
# millisecond only guards against a future writer that recomputes them.
_ANCHOR_SQL = """
    SELECT si.item_id, si.start, si.valence, si.arousal, sa.valence, sa.arousal
    FROM segments si
    JOIN segments sa ON sa.item_id = si.item_id
        AND ROUND(sa.start, 3) = ROUND(si.start, 3) AND ROUND(sa.end, 3) = ROUND(si.end, 3)
    JOIN items i ON i.id = si.item_id
    WHERE i.status = 'indexed' AND i.modality = 'video'
        AND si.source = 'image' AND si.model = ? AND si.version = ?
        AND sa.source = 'audio' AND sa.model = ? AND sa.version = ?
    ORDER BY si.item_id, si.start
"""


@dataclass
class Anchors:
    """n matched pairs: image (n, 2) and audio (n, 2) [valence, arousal], video ids (n,)."""

    image: np.ndarray
    audio: np.ndarray
    video: np.ndarray

    def __len__(self) -> int:
        return len(self.video)

    @property
    def n_videos(self) -> int:
        return int(np.unique(self.video).size)

    def subset(self, mask: np.ndarray) -> Anchors:
        return Anchors(self.image[mask], self.audio[mask], self.video[mask])


def load_anchors(store, image_model: tuple[str, str], audio_model: tuple[str, str]) -> Anchors:
    """Anchors of every indexed video for the given (name, version) image and audio models."""
    rows = store.conn.execute(_ANCHOR_SQL, (*image_model, *audio_model)).fetchall()
    if not rows:
        return Anchors(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, np.int64))
    data = np.asarray([r[2:] for r in rows], np.float64)
    return Anchors(data[:, 0:2].copy(), data[:, 2:4].copy(), np.asarray([r[0] for r in rows], np.int64))


def library_values(store, modality: str, model: tuple[str, str]) -> np.ndarray:
    """Whole-item scores (n, 2) of indexed photos ("image") or songs ("audio") for ``model``.

    These are not anchors (nothing pairs a photo with a song) but they describe the
    library's distribution of each modality, which the statistical method may use.
    """
    rows = store.conn.execute(
        "SELECT s.valence, s.arousal FROM scores s JOIN items i ON i.id = s.item_id "
        "WHERE i.status = 'indexed' AND i.modality = ? AND s.model = ? AND s.version = ? ORDER BY i.id",
        (modality, *model)).fetchall()
    return np.asarray(rows, np.float64).reshape(-1, 2)

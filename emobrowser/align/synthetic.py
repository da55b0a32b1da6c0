"""A synthetic library of scored videos, photos and songs, written straight into a Store.

For tests and for trying ``emobrowser align`` without real media: it inserts the
rows indexing would write (items, scores, segments) with SQL, in milliseconds.

The hidden "true" mood of each segment follows a smooth walk around a per-video
mood. The audio model sees it with a little noise; the image model sees it through
a known distortion -- rotation, uniform scale, shift, an optional tanh squash -- plus
its own noise, which is what the alignment has to undo. Values are valence and
arousal in [-1, 1].
"""

from __future__ import annotations

import numpy as np


def distort(values: np.ndarray, angle_degrees: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0),
            squash: float = 0.0) -> np.ndarray:
    """values @ R(angle) * scale + shift, then an optional tanh squash (0 = none), clipped to [-1, 1]."""
    t = np.radians(angle_degrees)
    rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    out = scale * np.asarray(values, np.float64) @ rotation + np.asarray(shift, np.float64)
    if squash > 0:
        out = np.tanh(squash * out) / np.tanh(squash)
    return np.clip(out, -1.0, 1.0)


def fill_synthetic_library(store, videos: int = 7, segments: int = 28, photos: int = 0, songs: int = 0,
                           angle_degrees: float = 20.0, scale: float = 0.7, shift=(0.15, -0.1),
                           squash: float = 0.0, image_noise: float = 0.05, audio_noise: float = 0.03,
                           segment_seconds: float = 15.0, image_model: tuple[str, str] | None = None,
                           audio_model: tuple[str, str] | None = None,
                           seed: int = 0) -> dict:
    """Insert indexed videos (with per-segment image and audio scores), photos and songs.

    ``segments`` may be an int or a list (one count per video). Returns the hidden
    truth: {"true": (n, 2) segment moods, "image": (n, 2), "audio": (n, 2)} in insert order.
    """
    if image_model is None or audio_model is None:
        from emobrowser.align.transform import current_model_keys

        keys = current_model_keys()
        image_model, audio_model = image_model or keys["image"], audio_model or keys["audio"]
    rng = np.random.default_rng(seed)
    counts = list(segments) if not isinstance(segments, int) else [segments] * videos
    truth, img_all, aud_all = [], [], []
    item = store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]

    def add_item(conn, modality: str, length: float | None) -> int:
        nonlocal item
        item += 1
        path = f"/synthetic/{modality}/{item:05d}"
        conn.execute("INSERT INTO items(id, raw_path, path, modality, format, size, mtime_ns, status, duration, "
                     "updated) VALUES (?, ?, ?, ?, 'synthetic', 1, 0, 'indexed', ?, 0)",
                     (item, path.encode(), path, modality, length))
        return item

    with store.transaction() as conn:
        for n in counts:
            centre = rng.uniform(-0.6, 0.6, 2)
            steps = rng.normal(0, 0.12, (n, 2))
            true = np.clip(centre + np.cumsum(steps, axis=0) * 0.8, -0.95, 0.95)
            img = np.clip(distort(true, angle_degrees, scale, shift, squash) + rng.normal(0, image_noise, true.shape),
                          -1, 1)
            aud = np.clip(true + rng.normal(0, audio_noise, true.shape), -1, 1)
            vid = add_item(conn, "video", n * segment_seconds)
            for model, va in ((image_model, img), (audio_model, aud)):
                conn.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?)", (vid, *model, *va.mean(axis=0)))
            rows = []
            for s in range(n):
                start, end = s * segment_seconds, (s + 1) * segment_seconds
                rows.append((vid, *image_model, "image", start, end, *img[s]))
                rows.append((vid, *audio_model, "audio", start, end, *aud[s]))
            conn.executemany("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            truth.append(true)
            img_all.append(img)
            aud_all.append(aud)
        for _ in range(photos):
            true = rng.uniform(-0.8, 0.8, 2)
            va = np.clip(distort(true[None], angle_degrees, scale, shift, squash)[0] + rng.normal(0, image_noise, 2),
                         -1, 1)
            photo = add_item(conn, "image", None)
            conn.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?)", (photo, *image_model, *va))
        for _ in range(songs):
            va = np.clip(rng.uniform(-0.8, 0.8, 2) + rng.normal(0, audio_noise, 2), -1, 1)
            song = add_item(conn, "audio", 180.0)
            conn.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?)", (song, *audio_model, *va))
    empty = np.zeros((0, 2))
    return {"true": np.concatenate(truth) if truth else empty, "image": np.concatenate(img_all) if img_all else empty,
            "audio": np.concatenate(aud_all) if aud_all else empty}

"""The built-in demo library: generated media, kept apart from the user's library.

Everything is drawn and synthesised here by ``emobrowser.media.synth``; there is no
third-party media. The files live in the cache folder and have their own database,
so ``emobrowser --demo`` never touches the user's own library.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from emobrowser.core.paths import cache_dir, private_dir

DEMO_VERSION = "4"

# (name, image kind, brightness scale, saturation scale)
IMAGES = [
    ("sunny_morning", "warm", 1.0, 1.0), ("golden_hour", "warm", 0.8, 1.3), ("pale_sunrise", "warm", 1.1, 0.5),
    ("festival_stripes", "vivid", 1.0, 1.0), ("neon_night", "vivid", 0.6, 1.2), ("faded_poster", "vivid", 1.0, 0.4),
    ("smiling_face", "face", 1.0, 1.0), ("face_in_shadow", "face", 0.45, 0.8), ("washed_out_face", "face", 1.1, 0.3),
    ("deep_lake", "cool", 1.0, 1.0), ("blue_hour", "cool", 0.7, 1.2), ("misty_shore", "cool", 1.4, 0.4),
    ("empty_room", "dark", 1.0, 1.0), ("midnight", "dark", 0.6, 1.0), ("dim_corridor", "dark", 1.8, 0.5),
    ("overcast", "grey", 1.0, 1.0), ("concrete", "grey", 0.7, 1.0), ("paper", "grey", 1.6, 1.0),
    ("static", "noise", 1.0, 1.0), ("storm_texture", "noise", 0.5, 0.6), ("confetti", "noise", 1.2, 1.6),
    ("sunset_stripes", "vivid", 0.9, 0.8), ("cold_sun", "warm", 0.9, 0.2), ("night_sea", "cool", 0.35, 1.0),
]

# (name, bpm, major, loudness, brightness). The names say how each clip is made, not
# how it should score: the audio model rates the fast, loud ones far above the slow,
# quiet ones in arousal, but synthetic tones are outside the music it learned from,
# and it hears the fast minor-key ones as pleasant too.
CLIPS = [
    ("fast_major_rock", 150, True, 0.95, 0.9), ("brisk_major_march", 132, True, 0.8, 0.7),
    ("fast_major_jig", 170, True, 0.9, 0.8), ("fast_minor_drums", 160, False, 0.95, 0.9),
    ("fast_minor_riff", 145, False, 0.9, 0.95), ("fastest_minor_chase", 175, False, 0.8, 0.8),
    ("slow_minor_quiet", 60, False, 0.25, 0.2), ("slow_minor_waltz", 72, False, 0.3, 0.3),
    ("slowest_minor_dark", 50, False, 0.2, 0.15), ("slow_major_quiet", 66, True, 0.25, 0.25),
    ("slow_major_soft", 76, True, 0.3, 0.35), ("slow_major_dark", 58, True, 0.2, 0.3),
]

VIDEOS = [
    ("day_to_night", [("warm", {"rock": True, "bpm": 150, "loudness": 0.9}),
                      ("cool", {"bpm": 80, "major": True, "loudness": 0.4}),
                      ("dark", {"bpm": 55, "major": False, "loudness": 0.2, "brightness": 0.2})]),
    ("storm_and_calm", [("vivid", {"rock": True, "bpm": 165, "major": False, "loudness": 0.95}),
                        ("grey", {"bpm": 70, "major": False, "loudness": 0.3}),
                        ("face", {"bpm": 110, "major": True, "loudness": 0.6})]),
]


def demo_dir() -> Path:
    return cache_dir() / "demo"


def demo_db_path() -> Path:
    return demo_dir() / "library.sqlite3"


def demo_media_dir() -> Path:
    return demo_dir() / "media"


def _adjust(bgr: np.ndarray, brightness: float, saturation: float) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] *= saturation
    hsv[..., 2] *= brightness
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


def _natural_texture(height: int, width: int, seed: int) -> np.ndarray:
    """1/f ("pink") noise in [0, 1]: the power spectrum of natural photographs.

    Flat drawings have almost no texture energy, which puts them far outside the
    photos the image model learned from; modulating them with 1/f noise brings
    their texture statistics closer to real photos.
    """
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.standard_normal((height, width)))
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    radius[0, 0] = 1.0
    texture = np.real(np.fft.ifft2(spectrum / radius))
    return (texture - texture.min()) / max(float(np.ptp(texture)), 1e-9)


def _generate(folder: Path) -> None:
    from emobrowser.media import synth

    (folder / "photos").mkdir(parents=True)
    (folder / "music").mkdir()
    (folder / "videos").mkdir()
    for i, (name, kind, bright, sat) in enumerate(IMAGES):
        scene = synth.draw_image(kind, (360, 480), seed=i).astype(np.float32)
        scene *= 0.55 + 0.9 * _natural_texture(360, 480, seed=i)[..., None]
        img = _adjust(np.clip(scene, 0, 255).astype(np.uint8), bright, sat)
        synth.write_image(folder / "photos" / f"{name}.jpg", img)
    for i, (name, bpm, major, loud, bright) in enumerate(CLIPS):
        if bpm >= 130:  # the excited half of the circle: dense, driven, percussive
            audio = synth.synth_rock(12.0, 22050, bpm=bpm, major=major, loudness=loud, seed=i)
        else:
            audio = synth.synth_music(12.0, 22050, bpm=bpm, major=major, loudness=loud, brightness=bright, seed=i)
        synth.write_audio(folder / "music" / f"{name}.{'mp3' if i % 3 else 'flac'}", audio)
    for name, scenes in VIDEOS:
        synth.write_video(folder / "videos" / f"{name}.mp4", scenes, seconds_per_scene=10.0, fps=10,
                          size=(180, 320))


def ensure_demo_media() -> Path:
    """Generate the demo media if it is missing or outdated; return its folder."""
    media = demo_media_dir()
    marker = media / ".demo-version"
    if marker.exists() and marker.read_text().strip() == DEMO_VERSION:
        return media
    private_dir(demo_dir())
    tmp = demo_dir() / f"media.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _generate(tmp)
    (tmp / ".demo-version").write_text(DEMO_VERSION)
    shutil.rmtree(media, ignore_errors=True)
    os.replace(tmp, media)
    return media


def index_demo(progress=None, cancelled=lambda: False):
    """Generate (if needed) and index the demo library; returns the IndexSummary."""
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    media = ensure_demo_media()
    with Store(demo_db_path()) as store:
        return index_library(store, [str(media)], progress=progress, cancelled=cancelled)

"""The built-in demo library: generated media, kept apart from the user's library.

Everything is drawn and synthesised here by ``emobrowser.media.synth``; there is no
third-party media. The files live in the cache folder and have their own database,
so ``emobrowser --demo`` never touches the user's own library.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


from emobrowser.core.paths import cache_dir, private_dir

DEMO_VERSION = "5"

# The demo spans the four quarters of the circle as the app's own models score it
# (tests/test_demo.py checks that). Each recipe was kept from a search over seeds of
# the generators in emobrowser.media.synth, scoring candidates with the shipped
# models; the names say how each file is made, and the comment where the models put it.
# Photos: (name, seed, then draw_shapes' hue, sat, val, shapes, jagged, blur).
IMAGES = [
    # busy and unpleasant: many greyish, jagged shapes
    ("grey_jumble", 9, (78.7393, 156.0855), (0, 35.0029), (28.161, 189.1227), 105, 0.6047, 2.0),
    ("dusky_jumble", 541, (174.8441, 274.8664), (0, 140.5315), (0.7635, 117.6158), 76, 0.6251, 2.0),
    ("dark_shards", 20, (165.1183, 188.7843), (0, 222.311), (8.6806, 111.3672), 143, 0.9268, 2.0),
    ("ash_shards", 674, (110.8918, 275.7181), (0, 46.2375), (23.5818, 182.4838), 54, 0.6065, 2.0),
    # busy and pleasant: many brighter, coloured shapes
    ("bright_jumble", 25, (82.6227, 210.1893), (0, 205.9475), (36.8929, 248.2434), 131, 0.4533, 1.0),
    ("confetti_shapes", 41, (13.5681, 172.9854), (0, 181.4909), (26.6386, 237.2748), 103, 0.7772, 1.0),
    ("night_market", 216, (90.2798, 250.2664), (0, 187.2282), (29.6576, 127.4206), 148, 0.5644, 2.0),
    ("violet_sparks", 73, (124.735, 157.8707), (0, 184.1919), (9.2532, 245.1562), 77, 0.9891, 2.0),
    # quiet and unpleasant: a few shapes in dim, washed-out colours
    ("murky_pond", 162, (51.3906, 100.7668), (0, 18.9569), (1.8157, 84.0072), 5, 0.9083, 2.0),
    ("grey_dusk", 19, (123.0413, 164.6332), (0, 27.706), (31.9646, 61.6177), 11, 0.6195, 2.0),
    ("fog_bank", 125, (78.7201, 96.9839), (0, 19.4272), (12.3781, 108.5603), 3, 0.6944, 2.0),
    ("faded_wall", 106, (163.6473, 190.5335), (0, 25.9554), (11.0711, 151.2374), 4, 0.4646, 2.0),
    # quiet and pleasant: many sharp shapes in clear colours
    ("sharp_mosaic", 12, (54.785, 207.7248), (0, 243.8571), (19.1325, 237.1095), 138, 0.8685, 0.0),
    ("garden_mosaic", 19, (39.3153, 211.6481), (0, 193.1009), (2.0602, 251.783), 83, 0.4855, 0.0),
    ("sea_glass", 137, (93.29, 254.5804), (0, 161.2533), (44.7856, 226.4287), 149, 0.6003, 0.0),
    ("spring_mosaic", 108, (62.2526, 154.7206), (0, 188.9798), (38.1132, 210.1013), 136, 0.6789, 0.0),
]

# Music: (file name, seed, synth_seeded arguments), 8 s each. The quiet minor-key clips
# are FLAC: MP3's encoder changes so quiet a signal enough to move it on the map.
_FAST = dict(bpm=(120, 190), loudness=(0.6, 1.0), modes=(0,), drive=8, hats=2.5, kick=3, noise=0.2)
_SLOW_MINOR = dict(bpm=(40, 80), loudness=(0.1, 0.4), modes=(1, 2), drive=1, hats=0.5, kick=0.8, noise=0.2)
_SLOW_MAJOR = dict(bpm=(50, 90), loudness=(0.1, 0.5), modes=(0,), drive=1, hats=0.6, kick=1.0, noise=0.1)
CLIPS = [
    # excited and pleasant; excited and unpleasant
    ("fast_drive_a.flac", 42, _FAST), ("fast_drive_b.mp3", 41, _FAST), ("fast_drive_c.mp3", 19, _FAST),
    ("fast_grind_a.flac", 44, _FAST), ("fast_grind_b.mp3", 22, _FAST), ("fast_grind_c.mp3", 43, _FAST),
    # calm and unpleasant; calm and pleasant
    ("slow_minor_a.flac", 40, _SLOW_MINOR), ("slow_minor_b.flac", 117, _SLOW_MINOR),
    ("slow_minor_c.flac", 97, _SLOW_MINOR),
    ("slow_major_a.mp3", 12, _SLOW_MAJOR), ("slow_major_b.mp3", 33, _SLOW_MAJOR),
    ("slow_major_c.flac", 39, _SLOW_MAJOR),
]

# Videos: (name, photo, clip): one in each quarter.
VIDEOS = [("street_party", "confetti_shapes", "fast_drive_a.flac"), ("alarm", "dark_shards", "fast_grind_a.flac"),
          ("rainy_window", "fog_bank", "slow_minor_a.flac"), ("sunny_garden", "garden_mosaic", "slow_major_a.mp3")]

def demo_dir() -> Path:
    return cache_dir() / "demo"


def demo_db_path() -> Path:
    return demo_dir() / "library.sqlite3"


def demo_media_dir() -> Path:
    return demo_dir() / "media"


def _generate(folder: Path) -> None:
    import cv2

    from emobrowser.media import synth

    (folder / "photos").mkdir(parents=True)
    (folder / "music").mkdir()
    (folder / "videos").mkdir()
    pictures, sounds = {}, {}
    for name, seed, *recipe in IMAGES:
        pictures[name] = synth.draw_shapes(seed, *recipe)
        synth.write_image(folder / "photos" / f"{name}.jpg", pictures[name])
    for name, seed, recipe in CLIPS:
        sounds[name] = synth.synth_seeded(seed, **recipe)
        synth.write_audio(folder / "music" / name, sounds[name])
    for name, photo, clip in VIDEOS:
        frame = cv2.resize(pictures[photo], (320, 240), interpolation=cv2.INTER_AREA)
        synth.write_clip(folder / "videos" / f"{name}.mp4", frame, sounds[clip])


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

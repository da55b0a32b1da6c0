"""The built-in demo library: generated, indexed, and kept apart from the user's library."""

import os

import pytest

from emobrowser import demo
from emobrowser.core.paths import default_db_path


def test_demo_media_is_generated_once_and_spans_every_modality():
    folder = demo.ensure_demo_media()
    names = [n for _d, _s, files in os.walk(folder) for n in files if not n.startswith(".")]
    assert sum(n.endswith(".jpg") for n in names) == len(demo.IMAGES) == 16
    assert sum(n.endswith((".mp3", ".flac")) for n in names) == len(demo.CLIPS) == 12
    assert sum(n.endswith(".mp4") for n in names) == len(demo.VIDEOS) == 4
    first = folder / "photos" / f"{demo.IMAGES[0][0]}.jpg"
    stamp = first.stat().st_mtime_ns
    assert demo.ensure_demo_media() == folder
    assert first.stat().st_mtime_ns == stamp  # not regenerated


def test_demo_has_its_own_database_and_indexes_fully(monkeypatch):
    assert demo.demo_db_path() != default_db_path()
    from emobrowser.index import pipeline

    real = pipeline.index_library
    monkeypatch.setattr(pipeline, "index_library",
                        lambda store, roots, **kw: real(store, roots, image_model="baseline",
                                                        audio_model="baseline", **kw))
    summary = demo.index_demo()
    assert (summary.indexed, summary.failed) == (32, 0)
    assert not default_db_path().exists()


QUADRANTS = {(1, 1): "excited and pleasant", (-1, 1): "excited and unpleasant",
             (-1, -1): "calm and unpleasant", (1, -1): "calm and pleasant"}


@pytest.mark.slow
def test_the_demo_spans_the_four_quadrants_by_the_apps_own_models():
    """A newcomer's first map shows what the app is for: each quarter of the circle
    holds photos, songs and a video, as the shipped models score them."""
    from emobrowser.index.library import load_points
    from emobrowser.index.store import Store
    from emobrowser.models import registry

    summary = demo.index_demo()
    assert (summary.indexed, summary.failed) == (32, 0)
    image, audio = registry.image_model(None), registry.audio_model(None)
    models = {"image": (image.info.name, image.info.version), "audio": (audio.info.name, audio.info.version)}
    with Store(demo.demo_db_path()) as store:
        points = load_points(store, models)
    found = {}
    for modality, v, a in zip(points.modality.tolist(), points.valence.tolist(), points.arousal.tolist()):
        if abs(v) >= 0.05 and abs(a) >= 0.05:  # clearly inside a quarter, not on an axis
            quadrant = (1 if v > 0 else -1, 1 if a > 0 else -1)
            found.setdefault(quadrant, set()).add(modality)
    for quadrant, words in QUADRANTS.items():
        assert found.get(quadrant) == {"image", "audio", "video"}, f"{words}: {sorted(found.get(quadrant, ()))}"

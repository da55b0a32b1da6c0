"""The built-in demo library: generated, indexed, and kept apart from the user's library."""

import os

from emobrowser import demo
from emobrowser.core.paths import default_db_path


def test_demo_media_is_generated_once_and_spans_every_modality():
    folder = demo.ensure_demo_media()
    names = [n for _d, _s, files in os.walk(folder) for n in files if not n.startswith(".")]
    assert sum(n.endswith(".jpg") for n in names) == len(demo.IMAGES) == 24
    assert sum(n.endswith((".mp3", ".flac")) for n in names) == len(demo.CLIPS) == 12
    assert sum(n.endswith(".mp4") for n in names) == len(demo.VIDEOS) == 2
    stamp = (folder / "photos" / "sunny_morning.jpg").stat().st_mtime_ns
    assert demo.ensure_demo_media() == folder
    assert (folder / "photos" / "sunny_morning.jpg").stat().st_mtime_ns == stamp  # not regenerated


def test_demo_has_its_own_database_and_indexes_fully(monkeypatch):
    assert demo.demo_db_path() != default_db_path()
    from emobrowser.index import pipeline

    real = pipeline.index_library
    monkeypatch.setattr(pipeline, "index_library",
                        lambda store, roots, **kw: real(store, roots, image_model="baseline",
                                                        audio_model="baseline", **kw))
    summary = demo.index_demo()
    assert (summary.indexed, summary.failed) == (38, 0)
    assert not default_db_path().exists()

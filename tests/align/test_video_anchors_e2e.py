"""End to end: synthetic videos -> indexing -> segment anchors whose picture and sound agree."""

from __future__ import annotations

import pytest

UP = {"bpm": 150, "loudness": 0.9, "brightness": 0.8}
DOWN = {"bpm": 60, "major": False, "loudness": 0.2, "brightness": 0.2}


@pytest.mark.slow
def test_indexed_videos_give_agreeing_anchors(store, tmp_path):
    import numpy as np

    from emobrowser.align.anchors import load_anchors
    from emobrowser.align.fit import AlignmentError, align_library
    from emobrowser.index.extract import extract_file, score_extracted
    from emobrowser.index.pipeline import index_library
    from emobrowser.media import synth
    from emobrowser.models import registry

    folder = tmp_path / "videos"
    folder.mkdir()
    synth.write_video(folder / "upbeat.mp4", [("warm", UP), ("vivid", UP)], seconds_per_scene=3.0)
    synth.write_video(folder / "gloomy.mp4", [("dark", DOWN), ("dark", DOWN)], seconds_per_scene=3.0)
    synth.write_video(folder / "mixed.mp4", [("warm", UP), ("dark", DOWN)], seconds_per_scene=4.0)
    summary = index_library(store, [str(folder)], image_model="baseline", audio_model="baseline", workers=1)
    assert summary.indexed == 3 and summary.failed == 0

    imodel, amodel = registry.image_model("baseline"), registry.audio_model("baseline")
    ikey, akey = (imodel.info.name, imodel.info.version), (amodel.info.name, amodel.info.version)
    # Segmentation: each (< 15 s) video is one segment, scored by both models over the same span.
    by_path = {}
    for item_id, path in store.conn.execute("SELECT id, path FROM items WHERE modality = 'video'"):
        rows = store.segments(item_id)
        assert {r[2] for r in rows} == {"image", "audio"}
        assert len({(r[3], r[4]) for r in rows}) == 1
        assert rows[0][3] == 0.0 and rows[0][4] == pytest.approx(6.0 if "mixed" not in path else 8.0, abs=0.2)
        by_path[path.rsplit("/", 1)[-1]] = {r[2]: np.array(r[5:7]) for r in rows}
    anchors = load_anchors(store, ikey, akey)
    assert len(anchors) == 3 and anchors.n_videos == 3

    # Picture and sound move in the same direction from the gloomy to the upbeat video.
    up, down = by_path["upbeat.mp4"], by_path["gloomy.mp4"]
    for axis in (0, 1):
        assert np.sign(up["image"][axis] - down["image"][axis]) == np.sign(up["audio"][axis] - down["audio"][axis]) == 1

    # Shorter segments cut the mixed video at its scene change; both halves agree too.
    ex = extract_file(str(folder / "mixed.mp4"), "video", "baseline", "baseline", segment_seconds=4.0)
    scored = score_extracted(ex, imodel, amodel)
    seg = {(s.source.value, s.start): np.array([s.valence, s.arousal]) for _, s in scored.segments}
    assert sorted(seg) == [("audio", 0.0), ("audio", 4.0), ("image", 0.0), ("image", 4.0)]
    image_step = seg[("image", 0.0)] - seg[("image", 4.0)]
    audio_step = seg[("audio", 0.0)] - seg[("audio", 4.0)]
    assert np.all(image_step > 0) and np.all(audio_step > 0)

    # Three anchors are too few to align: a clear error, and nothing is stored.
    with pytest.raises(AlignmentError, match="found 3 .* in 3 videos"):
        align_library(store.path, image_model="baseline", audio_model="baseline")
    assert store.get_setting("alignment") is None

"""A stored alignment re-projects points and timelines without rescoring."""

import json

import numpy as np

from emobrowser.align.transform import SETTING_KEY, Transform
from emobrowser.index.library import load_points

MODELS = {"image": ("img", "1"), "audio": ("aud", "1")}


def _video_store(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO items(id, raw_path, path, modality, size, mtime_ns, status, updated) VALUES "
                     "(1, x'76', 'v.mp4', 'video', 1, 1, 'indexed', 0), (2, x'70', 'p.jpg', 'image', 1, 1, 'indexed', 0)")
        conn.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?)",
                         [(1, "img", "1", 0.2, 0.4), (1, "aud", "1", -0.2, 0.0), (2, "img", "1", 0.5, -0.5)])
        conn.executemany("INSERT INTO segments VALUES (1, ?, '1', ?, 0, 15, ?, ?)",
                         [("img", "image", 0.2, 0.4), ("aud", "audio", -0.2, 0.0)])
    store.set_setting("models", json.dumps({k: list(v) for k, v in MODELS.items()}))


def test_alignment_moves_image_values_and_video_means(store, tmp_path):
    _video_store(store)
    plain = load_points(store)
    assert np.allclose(plain.valence, [0.0, 0.5]) and np.allclose(plain.arousal, [0.2, -0.5])
    shift = Transform(kind="affine", params={"matrix": [[1, 0], [0, 1]], "offset": [0.1, -0.2]},
                      method="procrustes", models={k: list(v) for k, v in MODELS.items()}, version=1)
    store.set_setting(SETTING_KEY, json.dumps(shift.to_dict()))
    aligned = load_points(store)
    # the photo moves by the offset; the video's image half moves, its audio half stays
    assert np.allclose(aligned.valence, [(0.3 - 0.2) / 2, 0.6])
    assert np.allclose(aligned.arousal, [(0.2 + 0.0) / 2, -0.7])


def test_gui_timeline_is_aligned_too(store):
    from emobrowser.gui.data import load_timeline

    _video_store(store)
    shift = Transform(kind="affine", params={"matrix": [[1, 0], [0, 1]], "offset": [0.1, -0.2]},
                      method="procrustes", models={k: list(v) for k, v in MODELS.items()}, version=1)
    store.set_setting(SETTING_KEY, json.dumps(shift.to_dict()))
    timeline = load_timeline(store.path, 1, MODELS)
    assert np.allclose(timeline.valence, [0.05]) and np.allclose(timeline.arousal, [0.1])


def test_a_fit_for_older_models_is_reported_where_it_stops_applying(store):
    from emobrowser.align.transform import alignment_status
    from emobrowser.gui.data import library_status
    from emobrowser.index.library import current_models

    _video_store(store)
    shift = Transform(kind="affine", params={"matrix": [[1, 0], [0, 1]], "offset": [0.1, -0.2]},
                      method="procrustes", models={k: list(v) for k, v in MODELS.items()}, version=3)
    store.set_setting(SETTING_KEY, json.dumps(shift.to_dict()))
    status = alignment_status(store, current_models(store))
    assert status == {"method": "procrustes", "version": 3, "in_force": True,
                      "fitted_for": {"image": "img/1", "audio": "aud/1"}}
    assert library_status(store.path, MODELS)[3] == ("Photos are aligned with music (procrustes, fit 3); "
                                                     "Library → Remove alignment undoes it.")
    # the library is re-scored by a new audio model: the fit no longer applies
    store.set_setting("models", json.dumps({"image": ["img", "1"], "audio": ["aud", "2"]}))
    status = alignment_status(store, current_models(store))
    assert status["in_force"] is False and "aud/1 (now aud/2)" in status["note"]
    assert "img/1" not in status["note"]
    assert library_status(store.path, current_models(store))[3] == (
        "T" + status["note"][1:] + ". Library → Align photos with music fits it again.")
    assert alignment_status(store, MODELS)["in_force"] is True  # still right for the models it was fitted for


def test_cli_status_and_index_warn_about_a_fit_that_no_longer_applies(store, tmp_path):
    from conftest import run_cli

    _video_store(store)
    shift = Transform(kind="affine", params={"matrix": [[1, 0], [0, 1]], "offset": [0.1, -0.2]},
                      method="procrustes", models={"image": ["img", "1"], "audio": ["aud", "0"]}, version=2)
    store.set_setting(SETTING_KEY, json.dumps(shift.to_dict()))
    proc = run_cli("status", "--json", "--db", str(store.path))
    out = json.loads(proc.stdout)
    assert out["alignment"]["method"] == "procrustes" and out["alignment"]["in_force"] is False
    assert "warning: the procrustes alignment was fitted for aud/0 (now aud/1)" in proc.stderr
    assert "run `emobrowser align` again" in proc.stderr
    text = run_cli("status", "--db", str(store.path))
    assert "alignment: procrustes (version 2), not applied" in text.stdout
    # indexing with other models leaves the fit behind: the run says so at its end
    (tmp_path / "media").mkdir()
    proc = run_cli("index", str(tmp_path / "media"), "--db", str(store.path),
                   "--image-model", "baseline", "--audio-model", "baseline")
    assert "warning: the procrustes alignment was fitted for img/1 (now " in proc.stderr

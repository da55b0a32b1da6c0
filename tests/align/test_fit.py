"""align_library on stores filled directly with synthetic anchors, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from emobrowser.align.fit import AlignmentError, align_library, choose_method
from emobrowser.align.synthetic import fill_synthetic_library
from emobrowser.align.transform import SETTING_KEY, active_transform
from emobrowser.core.errors import EmobrowserError

FAST = ("identity", "statistical", "quantile", "procrustes")  # no TensorFlow import
KEYS = {"anchors", "videos", "procrustes_disparity", "procrustes_disparity_no_reflection", "methods", "chosen"}
METRIC_KEYS = {"residual", "recall_at_1", "recall_at_5", "median_rank", "spread_kept"}


def test_align_library_returns_format_and_stores_transform(store):
    truth = fill_synthetic_library(store, videos=5, segments=[8, 10, 6, 9, 7], photos=40, songs=40,
                                   angle_degrees=20, scale=0.7, shift=(0.15, -0.1), image_noise=0.02,
                                   audio_noise=0.01)
    result = align_library(store.path, methods=FAST)
    assert set(result) == KEYS
    assert result["anchors"] == 40 and result["videos"] == 5
    assert set(result["methods"]) == set(FAST)
    assert all(set(m) == METRIC_KEYS for m in result["methods"].values())
    assert 0.0 <= result["procrustes_disparity"] < 0.1
    # A known similarity distortion: Procrustes wins and beats identity by far.
    assert result["chosen"] == "procrustes"
    assert result["methods"]["procrustes"]["residual"] < 0.3 * result["methods"]["identity"]["residual"]
    json.dumps(result)
    stored = json.loads(store.get_setting(SETTING_KEY))
    assert stored["method"] == "procrustes" and stored["version"] == 1
    assert stored["anchors"] == 40 and stored["videos"] == 5
    assert set(stored["models"]) == {"image", "audio"}
    transform = active_transform(store)
    assert transform.method == "procrustes"
    aligned = transform.apply(truth["image"])
    assert np.mean(np.linalg.norm(aligned - truth["audio"], axis=1)) < 0.05
    # Each fit increments the version; an explicit method is honoured.
    again = align_library(store.path, method="statistical", methods=("identity",))
    assert again["chosen"] == "statistical" and set(again["methods"]) == {"identity", "statistical"}
    stored = json.loads(store.get_setting(SETTING_KEY))
    assert stored["version"] == 2 and stored["method"] == "statistical"


def test_identity_is_chosen_when_nothing_helps(store):
    fill_synthetic_library(store, videos=4, segments=6, angle_degrees=0, scale=1.0, shift=(0, 0),
                           image_noise=0.0, audio_noise=0.0)
    result = align_library(store.path, methods=FAST)
    assert result["methods"]["identity"]["residual"] == 0.0
    assert result["chosen"] == "identity"
    assert active_transform(store).is_identity


def test_too_few_anchors_raises_and_stores_nothing(store):
    fill_synthetic_library(store, videos=2, segments=15)
    with pytest.raises(AlignmentError) as info:
        align_library(store.path, methods=FAST)
    message = str(info.value)
    assert "found 30" in message and "2 videos" in message and "identity" in message
    assert isinstance(info.value, EmobrowserError)
    assert store.get_setting(SETTING_KEY) is None
    fill_synthetic_library(store, videos=2, segments=5)  # 4 videos but 40 anchors -> fine
    fitted = align_library(store.path, methods=FAST)
    assert fitted["videos"] == 4
    # videos deleted since: the fit fails, and the message names the alignment still in force
    store.conn.execute("UPDATE items SET status = 'missing' WHERE modality = 'video' AND id IN "
                       "(SELECT id FROM items WHERE modality = 'video' ORDER BY id LIMIT 2)")
    with pytest.raises(AlignmentError) as info:
        align_library(store.path, methods=FAST)
    assert fitted["chosen"] != "identity"  # the synthetic library is turned and shifted
    assert f"the {fitted['chosen']} alignment stored earlier stays in use" in str(info.value)
    assert not active_transform(store).is_identity


def test_anchors_of_other_models_do_not_count(store):
    fill_synthetic_library(store, videos=5, segments=8, image_model=("other-image", "9"))
    with pytest.raises(AlignmentError, match="found 0"):
        align_library(store.path, methods=FAST)


def test_unknown_method(store):
    from emobrowser.core.errors import InputError

    with pytest.raises(AlignmentError, match="unknown alignment method 'magic'") as info:
        align_library(store.path, method="magic")
    assert isinstance(info.value, InputError)  # a usage error: exit status 2


def test_a_map_that_squeezes_the_photos_together_is_never_chosen_or_stored(store):
    # Every soundtrack scores the same: quantile and Procrustes map all photos to that
    # one point, with a held-out residual of 0.
    fill_synthetic_library(store, videos=4, segments=8, photos=30, songs=0, image_noise=0.0, audio_noise=0.0)
    store.conn.execute("UPDATE segments SET valence = -0.5, arousal = 0.5 WHERE source = 'audio'")
    result = align_library(store.path, methods=FAST)
    assert min(m["residual"] for m in result["methods"].values()) < result["methods"]["identity"]["residual"]
    assert result["chosen"] == "identity"
    assert all(m["spread_kept"] < 0.25 for name, m in result["methods"].items() if name != "identity")
    with pytest.raises(AlignmentError, match="squeeze the photos"):
        align_library(store.path, method="quantile", methods=("identity",))
    assert active_transform(store).is_identity


def test_identity_can_be_restored_without_anchors(store):
    fill_synthetic_library(store, videos=4, segments=6, angle_degrees=30, scale=0.8, shift=(0.1, 0))
    align_library(store.path, method="procrustes", methods=("identity",))
    assert not active_transform(store).is_identity
    store.conn.execute("DELETE FROM segments")  # no anchors left
    assert align_library(store.path, method="identity")["chosen"] == "identity"
    assert active_transform(store).is_identity


def test_choose_method_rule():
    def m(residual, r1, r5=0.5, rank=3.0):
        return {"residual": residual, "recall_at_1": r1, "recall_at_5": r5, "median_rank": rank}

    # Lowest residual wins outright...
    assert choose_method({"identity": m(0.5, 0.9), "procrustes": m(0.3, 0.1)}) == "procrustes"
    # ...but within 2 % the better recall breaks the tie...
    assert choose_method({"identity": m(0.5, 0.1), "procrustes": m(0.300, 0.2),
                          "learned": m(0.305, 0.4)}) == "learned"
    # ...and on a full tie the simpler method is kept.
    assert choose_method({"learned": m(0.3, 0.2), "statistical": m(0.3, 0.2)}) == "statistical"


def test_cli_align_json(tmp_path):
    from emobrowser.index.store import Store

    db = tmp_path / "lib.sqlite3"
    with Store(db) as s:
        fill_synthetic_library(s, videos=3, segments=[9, 8, 7], photos=20, songs=20)
    proc = run_cli("align", "--db", str(db), "--json")
    result = json.loads(proc.stdout)
    assert set(result) == KEYS
    assert set(result["methods"]) == {"identity", "statistical", "quantile", "procrustes", "learned"}
    assert result["anchors"] == 24 and result["videos"] == 3
    with Store(db) as s:
        assert json.loads(s.get_setting(SETTING_KEY))["method"] == result["chosen"]


def test_cli_align_too_few(tmp_path):
    from emobrowser.index.store import Store

    db = tmp_path / "lib.sqlite3"
    with Store(db) as s:
        fill_synthetic_library(s, videos=3, segments=2)
    proc = run_cli("align", "--db", str(db), "--json", check=False)
    assert proc.returncode == 1
    assert "found 6" in proc.stderr and "identity" in proc.stderr
    assert proc.stdout == ""


def test_a_rotation_is_not_chosen_when_the_anchors_barely_agree(store):
    import json

    from emobrowser.align.fit import MAX_ROTATION_DISPARITY

    fill_synthetic_library(store, videos=6, segments=20, image_noise=1.0, seed=0,
                           image_model=("img", "1"), audio_model=("aud", "1"))
    store.set_setting("models", json.dumps({"image": ["img", "1"], "audio": ["aud", "1"]}))
    result = align_library(store.path, methods=("identity", "statistical", "quantile", "procrustes"))
    assert result["procrustes_disparity_no_reflection"] > MAX_ROTATION_DISPARITY
    m = result["methods"]
    # procrustes has the lowest held-out residual here, but its rotation is fitted to noise
    assert m["procrustes"]["residual"] < min(v["residual"] for k, v in m.items() if k != "procrustes")
    assert result["chosen"] != "procrustes"
    assert align_library(store.path, "procrustes")["chosen"] == "procrustes"  # asked for, it is kept

"""The spliced-clip timeline check's bookkeeping: pairing, the files it writes, and the
direction, part-sign and step-response figures it derives from the CLI's JSON."""

from __future__ import annotations

import numpy as np
import pytest

from emobrowser.media.audio import load_audio
from emobrowser.media.synth import write_audio
from emobrowser.training import timeline_check as tc

SIGNS = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}


def _row(name, quadrant):
    v, a = SIGNS[quadrant]
    return {"file": name, "quadrant": quadrant, "valence_sign": str(v), "arousal_sign": str(a)}


def _timeline(va_a, va_b, part=15.0, window=3.0, hop=0.5):
    """What a perfect timeline of a splice looks like: a step from A's value to B's,
    smoothed by a centred box of ``window`` seconds."""
    segs = []
    for k in range(int(2 * part / hop)):
        mid = k * hop + hop / 2
        lo, hi = max(0.0, mid - window / 2), min(2 * part, mid + window / 2)
        w_b = max(0.0, hi - max(lo, part)) / (hi - lo)
        v, a = (1 - w_b) * np.array(va_a) + w_b * np.array(va_b)
        segs.append({"start": k * hop, "end": (k + 1) * hop, "valence": float(v), "arousal": float(a)})
    return {"segments": segs, "error": None}


def _whole(v, a):
    return {"valence": v, "arousal": a, "error": None}


def test_pairs_cross_quadrants_and_respect_the_cap():
    held = [_row(f"{q}{i}.mp3", q) for q in SIGNS for i in range(5)]
    pairs = tc.choose_pairs(held, per_pair=3, seed=1)
    assert len(pairs) == 12 * 3
    assert all(a["quadrant"] != b["quadrant"] for a, b in pairs)
    assert len({(a["quadrant"], b["quadrant"]) for a, b in pairs}) == 12
    assert tc.choose_pairs(held, per_pair=3, seed=1) == pairs
    few = tc.choose_pairs([_row("x.mp3", "Q1"), _row("y.mp3", "Q3")], per_pair=4)
    assert [(a["file"], b["file"]) for a, b in few] == [("x.mp3", "y.mp3"), ("y.mp3", "x.mp3")]


def test_a_timeline_that_follows_the_labels_scores_full_marks():
    a, b = _row("a.mp3", "Q3"), _row("b.mp3", "Q1")
    c, d = _row("c.mp3", "Q2"), _row("d.mp3", "Q4")
    scores = {"s1": _timeline((-0.4, -0.5), (0.3, 0.6)), "s2": _timeline((-0.2, 0.4), (0.5, -0.3))}
    parts = {"a.mp3": _whole(-0.3, -0.4), "b.mp3": _whole(0.2, 0.5), "c.mp3": _whole(0.1, 0.3),
             "d.mp3": _whole(0.3, -0.2)}
    s = tc.summarise([("s1", a, b), ("s2", c, d)], scores, parts, part=15.0, margin=2.0)
    assert (s["splices"], s["skipped"]) == (2, 0)
    for dim in ("valence", "arousal"):
        assert s[dim]["pairs"] == 2
        assert s[dim]["direction_acc_timeline"] == 1.0
        assert s[dim]["direction_acc_separate"] == 1.0
        assert s[dim]["part_sign_acc_timeline"] == 1.0
        # a 3 s centred box rises over the 3 s around the join
        assert -1.5 <= s[dim]["rise_10_s"] < 0 < s[dim]["rise_90_s"] <= 1.5
    # c's separate valence (+0.1) has the wrong sign: 3 of the 4 part signs are right
    assert s["valence"]["part_sign_acc_separate"] == 0.75


def test_a_timeline_that_moves_the_wrong_way_is_caught():
    a, b = _row("a.mp3", "Q3"), _row("b.mp3", "Q2")  # valence same (-), arousal rises
    scores = {"s": _timeline((-0.3, 0.5), (-0.3, -0.5))}  # arousal falls instead
    parts = {"a.mp3": _whole(-0.3, -0.4), "b.mp3": _whole(-0.2, 0.5)}
    s = tc.summarise([("s", a, b)], scores, parts, part=15.0, margin=2.0)
    assert s["valence"]["pairs"] == 0 and s["valence"]["direction_acc_timeline"] is None
    assert s["arousal"]["pairs"] == 1
    assert s["arousal"]["direction_acc_timeline"] == 0.0
    assert s["arousal"]["direction_acc_separate"] == 1.0
    assert s["arousal"]["rise_10_s"] is None  # no splice with the right direction


def test_failed_scores_are_skipped():
    a, b = _row("a.mp3", "Q3"), _row("b.mp3", "Q1")
    s = tc.summarise([("s", a, b)], {"s": {"error": "boom", "segments": []}},
                     {"a.mp3": _whole(0, 0), "b.mp3": _whole(0, 0)}, part=15.0, margin=2.0)
    assert (s["splices"], s["skipped"]) == (0, 1)


def test_splices_join_the_first_seconds_of_each_clip(tmp_path):
    sr = tc.SR
    t = np.arange(int(3.0 * sr)) / sr
    write_audio(tmp_path / "quiet.wav", 0.05 * np.sin(2 * np.pi * 220 * t), sr)
    write_audio(tmp_path / "loud.wav", 0.5 * np.sin(2 * np.pi * 440 * t), sr)
    write_audio(tmp_path / "short.wav", 0.5 * np.sin(2 * np.pi * 440 * t[: sr // 2]), sr)
    pairs = [(_row("quiet.wav", "Q3"), _row("loud.wav", "Q1")), (_row("loud.wav", "Q1"), _row("short.wav", "Q3"))]
    logged = []
    splices, parts = tc.write_splices(pairs, tmp_path, tmp_path / "out", part=1.0, log=logged.append)
    assert len(splices) == 1 and set(parts) == {"quiet.wav", "loud.wav"}
    assert any("short.wav" in m for m in logged)
    joined = load_audio(splices[0][0], sr=sr)
    assert joined.size == pytest.approx(2 * sr, abs=2)
    rms = [float(np.sqrt(np.mean(h ** 2))) for h in (joined[: sr - 100], joined[sr + 100: 2 * sr])]
    assert rms[0] == pytest.approx(0.05 / np.sqrt(2), rel=0.05)
    assert rms[1] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert load_audio(parts["loud.wav"], sr=sr).size == pytest.approx(sr, abs=2)


def test_window_sweep_scores_like_the_cli_at_the_defaults():
    from emobrowser.features.audio_features import WINDOW_SECONDS
    from emobrowser.media.synth import synth_music, synth_rock
    from emobrowser.models.audio_model import AudioVAModel

    model = AudioVAModel()
    x = np.concatenate([synth_music(12.0, major=True), synth_rock(12.0, major=False)])
    segs = tc.window_segments(model, x)
    feats = model.extract(x, tc.SR)
    assert [(s["start"], s["end"]) for s in segs] == [tuple(t) for t in feats.times]
    default = [[s["valence"], s["arousal"]] for s in segs]
    np.testing.assert_allclose(default, model.predict(feats.frames), atol=1e-5)
    short = np.array([[s["valence"], s["arousal"]] for s in tc.window_segments(model, x, 1.0)])
    assert not np.allclose(short, default, atol=1e-3)
    # descriptors over a context longer than the track are the whole track's
    wide = [[s["valence"], s["arousal"]] for s in tc.window_segments(model, x, WINDOW_SECONDS, 100.0)]
    track = [[s["valence"], s["arousal"]] for s in tc.window_segments(model, x, WINDOW_SECONDS, None)]
    np.testing.assert_allclose(wide, track, atol=1e-5)
    assert not np.allclose(track, default, atol=1e-3)


def test_pooling_weights_folds_by_their_counts():
    def block(pairs, direction, part, rise):
        return {"pairs": pairs, "direction_acc_timeline": direction, "direction_acc_separate": direction,
                "part_sign_acc_timeline": part, "part_sign_acc_separate": part,
                "rise_10_s": None if rise is None else -rise,
                "rise_90_s": rise}

    first = {"fold": 0, "splices": 10, "valence": block(4, 1.0, 0.5, 1.0), "arousal": block(6, 0.5, 1.0, 2.0)}
    second = {"fold": 1, "splices": 30, "valence": block(12, 0.5, 1.0, 3.0), "arousal": block(0, None, 0.5, None)}
    pooled = tc.pool([first, second])
    assert pooled["splices"] == 40 and pooled["folds"] == [0, 1]
    v, a = pooled["cli"]["valence"], pooled["cli"]["arousal"]
    assert v["pairs"] == 16 and v["direction_acc_timeline"] == pytest.approx((4 + 6) / 16)
    assert v["part_sign_acc_timeline"] == pytest.approx((10 + 60) / 80)
    assert v["rise_90_s_median"] == 2.0
    assert a["direction_acc_timeline"] == 0.5 and a["rise_10_s_median"] == -2.0


def test_pooling_keeps_only_sweep_settings_every_fold_ran():
    def block(pairs, acc):
        return {"pairs": pairs, "direction_acc_timeline": acc, "direction_acc_separate": acc,
                "part_sign_acc_timeline": acc, "part_sign_acc_separate": acc, "rise_10_s": -1.0, "rise_90_s": 1.0}

    def fold(k, sweep):
        return {"fold": k, "splices": 10, "valence": block(4, 0.5), "arousal": block(4, 0.5), "window_sweep": sweep}

    both = {"splices": 8, "valence": block(4, 1.0), "arousal": block(4, 1.0)}
    worse = {"splices": 2, "valence": block(4, 0.0), "arousal": block(4, 0.0)}
    pooled = tc.pool([fold(0, {"both": both, "only first": both}), fold(1, {"both": worse})])
    assert "only first" not in pooled and "both" in pooled
    # part signs weighted by each sweep entry's own splice count: 16 parts right, 4 wrong
    assert pooled["both"]["valence"]["part_sign_acc_timeline"] == 0.8
    assert pooled["cli"]["valence"]["part_sign_acc_timeline"] == 0.5

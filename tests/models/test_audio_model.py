"""The audio-va model: shipped weights, feature-table scoring and a training smoke test."""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from emobrowser.features.audio_features import FEATURE_NAMES, MEL_SLICE, TRACK_NAMES, extract_features
from emobrowser.features.music_tagger import EMBEDDING_NAMES
from emobrowser.models import audio_model as am

SR = 22050
REPO = Path(__file__).resolve().parent.parent.parent
SHIPPED = REPO / "resources" / "models"


def music(seconds: float, bpm: float = 120.0, amp: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    base = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    y = sum(0.1 * np.sin(2 * np.pi * base * r * t) for r in (1.0, 1.26, 1.5))
    hit = int(0.06 * SR)
    env = np.exp(-np.arange(hit) / SR * 50)
    for start in np.arange(0.0, seconds, 60.0 / bpm):
        s = int(start * SR)
        e = min(n, s + hit)
        y[s:e] += rng.standard_normal(e - s) * 0.3 * env[: e - s]
    return (y / np.max(np.abs(y)) * amp).astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = SR) -> None:
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def write_feature_csv(path: Path, ids, x: np.ndarray, labels: np.ndarray | None = None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        head = ["song_id"] + (["valence", "arousal", "valence_raw", "arousal_raw"] if labels is not None else [])
        w.writerow(head + FEATURE_NAMES)
        for i, song in enumerate(ids):
            lab = []
            if labels is not None:
                lab = [labels[i, 0], labels[i, 1], labels[i, 0] * 4 + 5, labels[i, 1] * 4 + 5]
            w.writerow([song] + lab + list(x[i]))


def test_transform_and_calibration_are_plain_numpy():
    x = np.ones((3, 199))
    x[:, MEL_SLICE] = 100.0
    x[:, -1] = 120.0
    t = am.transform_features(x)
    assert np.allclose(t[:, MEL_SLICE], 2.0) and np.allclose(t[:, -1], 0.0)
    out = am.calibrate(np.array([[0.5, -0.9]]), {"offset": [0.0, 0.0], "scale": [1.5, 1.5]})
    assert out.dtype == np.float32 and np.allclose(out, [[0.75, -1.0]])
    g = am.calibrate(np.array([[0.9, -0.99], [0.1, 0.0]]), {"gain": [0.5, 0.5]})
    assert np.all(np.abs(g) < 1.0) and g[0, 0] > g[1, 0] > 0 and g[0, 1] < 0 and g[1, 1] == 0
    with pytest.raises(ValueError):
        am.transform_features(np.ones((1, 10)))


def test_quantile_normalisation_is_monotonic_and_finite():
    from emobrowser.training.train_audio import norm_stats

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.lognormal(size=500), rng.integers(0, 3, size=500).astype(float)])
    stats = norm_stats(x, "quantile")
    z = am.normalise(x, stats)
    assert z.shape == x.shape and np.all(np.isfinite(z))
    order = np.argsort(x[:, 0])
    assert np.all(np.diff(z[order, 0]) >= -1e-6)  # monotonic
    assert abs(float(np.median(z[:, 0]))) < 0.1  # median maps to ~0
    far = am.normalise(np.array([[1e3, 10.0]]), stats)
    assert np.all(np.isfinite(far)) and far[0, 0] > 2.0


def test_info_and_cheap_constructor():
    model = am.AudioVAModel()
    assert model.info.name == "audio-va" and model.info.modality == "audio"
    assert model.sample_rate == 22050 and model.hop_seconds == 0.5
    feats = model.extract(music(4.0), SR)  # no TensorFlow needed
    # recipe (199) + track descriptors (98 dynamics, 9 tonality) + tagger embedding
    # (200); in a clip this short every timeline step carries the track's descriptors
    # and its one 3 s patch's embedding
    assert feats.whole.shape == (506,) and feats.frames.shape == (8, 506)
    np.testing.assert_allclose(feats.frames[:, 199:], np.broadcast_to(feats.whole[None, 199:], (8, 307)),
                               rtol=1e-5, atol=1e-6)


def test_shipped_files_exist_and_are_not_pickles():
    for name in (am.WEIGHTS_FILE, am.NORM_FILE, am.METRICS_FILE):
        assert (SHIPPED / name).is_file(), name
    norm = json.loads((SHIPPED / am.NORM_FILE).read_text())
    assert norm["feature_names"] == FEATURE_NAMES
    assert norm["dynamics_names"] == TRACK_NAMES and len(norm["dynamics"]["std"]) == len(TRACK_NAMES)
    assert norm["tagger_names"] == EMBEDDING_NAMES and len(norm["tagger"]["std"]) == len(EMBEDDING_NAMES)
    assert set(norm["domains"]) == {"audio", "deam"}
    assert not list(SHIPPED.glob("*.pkl")) and not list(SHIPPED.glob("*.joblib"))


def test_timeline_steps_carry_the_descriptors_of_the_music_around_them():
    from emobrowser.features.audio_features import (
        DESCRIPTOR_CONTEXT_SECONDS,
        HOP_SECONDS,
        local_track_vectors,
        track_vector,
    )
    from emobrowser.media.synth import synth_rock

    calm = 0.1 * music(12.0)
    busy = synth_rock(12.0, sr=SR)
    feats = am.AudioVAModel().extract(np.concatenate([calm, busy]).astype(np.float32), SR)
    recipe = feats.frames[:, :199]
    np.testing.assert_allclose(feats.whole[199:306], track_vector(recipe), rtol=1e-5)
    np.testing.assert_allclose(feats.frames[:, 199:306], local_track_vectors(recipe, DESCRIPTOR_CONTEXT_SECONDS),
                               rtol=1e-5)
    first, last = feats.frames[2, 199:306], feats.frames[-3, 199:306]
    assert not np.allclose(first, last, rtol=0.05)
    # the start's descriptors are those of the calm part alone
    half = round(DESCRIPTOR_CONTEXT_SECONDS / HOP_SECONDS / 2)  # steps either side
    np.testing.assert_allclose(first, track_vector(recipe[: 2 + half + 1]), rtol=1e-5)


@pytest.mark.slow
def test_derived_values_follow_loudness_brightness_and_mode():
    from emobrowser.features.audio_features import DERIVED_NAMES, N_DERIVED, derived_features, mel_band_hz

    hz = mel_band_hz()
    assert len(DERIVED_NAMES) == N_DERIVED == 23 and hz.shape == (128,) and np.all(np.diff(hz) > 0)
    base = np.ones((1, 199))
    names = {n: i for i, n in enumerate(DERIVED_NAMES)}
    quiet, loud = base.copy(), base.copy()
    loud[:, MEL_SLICE] *= 100.0
    bright = base.copy()
    bright[:, MEL_SLICE.start + 96:MEL_SLICE.stop] *= 50.0  # power in the top bands
    major = base.copy()
    chroma = [FEATURE_NAMES.index(f"chroma_{i}") for i in range(12)]
    major[:, chroma] = [1.0, 0.1, 0.5, 0.1, 0.9, 0.6, 0.1, 1.0, 0.1, 0.5, 0.1, 0.5]  # C major triad and scale
    d = derived_features(np.vstack([quiet, loud, bright, major, np.zeros((1, 199))]), hz)
    assert d.shape == (5, 23) and np.all(np.isfinite(d))
    assert d[1, names["log10_mel_total"]] == pytest.approx(d[0, names["log10_mel_total"]] + 2)
    assert d[1, names["mel_centroid_khz"]] == pytest.approx(d[0, names["mel_centroid_khz"]])  # level-free
    assert d[2, names["mel_centroid_khz"]] > d[0, names["mel_centroid_khz"]] + 1.0
    assert d[3, names["key_major_minus_minor"]] > 0.1 and d[3, names["chroma_entropy"]] < d[0, names["chroma_entropy"]]
    # the model takes them after the recipe values
    t = am.transform_features(np.vstack([quiet, loud]), hz)
    assert t.shape == (2, 222) and np.allclose(t[:, 199:], d[:2])


def test_shipped_model_predicts_in_range(monkeypatch):
    import keras

    monkeypatch.delenv("EMOBROWSER_MODELS", raising=False)
    assert am.AudioVAModel.available()
    network = keras.saving.load_model(SHIPPED / am.WEIGHTS_FILE, compile=False, safe_mode=True)
    model = am.AudioVAModel()
    # its norm file carries the derived values' band frequencies, as computed now
    from emobrowser.features.audio_features import mel_band_hz

    norm = model.norm()
    assert np.allclose(norm["derived_mel_hz"], mel_band_hz())
    assert len(norm["domains"]["deam"]["mean"]) == network.inputs[0].shape[1] == 222
    feats = model.extract(music(6.0), SR)
    va = model.predict(np.vstack([feats.whole[None, :], feats.frames]))
    assert va.shape == (13, 2) and va.dtype == np.float32
    assert np.all(np.isfinite(va)) and np.all(np.abs(va) <= 1.0)
    assert model.predict(np.zeros((0, 199))).shape == (0, 2)
    with pytest.raises(ValueError, match="expected 199, 306 or 506"):
        model.predict(np.ones((1, 150)))
    # the track descriptors and, on its own, the tagger's embedding reach decoded-audio
    # scores, and only those
    for part in (slice(199, 306), slice(306, 506)):
        calm = feats.whole.copy()
        busy = feats.whole.copy()
        busy[part] = busy[part] * 4.0 + 1.0
        audio = model.predict(np.vstack([calm, busy]))
        assert not np.allclose(audio[0], audio[1], atol=1e-3), part
        deam = model.predict(np.vstack([calm, busy]), domain="deam")
        assert np.allclose(deam[0], deam[1])
    # a recipe-only vector is scored with neutral (median) dynamics
    assert np.all(np.isfinite(model.predict(feats.whole[None, :199])))
    # silence (whole track and a silent stretch of the timeline) is neutral and calm
    quiet = np.concatenate([np.zeros(4 * SR, np.float32), music(6.0)])
    feats = model.extract(quiet, SR)
    va = model.predict(np.vstack([feats.whole[None, :], feats.frames]))
    assert np.allclose(va[1], am.SILENCE_VA) and not np.allclose(va[-1], am.SILENCE_VA)
    silent = model.extract(np.zeros(3 * SR, np.float32), SR)
    assert np.allclose(model.predict(silent.whole[None, :]), [am.SILENCE_VA])
    # a loud pure tone puts its power in few mel bands: it is not silence anywhere
    t = np.arange(5 * SR) / SR
    chord = 0.31 * np.sin(2 * np.pi * 440 * t) + 0.31 * np.sin(2 * np.pi * 660 * t)
    tone = model.extract(chord.astype(np.float32), SR)
    va = model.predict(np.vstack([tone.whole[None, :], tone.frames]))
    assert not np.any(np.all(np.isclose(va, am.SILENCE_VA), axis=1))
    # nor is a quiet noise floor at -60 dBFS; at -80 dBFS it is
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32)
    for db, expected in ((-60, False), (-80, True)):
        feats = model.extract(noise * 10 ** (db / 20), SR)
        assert np.allclose(model.predict(feats.whole[None, :]), [am.SILENCE_VA]) == expected, db


@pytest.mark.slow
def test_training_embeddings_are_what_extract_gives(tmp_path):
    """A 4Q clip's training embedding is computed as the app computes a file's."""
    from emobrowser.media.audio import load_audio
    from emobrowser.training.audio_data import clip_tagger

    path = tmp_path / "clip.wav"
    write_wav(path, music(8.0, bpm=96))
    from_file = am.AudioVAModel().extract(load_audio(path, sr=SR), SR).whole[306:]
    np.testing.assert_allclose(clip_tagger(path, tmp_path / "cache"), from_file, rtol=1e-5, atol=1e-6)
    # the cache gives the same again
    np.testing.assert_allclose(clip_tagger(path, tmp_path / "cache"), from_file, rtol=1e-5, atol=1e-6)


def test_the_song_model_needs_its_tagger(tmp_path, monkeypatch):
    """Without the tagger file the trained model is not offered; with another tagger than
    the one it was trained with, or a damaged one, loading says so by name."""
    import shutil

    from emobrowser.core.errors import ModelFileError, environment_failure
    from emobrowser.features import music_tagger as mt

    folder = tmp_path / "models"
    folder.mkdir()
    for name in (am.WEIGHTS_FILE, am.NORM_FILE, "audio_va.tflite"):
        shutil.copyfile(SHIPPED / name, folder / name)
    monkeypatch.setenv("EMOBROWSER_MODELS", str(folder))
    assert not am.AudioVAModel.available()
    shutil.copyfile(SHIPPED / mt.TAGGER_FILE, folder / mt.TAGGER_FILE)
    assert am.AudioVAModel.available()
    assert am.AudioVAModel(folder).norm()["tagger_sha256"]
    (folder / mt.TAGGER_FILE).write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelFileError, match="not the music tagger the song model was trained with"):
        am.AudioVAModel(folder).norm()
    # the indexing workers refuse it too, before any work on the file
    monkeypatch.setattr(am, "extract_features", lambda *a, **k: pytest.fail("features extracted for nothing"))
    with pytest.raises(ModelFileError, match="not the music tagger the song model was trained with"):
        am.AudioVAModel(folder).extract(music(4.0), SR)
    with pytest.raises(ModelFileError, match="music_tagger.tflite is missing or damaged") as caught:
        mt.patch_outputs(music(4.0), SR, folder)
    # a file that met it is tried again on the next run, once the app is mended
    assert environment_failure(caught.value).startswith("a model file of this installation cannot be loaded")


def test_predict_feature_table_format(tmp_path):
    rows = [extract_features(music(4.0, bpm=b, seed=i), SR)[0] for i, b in enumerate((80, 140))]
    path = tmp_path / "table.csv"
    write_feature_csv(path, ["a1", "b2"], np.vstack(rows))  # no label columns
    out = list(am.predict_feature_table(path, model=am.AudioVAModel(SHIPPED)))
    assert [r["song_id"] for r in out] == ["a1", "b2"]
    for r in out:
        assert set(r) == {"song_id", "valence", "arousal"}
        assert isinstance(r["valence"], float) and -1.0 <= r["valence"] <= 1.0
        assert isinstance(r["arousal"], float) and -1.0 <= r["arousal"] <= 1.0


def test_feature_table_rejects_unusable_rows_and_files(tmp_path):
    from emobrowser.core.errors import InputError

    x = np.random.default_rng(0).uniform(0.01, 1.0, (5, len(FEATURE_NAMES)))
    path = tmp_path / "table.csv"
    write_feature_csv(path, ["ok1", "nan", "text", "ok2", "inf"], x)
    lines = path.read_text().splitlines()
    cells = [line.split(",") for line in lines]
    cells[2][5] = "nan"
    cells[3][FEATURE_NAMES.index("tempo") + 1] = "abc"
    cells[5][1] = "inf"
    cells[4][0] = " "  # ok2 loses its id: rejected, not numbered (row 4 could be song 4)
    lines = [",".join(c) for c in cells] + ["", "short,0.1,0.2"]  # a blank line before the last row
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # with a byte-order mark
    ids, table, rejected = am.read_feature_table(path)
    assert ids == ["ok1"] and table.shape == (1, len(FEATURE_NAMES))
    assert np.allclose(table, x[[0]])
    assert [(r["row"], r["line"], r["song_id"]) for r in rejected] == [
        (2, 3, "nan"), (3, 4, "text"), (4, 5, ""), (5, 6, "inf"), (6, 8, "short")]
    assert rejected[2]["error"] == "empty song_id"
    assert "mfcc_4 is not a finite number" in rejected[0]["error"]
    assert rejected[1]["error"] == "tempo is not a number: 'abc'"
    assert rejected[4]["error"].startswith("no value for")

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("song_id,caf\xe9\n".encode("latin-1"))
    partial = tmp_path / "partial.csv"
    partial.write_text("song_id,mfcc_0\n1,0.5\n")
    for bad, message in ((empty, "the file is empty"), (latin, "not UTF-8 text"),
                         (partial, "missing feature columns: mfcc_1, mfcc_2"), (tmp_path / "nope.csv", "no such file"),
                         (tmp_path, "is a folder")):
        with pytest.raises(InputError, match=message):
            am.read_feature_table(bad)


def test_deam_labels_of_the_2013_songs_are_exchanged_only_when_asked(tmp_path):
    from emobrowser.training.audio_data import load_deam

    x = np.random.default_rng(0).uniform(0.01, 1.0, (5, len(FEATURE_NAMES)))
    y = np.array([[0.5, -0.25], [0.1, 0.2], [-0.3, 0.4], [0.6, 0.7], [0.0, -0.5]])
    (tmp_path / "deam").mkdir()
    write_feature_csv(tmp_path / "deam" / "deam_librosa_features.csv", ["2", "1000", "1001", "2050", "s7"], x, y)
    ids, raw, given = load_deam(tmp_path, labels="as_given")
    assert ids == ["2", "1000", "1001", "2050", "s7"] and np.allclose(given, y) and np.allclose(raw, x)
    _, _, corrected = load_deam(tmp_path, labels="corrected")
    assert np.allclose(corrected[:2], y[:2, ::-1]) and np.allclose(corrected[2:], y[2:])
    with pytest.raises(ValueError, match="unknown DEAM label choice"):
        load_deam(tmp_path, labels="swapped")


@pytest.mark.slow
def test_training_smoke(tmp_path):
    """One epoch on a tiny generated data folder writes three files that load safely."""
    import keras

    from emobrowser.training.train_audio import train

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    (data / "deam").mkdir(parents=True)
    (data / "audio4q").mkdir()
    base = extract_features(music(3.0), SR)[0].astype(np.float64)
    n = 24
    x = base[None, :] * np.exp(rng.normal(0, 0.1, size=(n, 199)))
    y = np.clip(rng.normal(0, 0.3, size=(n, 2)), -1, 1)
    write_feature_csv(data / "deam" / "deam_librosa_features.csv", [str(i + 2) for i in range(n)], x, y)
    quads = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
    with open(data / "audio4q" / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "quadrant", "valence_sign", "arousal_sign", "artist", "title", "genres"])
        for i in range(8):
            q = f"Q{i % 4 + 1}"
            name = f"clip{i}.wav"
            write_wav(data / "audio4q" / name, music(2.0, bpm=70 + 15 * i, amp=0.2 + 0.08 * i, seed=i))
            w.writerow([name, q, quads[q][0], quads[q][1], f"artist{i}", f"t{i}", "Pop"])
    out = tmp_path / "out"
    metrics = train(data, out, seed=0, epochs=1, folds=2, log=lambda s: None)
    for name in (am.WEIGHTS_FILE, am.NORM_FILE, am.METRICS_FILE):
        assert (out / name).is_file()
    model = keras.saving.load_model(out / am.WEIGHTS_FILE, compile=False, safe_mode=True)
    assert model.output_shape[-1] == 2
    assert json.loads((out / am.METRICS_FILE).read_text())["cv"]["4q"]["n"] == 8
    assert "pearson_valence" in metrics["cv"]["deam"]
    va = am.AudioVAModel(out).predict(x[:3], domain="deam")
    assert va.shape == (3, 2) and np.all(np.abs(va) <= 1.0)
    assert [i.name for i in model.inputs] == ["features", "domain", "dynamics", "tagger"]
    trained = am.AudioVAModel(out)
    feats = trained.extract(music(3.0), SR)
    va = trained.predict(np.vstack([feats.whole[None, :], feats.frames]))
    assert va.shape == (1 + len(feats.frames), 2) and np.all(np.abs(va) <= 1.0)
    assert trained.backend() == "litert"  # training writes the LiteRT pair that scoring runs
    from emobrowser.training.convert import TOLERANCE, max_difference

    feeds, _ = trained.network_feeds(np.vstack([feats.whole[None, :], feats.frames]))
    assert max_difference(out / am.WEIGHTS_FILE, feeds) <= TOLERANCE


@pytest.mark.parametrize("damage", ["garbled", "not an object", "other features", "missing"])
def test_a_song_norm_file_that_does_not_fit_is_an_installation_fault(tmp_path, monkeypatch, damage):
    """A norm file that cannot be read, or was made for other features, stops the workers
    with a ModelFileError naming it, so the files that met it are tried again later."""
    import shutil

    from emobrowser.core.errors import ModelFileError, environment_failure

    folder = tmp_path / "models"
    folder.mkdir()
    norm_path = folder / am.NORM_FILE
    shutil.copyfile(SHIPPED / am.NORM_FILE, norm_path)
    if damage == "garbled":
        norm_path.write_text("{not json", encoding="utf-8")
    elif damage == "not an object":
        norm_path.write_text("[1, 2]", encoding="utf-8")
    elif damage == "other features":
        norm = json.loads(norm_path.read_text(encoding="utf-8"))
        norm["feature_names"] = norm["feature_names"][::-1]
        norm_path.write_text(json.dumps(norm), encoding="utf-8")
    else:
        norm_path.unlink()
    monkeypatch.setattr(am, "extract_features", lambda *a, **k: pytest.fail("features extracted for nothing"))
    with pytest.raises(ModelFileError, match=am.NORM_FILE) as caught:
        am.AudioVAModel(folder).extract(music(4.0), SR)
    assert environment_failure(caught.value).startswith("a model file of this installation cannot be loaded")

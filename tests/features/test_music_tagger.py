"""The song model's music tagger: musicnn's input recipe, its LiteRT file, local means."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emobrowser.features import music_tagger as mt
from emobrowser.media.synth import synth_music, synth_rock

SR = 22050


def test_log_mel_patches_follow_musicnns_recipe():
    import librosa

    from emobrowser.media.audio import resample

    y = synth_music(7.0, SR, bpm=100, seed=3)
    patches = mt.log_mel_patches(y, SR, stride=1)
    y16 = resample(y, SR, mt.SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(y=y16, sr=16000, n_fft=512, hop_length=256, n_mels=96).T
    expected = np.log10(10000 * mel + 1)
    # 7 s at 16 kHz is 438 frames: two whole 187-frame patches, the rest left out
    assert patches.shape == (2, 187, 96) and patches.dtype == np.float32
    np.testing.assert_allclose(patches.reshape(-1, 96), expected[: 2 * 187], rtol=1e-5, atol=1e-5)
    # the app runs every second patch
    np.testing.assert_array_equal(mt.log_mel_patches(y, SR, stride=2), patches[::2])


def test_short_and_empty_audio_still_make_one_patch():
    short = synth_music(1.0, SR)
    patches = mt.log_mel_patches(short, SR)
    assert patches.shape == (1, 187, 96)
    # repeated to fill the patch, as musicnn was trained: the start comes back
    first = patches[0, :10]
    period = [k for k in range(40, 177) if np.allclose(patches[0, k : k + 10], first)]
    assert period, "a short clip is repeated to fill its patch"
    empty = mt.log_mel_patches(np.zeros(0, np.float32), SR)
    assert empty.shape == (1, 187, 96) and np.all(empty == 0)


def test_local_means_average_the_patches_around_each_time():
    values = np.arange(10, dtype=np.float64)[:, None] * np.array([[1.0, -1.0]])
    centres = (np.arange(10) + 0.5) * mt.PATCH_SECONDS
    out = mt.local_means(values, centres, np.array([0.0, 15.0, 29.0, 100.0]), 10.0)
    # at 0 s: the patches centred within 5 s, i.e. 0 and 1
    np.testing.assert_allclose(out[0], [0.5, -0.5])
    within = np.abs(centres - 15.0) <= 5.0
    np.testing.assert_allclose(out[1], values[within].mean(axis=0))
    np.testing.assert_allclose(out[2], values[np.abs(centres - 29.0) <= 5.0].mean(axis=0))
    np.testing.assert_allclose(out[3], values[-1])  # past the end: the nearest patch
    # patches 6 s apart (the app's stride): a time between two takes the nearer one
    sparse = centres[::2]
    gap = mt.local_means(values[::2], sparse, np.array([sparse[1] + 2.0, sparse[1] + 4.0]), 2.0)
    np.testing.assert_allclose(gap, values[::2][[1, 2]])
    assert mt.local_means(values, centres, np.zeros(0), 10.0).shape == (0, 2)


def test_shipped_tagger_hears_calm_and_heavy_music_apart():
    meta = json.loads(mt.tagger_path().with_name(mt.TAGGER_META).read_text())
    names = mt.tag_names()
    assert len(names) == mt.N_TAGS and meta["embedding"] == mt.N_EMBEDDING
    assert meta["source"]["licence"].startswith("ISC")
    calm, _ = mt.patch_outputs(synth_music(9.0, SR, bpm=60, loudness=0.2, brightness=0.1), SR)
    heavy, _ = mt.patch_outputs(synth_rock(9.0, SR), SR)
    assert calm.shape == heavy.shape == (2, mt.N_EMBEDDING + mt.N_TAGS)
    assert np.all(np.isfinite(calm)) and np.all((calm[:, 200:] >= 0) & (calm[:, 200:] <= 1))

    def tags(out, group):
        return float(sum(out[:, 200 + names.index(t)].mean() for t in group))

    quiet_tags, loud_tags = ("ambient", "chill", "Mellow"), ("metal", "hard rock", "heavy metal")
    assert tags(calm, quiet_tags) > 3 * tags(heavy, quiet_tags)
    assert tags(heavy, loud_tags) > 3 * tags(calm, loud_tags)
    # the same audio gives the same outputs (one interpreter per process, no state)
    again, _ = mt.patch_outputs(synth_music(9.0, SR, bpm=60, loudness=0.2, brightness=0.1), SR)
    np.testing.assert_array_equal(again, calm)


@pytest.mark.parametrize("rate", [22050, 44100])
def test_patch_centres_are_in_seconds_of_the_input(rate):
    y = synth_music(10.0, rate)
    every, centres = mt.patch_outputs(y, rate, stride=1)
    assert len(every) == 3
    np.testing.assert_allclose(centres, (np.arange(3) + 0.5) * mt.PATCH_SECONDS)
    run, run_centres = mt.patch_outputs(y, rate)  # every PATCH_STRIDE-th: the first and third
    np.testing.assert_allclose(run_centres, centres[:: mt.PATCH_STRIDE])
    np.testing.assert_allclose(run, every[:: mt.PATCH_STRIDE], rtol=1e-6, atol=1e-6)


def test_long_recordings_go_through_in_blocks_with_the_same_patches(monkeypatch):
    from emobrowser.features import audio_features as af

    y = np.concatenate([synth_music(10.0, SR, bpm=bpm, seed=i) for i, bpm in enumerate((80, 120, 150))])
    whole, centres = mt.patch_outputs(y, SR)
    seen = []
    real = mt.log_mel_patches
    monkeypatch.setattr(mt, "log_mel_patches", lambda s, sr, stride=1: seen.append(s.size) or real(s, sr, stride))
    monkeypatch.setattr(af, "LONG_AUDIO_SECONDS", 10.0)
    monkeypatch.setattr(mt, "BLOCK_PATCHES", 2)
    blocked, block_centres = mt.patch_outputs(y, SR)
    # three blocks of at most 4 patches' audio (2 run), none holding the whole recording
    assert len(seen) == 3 and max(seen) <= round(4 * mt.PATCH_SECONDS * SR) + 1
    np.testing.assert_allclose(block_centres, centres)
    # the same patches; only a block's first and last frames see its edge
    for a, b in zip(whole, blocked):
        assert np.corrcoef(a[:200], b[:200])[0, 1] > 0.99
    np.testing.assert_allclose(blocked[:2], whole[:2], atol=1e-4)


def test_a_last_block_shorter_than_a_patch_is_left_out_as_in_one_pass(monkeypatch):
    from emobrowser.features import audio_features as af

    y = synth_music(25.0, SR, bpm=110)  # 8 whole patches; blocks of 4 patches' audio leave 1.1 s
    whole, centres = mt.patch_outputs(y, SR)
    monkeypatch.setattr(af, "LONG_AUDIO_SECONDS", 10.0)
    monkeypatch.setattr(mt, "BLOCK_PATCHES", 2)
    blocked, block_centres = mt.patch_outputs(y, SR)
    assert len(centres) == 4
    np.testing.assert_allclose(block_centres, centres)
    assert blocked.shape == whole.shape


def test_non_finite_and_huge_samples_give_finite_outputs():
    y = synth_music(7.0, SR)
    y[1000:2000] = np.nan
    y[5000] = np.inf
    y[9000] = 1e30
    out, _ = mt.patch_outputs(y, SR)
    assert np.all(np.isfinite(out))

"""The DEAM-recipe audio features: librosa calls that used to crash, equivalence with
the literal recipe, shapes, the 0.5 s timeline, and arousal-related behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from emobrowser.features import audio_features as af

SR = 22050


def tone(seconds: float, freq: float = 440.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def music(seconds: float, bpm: float = 120.0, amp: float = 0.5, seed: int = 0) -> np.ndarray:
    """A chord with a decaying noise burst and kick on every beat."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
    beat = 60.0 / bpm
    hit_len = int(0.08 * SR)
    env = np.exp(-np.arange(hit_len) / SR * 40)
    for start in np.arange(0.0, seconds, beat):
        s = int(start * SR)
        e = min(n, s + hit_len)
        y[s:e] += (rng.standard_normal(e - s) * 0.4 + np.sin(2 * np.pi * 60 * np.arange(e - s) / SR)) * env[: e - s]
    y = y / np.max(np.abs(y)) * amp
    return y.astype(np.float32)


def test_chroma_stft_and_tonnetz_run():
    """These crashed (segfault in numba) with numba 0.68 + numpy 2.4; keep calling them."""
    import librosa

    y = tone(2.0, 261.63)
    chroma = librosa.feature.chroma_stft(y=y, sr=SR)
    ton = librosa.feature.tonnetz(y=y, sr=SR)
    assert chroma.shape[0] == 12 and np.all(np.isfinite(chroma))
    assert ton.shape[0] == 6 and np.all(np.isfinite(ton))
    assert int(np.argmax(chroma.mean(axis=1))) == 0  # C


def test_feature_names_follow_the_deam_table():
    names = af.FEATURE_NAMES
    assert len(names) == 199 == af.N_FEATURES
    assert names[:2] == ["mfcc_0", "mfcc_1"] and names[40] == "chroma_0" and names[52] == "mel_0"
    assert names[af.MEL_SLICE][0] == "mel_0" and names[af.MEL_SLICE][-1] == "mel_127"
    assert names[180] == "contrast_0" and names[187] == "tonnetz_0"
    assert names[-6:] == ["poly_0", "poly_1", "rolloff", "bandwidth", "zcr", "tempo"]


def test_single_stft_pipeline_matches_the_literal_recipe():
    """One shared STFT (and explicit tuning) gives the default librosa calls' numbers."""
    y = music(6.0, bpm=100)
    whole, _, _, _ = af.extract_features(y, SR)
    ref = af.reference_vector(y, SR)
    np.testing.assert_allclose(whole, ref, rtol=1e-4, atol=1e-6)


def test_fast_helpers_equal_librosa():
    """The re-implemented tuning estimate, poly_features, rolloff and bandwidth."""
    import librosa

    y = music(5.0, bpm=90, seed=3) + tone(5.0, 452.0, 0.2)
    mag = np.abs(librosa.stft(y))
    power = mag**2
    freq = librosa.fft_frequencies(sr=SR)
    assert af.estimate_tuning(power, SR, 12) == librosa.estimate_tuning(S=power, sr=SR)
    assert af.estimate_tuning(mag, SR, 36) == librosa.estimate_tuning(y=y, sr=SR, bins_per_octave=36)
    np.testing.assert_allclose(af.poly_features_1(mag, freq), librosa.feature.poly_features(S=mag, sr=SR),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(af.spectral_rolloff(mag, freq), librosa.feature.spectral_rolloff(S=mag, sr=SR))
    np.testing.assert_allclose(af.spectral_bandwidth(mag, freq), librosa.feature.spectral_bandwidth(S=mag, sr=SR),
                               rtol=1e-9)


def test_extractor_shapes_and_types():
    y = music(5.0)
    whole, frames, times, duration = af.extract_features(y, SR)
    assert whole.shape == (199,) and whole.dtype == np.float32
    assert frames.shape == (10, 199) and frames.dtype == np.float32
    assert times.shape == (10, 2)
    assert duration == pytest.approx(5.0)
    assert np.all(np.isfinite(whole)) and np.all(np.isfinite(frames))
    assert np.all(frames[:, -1] == whole[-1])  # windows carry the whole-track tempo


@pytest.mark.parametrize("seconds,steps", [(10.0, 20), (10.2, 21), (0.3, 1)])
def test_timeline_length_and_hop(seconds, steps):
    y = music(seconds) if seconds > 1 else tone(seconds)
    _, frames, times, duration = af.extract_features(y, SR)
    assert frames.shape[0] == steps == times.shape[0]
    assert np.allclose(times[:, 0], np.arange(steps) * 0.5)
    assert np.allclose(np.diff(times[:, 0]), 0.5) if steps > 1 else True
    assert times[-1, 1] == pytest.approx(min(steps * 0.5, duration))
    assert np.all(times[:, 1] > times[:, 0])


def test_timeline_follows_the_music():
    """A quiet half then a loud half: windowed mel energy rises along the timeline."""
    y = np.concatenate([music(6.0, amp=0.05), music(6.0, amp=0.8, seed=1)])
    _, frames, _, _ = af.extract_features(y, SR)
    energy = frames[:, af.MEL_SLICE].sum(axis=1)
    assert energy[-4:].min() > 10 * energy[:4].max()


def test_louder_gives_more_energy():
    quiet, _, _, _ = af.extract_features(music(6.0, amp=0.05), SR)
    loud, _, _, _ = af.extract_features(music(6.0, amp=0.8), SR)
    assert loud[af.MEL_SLICE].sum() > 50 * quiet[af.MEL_SLICE].sum()
    assert loud[0] > quiet[0]  # mfcc_0 (log energy)


def test_faster_gives_higher_tempo_and_more_high_frequency_activity():
    slow, _, _, _ = af.extract_features(music(12.0, bpm=75), SR)
    fast, _, _, _ = af.extract_features(music(12.0, bpm=150), SR)
    assert fast[af.TEMPO_INDEX] > slow[af.TEMPO_INDEX]
    names = af.FEATURE_NAMES
    assert fast[names.index("zcr")] > slow[names.index("zcr")]


def test_other_sample_rates_are_resampled():
    y = music(3.0)
    import soxr

    y44 = soxr.resample(y, SR, 44100).astype(np.float32)
    whole, frames, _, duration = af.extract_features(y44, 44100)
    assert duration == pytest.approx(3.0, abs=1e-3)
    assert frames.shape == (6, 199) and np.all(np.isfinite(whole))


def test_dynamics_names_and_shape():
    assert len(af.DYNAMICS_NAMES) == af.N_DYNAMICS == 2 * len(af.DYNAMICS_STREAMS)
    assert len(set(af.DYNAMICS_NAMES)) == af.N_DYNAMICS
    _, frames, _, _ = af.extract_features(music(6.0), SR)
    dyn = af.dynamics_vector(frames)
    assert dyn.shape == (af.N_DYNAMICS,) and dyn.dtype == np.float32 and np.all(np.isfinite(dyn))
    assert np.all(dyn >= 0.0)  # standard deviations and mean absolute changes
    # one timeline step has nothing to vary over
    assert np.all(af.dynamics_vector(frames[:1]) == 0.0)


def test_dynamics_see_sections_change():
    """Alternating quiet and loud sections vary more, and change faster, in energy than
    the same music at one level; the two share their frame means' scale."""
    parts = [music(3.0, amp=a, seed=i) for i, a in enumerate((0.05, 0.8) * 3)]
    varied = af.dynamics_vector(af.extract_features(np.concatenate(parts), SR)[1])
    steady = af.dynamics_vector(af.extract_features(music(18.0, amp=0.4), SR)[1])
    std = af.DYNAMICS_NAMES.index("energy_std")
    flux = af.DYNAMICS_NAMES.index("energy_flux")
    assert varied[std] > 5 * steady[std]
    assert varied[flux] > 5 * steady[flux]


def test_dynamics_see_harmony_change():
    """A chord sequence moves chroma along the timeline; a held tone barely does."""
    chords = np.concatenate([tone(2.0, f) for f in (261.63, 392.0, 329.63, 440.0) * 2])
    held = tone(16.0, 261.63)
    d_chords = af.dynamics_vector(af.extract_features(chords, SR)[1])
    d_held = af.dynamics_vector(af.extract_features(held, SR)[1])
    chroma_flux = [af.DYNAMICS_NAMES.index(f"chroma_{i}_flux") for i in range(12)]
    assert d_chords[chroma_flux].sum() > 5 * d_held[chroma_flux].sum()


def cadence(chords: list[list[int]], seconds: float = 2.0) -> np.ndarray:
    """Chords (MIDI note numbers) of ``seconds`` each, played twice."""
    return np.concatenate([sum(tone(seconds, 440.0 * 2 ** ((m - 69) / 12), 0.12) for m in chord)
                           for chord in chords * 2])


def test_tonality_names_and_shape():
    assert len(af.TONALITY_NAMES) == af.N_TONALITY and af.TRACK_NAMES == af.DYNAMICS_NAMES + af.TONALITY_NAMES
    _, frames, _, _ = af.extract_features(music(6.0), SR)
    tonal = af.tonality_vector(frames)
    assert tonal.shape == (af.N_TONALITY,) and tonal.dtype == np.float32 and np.all(np.isfinite(tonal))
    assert np.all(np.abs(tonal) <= 1.0 + 1e-6)
    track = af.track_vector(frames)
    assert track.shape == (af.N_TRACK,)
    assert np.array_equal(track, np.concatenate([af.dynamics_vector(frames), tonal]))
    assert np.all(af.tonality_vector(frames[:0]) == 0.0)


def test_tonality_tells_chords_from_noise_and_major_from_minor():
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(16 * SR)).astype(np.float32)
    major = cadence([[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]])  # C: I IV V I
    minor = cadence([[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]])  # a: i iv V i
    t_noise, t_major, t_minor = (af.tonality_vector(af.extract_features(y, SR)[1]) for y in (noise, major, minor))
    clarity = af.TONALITY_NAMES.index("key_clarity_win")
    assert t_major[clarity] > t_noise[clarity] + 0.3
    assert t_minor[clarity] > t_noise[clarity] + 0.3
    for name in ("major_minus_minor_win", "major_minus_minor_track"):
        i = af.TONALITY_NAMES.index(name)
        assert t_major[i] > 0.0 > t_minor[i], name


def test_local_track_vectors_describe_the_music_around_each_step():
    from emobrowser.features.audio_features import N_TRACK, local_track_vectors, track_vector

    rng = np.random.default_rng(0)
    calm = rng.normal(0, 0.01, (40, 199)) + 1.0
    busy = rng.normal(0, 1.0, (40, 199)) + 1.0
    tl = np.vstack([calm, busy])
    local = local_track_vectors(tl, 10.0)
    assert local.shape == (80, N_TRACK)
    np.testing.assert_allclose(local[5], track_vector(tl[0:16]), rtol=1e-5)  # clipped at the start
    np.testing.assert_allclose(local[40], track_vector(tl[30:51]), rtol=1e-5)
    # the dynamics (first columns: standard deviations) are low in the calm part, high in the busy one
    assert local[10, :10].max() < local[70, :10].min()
    np.testing.assert_allclose(local_track_vectors(tl, 1000.0)[0], track_vector(tl), rtol=1e-5)


def test_long_audio_is_analysed_in_blocks_on_the_same_frame_grid(monkeypatch):
    from emobrowser.media import synth

    sections = [synth.synth_music(16.0, bpm=bpm, major=major, seed=i)
                for i, (bpm, major) in enumerate([(90, True), (140, False), (110, True)])]
    y = np.concatenate(sections).astype(np.float32)
    whole = af.frame_features(y)
    blocked = af.frame_features(y, block_seconds=10.0)  # 5 blocks
    assert blocked.frames.shape == whole.frames.shape
    names = [n for n in af.FEATURE_NAMES if n != "tempo"]
    # Features that depend only on the frames around them are the same, block edges
    # included. (Estimated per block by design: the tuning behind chroma and tonnetz,
    # the dB floor behind mfcc and contrast, and the tempo, the blocks' median.)
    local = [i for i, n in enumerate(names) if n.startswith(("mel_", "poly_", "zcr", "rolloff", "bandwidth"))]
    scale = np.abs(whole.frames[:, local]).mean(axis=0)
    np.testing.assert_array_less(np.abs(blocked.frames[:, local] - whole.frames[:, local]).max(axis=0),
                                 1e-4 * scale + 1e-9)
    assert 60 <= blocked.tempo <= 180
    # With the tuning held fixed, chroma and tonnetz (the CQT, whose filters reach ~1.6 s
    # into the neighbouring block) match too.
    with monkeypatch.context() as m:
        m.setattr(af, "estimate_tuning", lambda *a, **k: 0.0)
        whole_t, blocked_t = af.frame_features(y), af.frame_features(y, block_seconds=10.0)
    tonal = [i for i, n in enumerate(names) if n.startswith(("chroma_", "tonnetz_"))]
    scale = np.abs(whole_t.frames[:, tonal]).mean(axis=0)
    np.testing.assert_array_less(np.abs(blocked_t.frames[:, tonal] - whole_t.frames[:, tonal]).max(axis=0),
                                 1e-4 * scale + 1e-9)
    # Past LONG_AUDIO_SECONDS the extractor switches to blocks by itself.
    monkeypatch.setattr(af, "LONG_AUDIO_SECONDS", 30.0)
    monkeypatch.setattr(af, "BLOCK_SECONDS", 10.0)
    auto = af.frame_features(y)
    np.testing.assert_array_equal(auto.frames, blocked.frames)
    assert auto.tempo == blocked.tempo

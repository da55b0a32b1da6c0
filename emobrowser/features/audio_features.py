"""Audio features in the DEAM librosa recipe, for the whole track and a 0.5 s timeline.

The DEAM table the audio model is trained on (see docs/model_card_audio.md) holds, per
song, the mean over all frames of these librosa functions with default parameters, on
mono 22,050 Hz audio:

    mfcc (n_mfcc=40), chroma_stft, melspectrogram (power), spectral_contrast, tonnetz,
    poly_features (order 1), spectral_rolloff, spectral_bandwidth, zero_crossing_rate,
    and the global tempo (feature.tempo).

This module computes the frame-level features ONCE per track and aggregates them:

* whole track: mean over all frames (exactly the DEAM table's numbers);
* timeline: means over a 3 s window centred on each 0.5 s step.

Recordings longer than ``LONG_AUDIO_SECONDS`` (15 min; no song or training clip) are
analysed in 5-minute blocks to bound memory; there the tuning, the dB floor and the
tempo are estimated per block (``_blocked_frame_features``).

Economy: librosa would compute six STFTs, a second mel spectrogram (for the onset
envelope) and two tuning estimates. Here one STFT feeds every STFT-based function
through ``S=`` (magnitude or power as each default call would build it), the mel
spectrogram feeds mfcc and the onset envelope, and the two tuning estimates share
their spectrogram. ``check_against_librosa`` (used by the tests) verifies the result
equals the plain default calls.

Nothing here imports TensorFlow: it runs in indexing worker processes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from emobrowser.features import librosa_loader

SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 512

HOP_SECONDS = 0.5
# Timeline window: 3 s centred on each 0.5 s step. Shorter windows (0.5-1 s) make
# frame means of chroma/tonnetz/contrast jump with every note and drum hit, which the
# whole-track model has never seen (its inputs are means over ~45 s). DEAM's dynamic
# annotations are sampled every 0.5 s but raters integrate over several seconds of
# context (their continuous ratings lag the music by ~2-4 s), so a 3 s context keeps
# the timeline responsive to section changes while staying close to the statistics
# the model was trained on.
WINDOW_SECONDS = 3.0
# Track descriptors (dynamics, tonality) of a timeline step: computed over the steps
# whose midpoints lie within 10 s centred on it (21 steps, about 13 s of audio with the
# 3 s window), not over the whole track, so a step describes the music near it. On
# spliced held-out 4Q clips this raised the timeline's part-sign accuracy from 0.607 to
# 0.701 (valence) and 0.790 to 0.824 (arousal), close to scoring each part as its own
# file (0.738 / 0.844), for a slower step (10-90 % over about 7.5 s for valence and 5 s
# for arousal instead of 2.5-3 s); see the model card.
DESCRIPTOR_CONTEXT_SECONDS = 10.0
# Recordings longer than this are analysed in blocks of BLOCK_SECONDS, so that memory
# does not grow with their length (a whole-track pass over two hours needs ~10 GB).
# Songs stay below it, so their features are exactly the recipe's.
LONG_AUDIO_SECONDS = 15 * 60.0
BLOCK_SECONDS = 5 * 60.0
BLOCK_CONTEXT_FRAMES = 128  # ~3 s either side of a block; the CQT's longest filter is ~1.6 s

FEATURE_NAMES: list[str] = (
    [f"mfcc_{i}" for i in range(40)]
    + [f"chroma_{i}" for i in range(12)]
    + [f"mel_{i}" for i in range(128)]
    + [f"contrast_{i}" for i in range(7)]
    + [f"tonnetz_{i}" for i in range(6)]
    + ["poly_0", "poly_1", "rolloff", "bandwidth", "zcr", "tempo"]
)
"""Column order of the DEAM table's 199 feature columns (and of every vector here)."""

N_FEATURES = len(FEATURE_NAMES)  # 199
MEL_SLICE = slice(52, 180)  # mel_0..mel_127 (power: take a log before modelling)
TEMPO_INDEX = N_FEATURES - 1

# Track dynamics: descriptors beyond the recipe, of how the music moves over time.
# Each stream is a recipe feature (or the log10 total mel power, "energy") followed
# along the timeline (3 s windows every 0.5 s); per stream, its standard deviation
# across windows ("_std": how much sections differ) and its mean absolute change from
# one step to the next ("_flux": how fast it moves). The DEAM table has only frame
# means, so these exist for audio decoded by this project only (see the model card).
DYNAMICS_STREAMS: list[str] = (
    [f"mfcc_{i}" for i in range(20)]
    + [f"contrast_{i}" for i in range(7)]
    + ["rolloff", "bandwidth", "zcr"]
    + [f"chroma_{i}" for i in range(12)]
    + [f"tonnetz_{i}" for i in range(6)]
    + ["energy"]
)
DYNAMICS_NAMES: list[str] = [f"{s}_std" for s in DYNAMICS_STREAMS] + [f"{s}_flux" for s in DYNAMICS_STREAMS]
N_DYNAMICS = len(DYNAMICS_NAMES)  # 98
_STREAM_COLUMNS = [FEATURE_NAMES.index(s) for s in DYNAMICS_STREAMS[:-1]]

# Tonality: how well the harmony fits a major or a minor key. The chroma of each 3 s
# timeline window, and of the whole track, is correlated with the 24 Krumhansl-Kessler
# key profiles; "_win" values are means over the windows. Music with clear chords fits
# some key well; distorted or noisy textures (much "angry" high-arousal music) fit
# none. In the 4Q clips the windows' key clarity correlates r = 0.40 with the valence
# sign, more than any recipe feature, so these feed the decoded-audio branch too.
KEY_PROFILE_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KEY_PROFILE_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
TONALITY_NAMES: list[str] = [
    "major_fit_win", "minor_fit_win", "major_minus_minor_win", "major_share_win",
    "major_fit_track", "minor_fit_track", "major_minus_minor_track", "relative_major_minus_minor_track",
    "key_clarity_win",
]
N_TONALITY = len(TONALITY_NAMES)  # 9
_CHROMA_COLUMNS = [FEATURE_NAMES.index(f"chroma_{i}") for i in range(12)]

# Everything the decoded-audio branch of the model reads about the track as a whole.
TRACK_NAMES: list[str] = DYNAMICS_NAMES + TONALITY_NAMES
N_TRACK = len(TRACK_NAMES)  # 107


@dataclass
class TrackFeatures:
    """Frame-level features of one track (all but tempo) and its global tempo."""

    frames: np.ndarray  # (n_frames, 198) in FEATURE_NAMES order without tempo
    tempo: float  # BPM, librosa.feature.tempo of the whole track (blocked: the blocks' median)
    sr: int
    hop_length: int = HOP_LENGTH

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def _prepare(samples: np.ndarray) -> np.ndarray:
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    # librosa's default STFT needs at least n_fft samples to avoid warnings; pad short
    # inputs with silence (a half-second clip still yields a row).
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    return y


def frame_features(samples: np.ndarray, sr: int = SAMPLE_RATE,
                   block_seconds: float | None = None) -> TrackFeatures:
    """Compute every frame-level feature of the recipe once, from a single STFT
    (one per block for long recordings).

    Audio longer than ``LONG_AUDIO_SECONDS`` is analysed in blocks (see
    ``_blocked_frame_features``), which bounds memory; ``block_seconds`` forces a
    block length (tests).
    """
    y = _prepare(samples)
    if block_seconds is None and y.size > LONG_AUDIO_SECONDS * sr:
        block_seconds = BLOCK_SECONDS
    if block_seconds is not None:
        return _blocked_frame_features(y, sr, block_seconds)
    frames, onset_env = _frame_parts(y, sr)
    return TrackFeatures(frames=frames, tempo=_tempo(onset_env, sr), sr=sr)


def _tempo(onset_env: np.ndarray, sr: int) -> float:
    librosa = librosa_loader.load()
    return float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env, sr=sr))[0])


def _blocked_frame_features(y: np.ndarray, sr: int, block_seconds: float) -> TrackFeatures:
    """Frame features of a long recording, computed block by block.

    The whole-track computation holds the STFT, its magnitude and power and a CQT at
    once: about 10 GB for two hours. Here each block of ``block_seconds`` is analysed
    with ``BLOCK_CONTEXT_FRAMES`` of audio either side (longer than the CQT's longest
    filter), and only its own frames are kept, on the whole track's frame grid. The
    spectrograms then never exceed one block's; what still grows with the length is
    the audio and the frame features (about 4 MB per minute). Three things are
    estimated per block instead of over the whole track: the two tuning estimates
    (chroma, tonnetz), the 80 dB floor of the dB spectrograms (mfcc, spectral
    contrast, onset envelope), and the tempo, the length-weighted median of the
    blocks' tempos. For a recording this long (a mix, a concert) that is at least as
    apt as one estimate over everything.
    """
    hop = HOP_LENGTH
    total = 1 + y.size // hop  # frames of a centred STFT over the whole track
    per_block = max(1, int(round(block_seconds * sr / hop)))
    ctx = BLOCK_CONTEXT_FRAMES
    out = None  # filled block by block, never concatenated (two copies at the peak)
    filled = 0
    tempos, weights = [], []
    for first in range(0, total, per_block):
        last = min(first + per_block, total)  # this block's frames: [first, last)
        lo, hi = max(0, first - ctx), min(total, last + ctx)
        frames, onset_env = _frame_parts(y[lo * hop: hi * hop], sr)
        rows = frames[first - lo: first - lo + (last - first)]
        if out is None:
            out = np.empty((total, frames.shape[1]), dtype=frames.dtype)
        out[filled: filled + len(rows)] = rows
        filled += len(rows)
        tempos.append(_tempo(onset_env, sr))
        weights.append(last - first)
    # Tempo: the median over blocks, each block counted by its length.
    order = np.argsort(tempos)
    cum = np.cumsum(np.asarray(weights, dtype=float)[order])
    tempo = float(np.asarray(tempos)[order][np.searchsorted(cum, cum[-1] / 2.0)])
    return TrackFeatures(frames=out[:filled], tempo=tempo, sr=sr)


def _frame_parts(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames (n, 198), onset envelope) of prepared mono audio."""
    librosa = librosa_loader.load()

    # One complex STFT with librosa's defaults (n_fft 2048, hop 512, hann, centred,
    # zero padding) - what each default call below would compute for itself.
    stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)
    mag = np.abs(stft)  # power=1 spectrogram: contrast, poly, rolloff, bandwidth, tuning (cqt)
    power = mag**2  # power=2 spectrogram: melspectrogram, chroma_stft
    del stft

    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mel_db = librosa.power_to_db(mel)  # as in feature.mfcc and onset.onset_strength
    mfcc = librosa.feature.mfcc(S=mel_db, sr=sr, n_mfcc=40)

    # chroma_stft estimates tuning from the power spectrogram (piptrack on S=power);
    # passing the same estimate explicitly leaves the result unchanged.
    tuning_stft = estimate_tuning(power, sr, bins_per_octave=12)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=tuning_stft)

    # tonnetz -> chroma_cqt -> cqt(tuning=None) estimates tuning with
    # estimate_tuning(y=y, bins_per_octave=36), i.e. piptrack on the magnitude STFT.
    tuning_cqt = estimate_tuning(mag, sr, bins_per_octave=36)
    with warnings.catch_warnings():
        # very short inputs (< ~1 s): the CQT's low octaves warn that n_fft > signal
        warnings.filterwarnings("ignore", message="n_fft=.*is too large", category=UserWarning)
        chroma_cq = librosa.feature.chroma_cqt(y=y, sr=sr, tuning=tuning_cqt)
    tonnetz = librosa.feature.tonnetz(sr=sr, chroma=chroma_cq)

    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr)
    freq = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    poly = poly_features_1(mag, freq)
    rolloff = spectral_rolloff(mag, freq)
    bandwidth = spectral_bandwidth(mag, freq)
    zcr = librosa.feature.zero_crossing_rate(y)

    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr)

    parts = [mfcc, chroma, mel, contrast, tonnetz, poly, rolloff, bandwidth, zcr]
    n = min(p.shape[-1] for p in parts)
    frames = np.concatenate([p[:, :n] for p in parts], axis=0).T
    return np.ascontiguousarray(frames, dtype=np.float64), onset_env


# -- Faster equivalents of a few librosa functions (same numbers; see the tests) --------
def estimate_tuning(S: np.ndarray, sr: int, bins_per_octave: int = 12) -> float:
    """librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=...) with default piptrack
    settings (fmin 150 Hz, fmax 4 kHz, threshold 0.1), computed on the 150 Hz-4 kHz rows
    only (plus one neighbour each side) instead of the whole spectrogram. Every value
    it uses is computed by the same operations, so the estimate is identical."""
    librosa = librosa_loader.load()
    from librosa.core.pitch import _parabolic_interpolation

    S = np.abs(S)
    n_fft = 2 * (S.shape[-2] - 1)
    fft_freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    band = np.flatnonzero((150.0 <= fft_freqs) & (fft_freqs < min(4000.0, sr / 2.0)))
    if band.size == 0:
        return 0.0
    lo, hi = max(int(band[0]) - 1, 0), min(int(band[-1]) + 2, S.shape[-2])
    sub = S[lo:hi]
    ref_value = 0.1 * np.max(S, axis=-2, keepdims=True)
    avg = np.gradient(sub, axis=-2)
    shift = _parabolic_interpolation(sub, axis=-2)
    dskew = 0.5 * avg * shift
    peaks = librosa.util.localmax(sub * (sub > ref_value), axis=-2)
    rows = np.arange(lo, hi)
    in_band = ((150.0 <= fft_freqs[rows]) & (fft_freqs[rows] < min(4000.0, sr / 2.0)))[:, None]
    idx = np.nonzero(in_band & peaks)
    pitch = (idx[0] + lo + shift[idx]) * float(sr) / n_fft
    mag = sub[idx] + dskew[idx]
    mask = pitch > 0
    threshold = np.median(mag[mask]) if mask.any() else 0.0
    with warnings.catch_warnings():
        # silence: "Trying to estimate tuning from empty frequency set" -> 0.0, as librosa
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        return float(librosa.pitch_tuning(pitch[(mag >= threshold) & mask], resolution=0.01,
                                          bins_per_octave=bins_per_octave))


def poly_features_1(S: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """librosa.feature.poly_features(S=S, order=1): a least-squares line over frequency
    per frame, (2, t) = [slope, intercept]. Solved once with the pseudo-inverse."""
    vander = np.vander(freq.astype(np.float64), 2)
    return np.linalg.pinv(vander) @ S.astype(np.float64)


def spectral_rolloff(S: np.ndarray, freq: np.ndarray, roll_percent: float = 0.85) -> np.ndarray:
    """librosa.feature.spectral_rolloff(S=S): the lowest bin frequency where the
    cumulative energy reaches roll_percent of the total (same cumsum, same threshold)."""
    total = np.cumsum(S, axis=-2)
    threshold = roll_percent * total[-1:, :]
    first = np.argmax(total >= threshold, axis=-2)
    return freq[first][None, :]


def spectral_bandwidth(S: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """librosa.feature.spectral_bandwidth(S=S) (p=2, norm=True): the spread of the
    normalised spectrum around its centroid, via matrix products instead of a full
    (bins x frames) deviation matrix."""
    librosa = librosa_loader.load()

    s = librosa.util.normalize(S, norm=1, axis=-2).astype(np.float64)
    f = freq.astype(np.float64)
    m0 = s.sum(axis=0)
    centroid = f @ s
    m2 = (f * f) @ s
    var = m2 - 2.0 * centroid * centroid + centroid * centroid * m0
    return np.sqrt(np.maximum(var, 0.0))[None, :]


def whole_vector(track: TrackFeatures) -> np.ndarray:
    """Mean over all frames plus the tempo: one row in the DEAM table's layout."""
    return np.append(track.frames.mean(axis=0), track.tempo).astype(np.float32)


def timeline_vectors(
    track: TrackFeatures,
    duration: float,
    hop_seconds: float = HOP_SECONDS,
    window_seconds: float = WINDOW_SECONDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed means along the track: (t, 199) features and (t, 2) step times.

    Step k covers [k*hop, (k+1)*hop) (clipped to the duration); its features are the
    mean of the frames whose centres fall within ``window_seconds`` centred on the
    step's midpoint (clipped at the track's ends). There are ceil(duration / hop) steps.

    Tempo: the recipe's tempo is a global estimate, and tempo over a 3 s window is
    unreliable (a few beats only), so every step gets the whole-track tempo.
    """
    n_steps = max(1, int(np.ceil(duration / hop_seconds - 1e-9)))
    starts = np.arange(n_steps) * hop_seconds
    ends = np.minimum(starts + hop_seconds, duration)
    times = np.stack([starts, np.maximum(ends, starts)], axis=1).astype(np.float64)

    frames = track.frames
    n = frames.shape[0]
    frame_t = np.arange(n) * track.hop_length / track.sr  # frame centres (center=True)
    mids = starts + hop_seconds / 2.0
    lo_t = mids - window_seconds / 2.0
    hi_t = mids + window_seconds / 2.0
    lo = np.searchsorted(frame_t, lo_t, side="left")
    hi = np.searchsorted(frame_t, hi_t, side="left")
    lo = np.clip(lo, 0, n - 1)
    hi = np.clip(np.maximum(hi, lo + 1), 1, n)
    csum = np.empty((n + 1, frames.shape[1]), dtype=np.float64)  # one copy: long tracks have many frames
    csum[0] = 0.0
    np.cumsum(frames, axis=0, out=csum[1:])
    means = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    out = np.empty((n_steps, N_FEATURES), dtype=np.float32)
    out[:, :-1] = means
    out[:, -1] = track.tempo
    return out, times


def dynamics_vector(timeline: np.ndarray) -> np.ndarray:
    """Track dynamics (N_DYNAMICS,) from a timeline of recipe vectors (t, 199).

    The timeline must come from ``timeline_vectors`` with the default hop and window
    (the statistics depend on both). A timeline of one step has no dynamics: zeros.
    """
    return _dynamics(_streams(np.asarray(timeline, dtype=np.float64).reshape(-1, N_FEATURES)))


def _streams(tl: np.ndarray) -> np.ndarray:
    """Per step: the dynamics' streams (the stream columns and the log mel energy)."""
    energy = np.log10(np.maximum(tl[:, MEL_SLICE].sum(axis=1), 1e-10))
    return np.column_stack([tl[:, _STREAM_COLUMNS], energy])


def _dynamics(streams: np.ndarray) -> np.ndarray:
    if len(streams) < 2:
        return np.zeros(N_DYNAMICS, dtype=np.float32)
    std = streams.std(axis=0)
    flux = np.abs(np.diff(streams, axis=0)).mean(axis=0)
    return np.concatenate([std, flux]).astype(np.float32)


def _centred_unit(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    return a / (np.linalg.norm(a, axis=-1, keepdims=True) + 1e-9)


_KEYS_MAJOR = _centred_unit(np.stack([np.roll(KEY_PROFILE_MAJOR, k) for k in range(12)]))
_KEYS_MINOR = _centred_unit(np.stack([np.roll(KEY_PROFILE_MINOR, k) for k in range(12)]))


def key_fits(chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlations in [-1, 1] of chroma vectors (..., 12; index 0 = C) with the
    12 major and the 12 minor Krumhansl-Kessler key profiles: two arrays (..., 12),
    indexed by the key's tonic."""
    unit = _centred_unit(np.asarray(chroma, dtype=np.float64))
    return unit @ _KEYS_MAJOR.T, unit @ _KEYS_MINOR.T


# Values computed from a recipe vector's own means (so the DEAM table has them too):
# loudness, the mel spectrum's shape without its level, chroma spread and mode.
DERIVED_NAMES = (["log10_mel_total", "mel_centroid_khz", "mel_spread_khz"]
                 + [f"mel_band_share_{i:02d}" for i in range(16)]
                 + ["chroma_entropy", "key_major_fit", "key_minor_fit", "key_major_minus_minor"])
N_DERIVED = len(DERIVED_NAMES)  # 23


def mel_band_hz() -> np.ndarray:
    """The frequency (Hz) that stands for each of the recipe's 128 mel bands in
    ``derived_features``: 128 points evenly spaced on librosa's mel scale up to
    11,025 Hz. Training stores these in the model's norm file, so scoring does not
    import librosa for them."""
    return librosa_loader.load().mel_frequencies(n_mels=MEL_SLICE.stop - MEL_SLICE.start, fmax=11025.0)


def derived_features(raw: np.ndarray, mel_hz) -> np.ndarray:
    """(n, N_DERIVED) values from recipe vectors (n, 199), mel bands as power:
    log10 of the total mel power; the mel spectrum's centroid and spread (kHz, from
    the band shares, so independent of level); the log share of each of 16 groups of
    8 bands; the entropy of the normalised chroma; the best major and minor key-profile
    fits and their difference."""
    raw = np.nan_to_num(np.atleast_2d(np.asarray(raw, dtype=np.float64)), nan=0.0, posinf=0.0, neginf=0.0)
    mel = np.maximum(raw[:, MEL_SLICE], 1e-10)
    total = mel.sum(axis=1, keepdims=True)
    share = mel / total
    khz = np.asarray(mel_hz, dtype=np.float64) / 1000.0
    centroid = share @ khz
    spread = np.sqrt(np.maximum(share @ khz**2 - centroid**2, 0.0))
    bands = np.log10(share.reshape(len(share), 16, -1).sum(axis=2))
    chroma = np.maximum(raw[:, _CHROMA_COLUMNS], 1e-9)
    chroma = chroma / chroma.sum(axis=1, keepdims=True)
    entropy = -(chroma * np.log(chroma)).sum(axis=1)
    major, minor = (fits.max(axis=1) for fits in key_fits(chroma))
    return np.column_stack([np.log10(total[:, 0]), centroid, spread, bands, entropy, major, minor, major - minor])


def tonality_vector(timeline: np.ndarray) -> np.ndarray:
    """Tonality (N_TONALITY,) from a timeline of recipe vectors (t, 199): Pearson
    correlations in [-1, 1] of chroma with the best-fitting major and minor keys."""
    return _tonality(*_key_rows(np.asarray(timeline, dtype=np.float64).reshape(-1, N_FEATURES)))


def _key_rows(tl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: chroma, and the fit of the best major and of the best minor key."""
    chroma = tl[:, _CHROMA_COLUMNS]
    major, minor = (fits.max(axis=1) for fits in key_fits(chroma))
    return chroma, major, minor


def _tonality(chroma: np.ndarray, major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    if len(chroma) == 0:
        return np.zeros(N_TONALITY, dtype=np.float32)
    track_major, track_minor = key_fits(chroma.mean(axis=0))
    key = int(track_major.argmax())
    relative_minor = (key + 9) % 12  # A minor for C major
    return np.array([
        major.mean(), minor.mean(), (major - minor).mean(), (major > minor).mean(),
        track_major.max(), track_minor.max(), track_major.max() - track_minor.max(),
        track_major[key] - track_minor[relative_minor], np.maximum(major, minor).mean(),
    ], dtype=np.float32)


def track_vector(timeline: np.ndarray) -> np.ndarray:
    """Track descriptors (N_TRACK,): dynamics then tonality, from a default timeline."""
    return np.concatenate([dynamics_vector(timeline), tonality_vector(timeline)])


def local_track_vectors(timeline: np.ndarray, context_seconds: float,
                        hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Track descriptors (t, N_TRACK) for every step of a default timeline (t, 199),
    each computed from the steps within ``context_seconds`` centred on it (clipped at
    the track's ends), so a timeline step describes the music around it rather than
    the whole track."""
    tl = np.asarray(timeline, dtype=np.float64).reshape(-1, N_FEATURES)
    half = max(0, int(round(context_seconds / hop_seconds / 2)))
    # The per-step parts once for the whole timeline; each window only slices them.
    streams, (chroma, major, minor) = _streams(tl), _key_rows(tl)
    out = np.empty((len(tl), N_TRACK), dtype=np.float32)
    for k in range(len(tl)):
        w = slice(max(0, k - half), k + half + 1)
        out[k] = np.concatenate([_dynamics(streams[w]), _tonality(chroma[w], major[w], minor[w])])
    return out


def extract_features(
    samples: np.ndarray,
    sr: int = SAMPLE_RATE,
    hop_seconds: float = HOP_SECONDS,
    window_seconds: float = WINDOW_SECONDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Return (whole (199,), timeline (t, 199), times (t, 2), duration seconds)."""
    if sr != SAMPLE_RATE:
        from emobrowser.media.audio import resample

        samples = resample(np.asarray(samples, dtype=np.float32), sr, SAMPLE_RATE)
        sr = SAMPLE_RATE
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = samples.size / float(sr)
    track = frame_features(samples, sr)
    frames, times = timeline_vectors(track, duration, hop_seconds, window_seconds)
    return whole_vector(track), frames, times, duration


def reference_vector(samples: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The recipe computed the slow, literal way: each librosa function on its own.

    Used by the tests (and for checking) to prove ``frame_features`` is equivalent.
    """
    librosa = librosa_loader.load()

    y = _prepare(samples)
    parts = [
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40),
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.melspectrogram(y=y, sr=sr),
        librosa.feature.spectral_contrast(y=y, sr=sr),
        librosa.feature.tonnetz(y=y, sr=sr),
        librosa.feature.poly_features(y=y, sr=sr, order=1),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.spectral_bandwidth(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
    ]
    means = np.concatenate([p.mean(axis=-1) for p in parts])
    tempo = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])
    return np.append(means, tempo).astype(np.float32)

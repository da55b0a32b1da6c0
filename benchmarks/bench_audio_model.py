"""Benchmark: score a 3-minute MP3 with the audio-va model on one core.

Synthesises a music-like signal (chords, bass, drums; 180 s, stereo 44.1 kHz), encodes
it to MP3 with PyAV (libmp3lame) in a temporary folder, then measures

* decode_s: bare decode (emobrowser.media.audio.load_audio to mono 22,050 Hz);
* score_s: decode + features (whole track + 0.5 s timeline) + inference, with the
  model already loaded (the network's load and librosa's compiled code are paid once
  per process, not per file, and are reported separately as load_s; ``backend`` says
  what ran the network: LiteRT unless its .tflite could not be loaded).

    python benchmarks/bench_audio_model.py [--quick]

--quick scores a 15 s MP3 once instead of 180 s three times: it checks that the
benchmark runs, and its "ok" is null (a short track is not held against the target).
The last line printed is JSON.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DURATION = 180.0
QUICK_DURATION = 15.0  # seconds; the same path as a song (blocks start at 15 minutes)
RATE = 44100
TARGET_S = 4.0  # seconds to score a track of DURATION


def synth_music(duration: float = DURATION, sr: int = RATE, seed: int = 0) -> np.ndarray:
    """A stereo (2, n) float32 signal: chord progression, bass line and drums at 120 BPM."""
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    t = np.arange(n) / sr
    beat = 0.5  # 120 BPM
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66)]
    out = np.zeros(n, dtype=np.float64)
    bar = 4 * beat
    chord_idx = (t // bar).astype(int) % len(chords)
    for k in range(3):
        freqs = np.array([c[k] for c in chords])[chord_idx]
        phase = 2 * np.pi * np.cumsum(freqs) / sr
        out += 0.12 * np.sin(phase) + 0.04 * np.sin(2 * phase)
    bass_f = np.array([c[0] / 2 for c in chords])[chord_idx]
    out += 0.2 * np.sin(2 * np.pi * np.cumsum(bass_f) / sr) * (0.6 + 0.4 * np.cos(2 * np.pi * t / beat))
    kick_len = int(0.12 * sr)
    kt = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-kt * 30)) * kt) * np.exp(-kt * 25)
    hat_len = int(0.04 * sr)
    hat = rng.standard_normal(hat_len) * np.exp(-np.arange(hat_len) / sr * 120) * 0.15
    for i in range(int(duration / beat)):
        s = int(i * beat * sr)
        e = min(n, s + kick_len)
        out[s:e] += 0.6 * kick[: e - s]
        h = int((i * beat + beat / 2) * sr)
        e = min(n, h + hat_len)
        if h < n:
            out[h:e] += hat[: e - h]
    out /= np.max(np.abs(out)) * 1.1
    stereo = np.stack([out, np.roll(out, 37)]).astype(np.float32)
    return stereo


def write_mp3(path: Path, stereo: np.ndarray, sr: int = RATE) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libmp3lame", rate=sr)
        stream.layout = "stereo"
        stream.bit_rate = 192_000
        frame_size = 1152
        for start in range(0, stereo.shape[1], frame_size):
            chunk = np.ascontiguousarray(stereo[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"score a {QUICK_DURATION:.0f} s track once: a check that every step runs")
    args = parser.parse_args(argv)

    from emobrowser.media.audio import load_audio
    from emobrowser.models.audio_model import AudioVAModel

    tmp = Path(tempfile.mkdtemp(prefix="bench_audio_"))
    mp3 = tmp / "music.mp3"
    write_mp3(mp3, synth_music(QUICK_DURATION if args.quick else DURATION))

    from emobrowser.models import runtime

    t0 = time.perf_counter()
    runtime.set_threads(1)
    model = AudioVAModel()
    # Warm-up on a short signal: loads the network (LiteRT) and JIT-compiles librosa's numba code.
    warm = model.extract(np.zeros(22050 * 4, dtype=np.float32) + 1e-3, 22050)
    model.predict(np.vstack([warm.whole[None, :], warm.frames]))
    load_s = time.perf_counter() - t0

    decode_runs, score_runs = [], []
    for _ in range(1 if args.quick else 3):
        t = time.perf_counter()
        samples = load_audio(mp3, sr=22050)
        decode_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        samples = load_audio(mp3, sr=22050)
        feats = model.extract(samples, 22050)
        va = model.predict(np.vstack([feats.whole[None, :], feats.frames]))
        score_runs.append(time.perf_counter() - t)
    assert np.all(np.isfinite(va)) and va.shape == (1 + feats.frames.shape[0], 2)
    score_s = min(score_runs)
    result = {
        "quick": args.quick,
        "duration_s": round(samples.size / 22050, 2),
        "decode_s": round(min(decode_runs), 3),
        "score_s": round(score_s, 3),
        "realtime_factor": round(samples.size / 22050 / score_s, 1),
        "timeline_steps": int(feats.frames.shape[0]),
        "load_s": round(load_s, 2),
        "backend": model.backend(),
        "threads": 1,
        "target_s": TARGET_S,
        "ok": None if args.quick else bool(score_s <= TARGET_S),
    }
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: peak memory and time of scoring features for a long recording.

A mix, a concert or an audiobook can last hours. The whole-track analysis holds an
STFT, its magnitude and power and a CQT at once, so its memory grows with the length
(about 10 GB for two hours); recordings longer than
``audio_features.LONG_AUDIO_SECONDS`` are analysed in blocks instead.

Writes a FLAC of ``--minutes`` of synthesised music (mono, 22,050 Hz) to a temporary
folder, then runs each step in a fresh process and reads that process's peak
resident memory:

* decode: bare decoding (emobrowser.media.audio.load_audio), the baseline;
* whole_track: decoding + the frame features in one pass over the whole track, as
  songs get them;
* blocked: decoding + the full extraction (blocks, 0.5 s timeline, track
  descriptors), what the indexer runs for a recording this long;
* model: decoding + everything the song model's ``extract`` does, i.e. the blocked
  extraction and the music tagger's embedding (emobrowser.features.music_tagger, also
  in blocks).

    python benchmarks/bench_long_audio.py [--quick] [--minutes 40]

The target: the blocked extraction, and the model's whole extraction, each need at
most 1.5 GB more than bare decoding.
--quick runs the steps on one minute, with the block threshold and length lowered to
20 s so that the blocked step still runs in blocks (well under a minute): it checks
that the benchmark runs and exits 1 if a step failed; its "ok" is null (one minute is
not held against the target). The last line printed is JSON.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SR = 22050
TARGET_EXTRA_MB = 1536.0
QUICK_BLOCK_SECONDS = 20.0  # --quick: threshold and block length, so one minute is analysed in blocks

STEPS = {
    "decode": "samples = load_audio(path, sr=22050)",
    "whole_track": ("samples = load_audio(path, sr=22050)\n"
                    "frames, onset = af._frame_parts(af._prepare(samples), 22050)\n"
                    "af._tempo(onset, 22050)"),
    "blocked": "samples = load_audio(path, sr=22050)\naf.extract_features(samples, 22050)",
    "model": ("from emobrowser.models.audio_model import AudioVAModel\n"
              "samples = load_audio(path, sr=22050)\nAudioVAModel().extract(samples, 22050)"),
}

CHILD = """
import resource, sys, time
sys.path.insert(0, {repo!r})
from emobrowser.features import audio_features as af
from emobrowser.media.audio import load_audio
{setup}
path = {path!r}
t = time.perf_counter()
{step}
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
"""


def write_long_flac(path: Path, minutes: float) -> None:
    """Minutes of music: one-minute synthesised sections of varying tempo and mode."""
    import soundfile as sf

    from emobrowser.media import synth

    sections = [synth.synth_music(60.0, SR, bpm=bpm, major=major, seed=i)
                for i, (bpm, major) in enumerate([(80, True), (128, False), (100, True), (150, False)])]
    n_min = int(np.ceil(minutes))
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=1, format="FLAC") as out:
        for k in range(n_min):
            out.write(sections[k % len(sections)].astype(np.float32))


def run_step(name: str, path: Path, quick: bool = False) -> dict:
    setup = (f"af.LONG_AUDIO_SECONDS = af.BLOCK_SECONDS = {QUICK_BLOCK_SECONDS}\n"
             "from emobrowser.features import music_tagger\nmusic_tagger.BLOCK_PATCHES = 4") if quick else ""
    code = CHILD.format(repo=str(REPO), path=str(path), step=STEPS[name], setup=setup)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    seconds, peak_mb = (float(v) for v in proc.stdout.split()[-2:])
    return {"seconds": round(seconds, 2), "peak_mb": round(peak_mb, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--quick", action="store_true",
                        help=f"one minute, analysed in blocks of {QUICK_BLOCK_SECONDS:.0f} s: a check that every "
                             f"step runs")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(minutes=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        write_long_flac(path, args.minutes)
        results = {}
        for name in STEPS:
            results[name] = run_step(name, path, args.quick)
            print(name, results[name], flush=True)
    ok = all("error" not in r for r in results.values())
    extra = results["blocked"]["peak_mb"] - results["decode"]["peak_mb"] if ok else None
    model_extra = results["model"]["peak_mb"] - results["decode"]["peak_mb"] if ok else None
    summary = {
        "quick": args.quick,
        "minutes": args.minutes,
        **{f"{k}_{m}": v.get(m) for k, v in results.items() for m in ("seconds", "peak_mb")},
        "blocked_extra_mb": None if extra is None else round(extra, 1),
        "model_extra_mb": None if model_extra is None else round(model_extra, 1),
        "whole_track_extra_mb": (round(results["whole_track"]["peak_mb"] - results["decode"]["peak_mb"], 1)
                                 if ok else None),
        "target_extra_mb": TARGET_EXTRA_MB,
        "ok": None if args.quick else bool(ok and extra <= TARGET_EXTRA_MB and model_extra <= TARGET_EXTRA_MB),
    }
    print(json.dumps(summary))
    # At full length a step may fail for want of memory, a figure in itself; on one
    # minute a failed step is a broken benchmark.
    return 1 if args.quick and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: several processes loading librosa at once on an empty numba cache.

Each round empties a numba cache folder, starts ``--processes`` processes together
that compute the audio features of a 2 s tone, then starts as many again on the cache
the first wave left. It does this twice per round:

* plain: each process imports librosa directly (numba's own cache handling, as
  before ``emobrowser.features.librosa_loader``): concurrent compiles can leave
  mismatched cache entries, and every process that loads them dies (signal 11);
* loader: each process goes through ``librosa_loader.load()`` (cache lock and warm-up).

    python benchmarks/bench_librosa_cold_start.py [--quick] [--rounds 3] [--processes 4]

It reports failed processes and wall time per mode. About 3 minutes per round on two
cores. --quick runs one round of one process per wave (about a minute, nearly all
of it the two cold compiles): it checks that the benchmark runs, not that concurrent
compiles are survived, and exits 1 if a process failed in the loader mode. The last
line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_TONE = ("import numpy as np; t = np.arange(44100) / 22050; "
         "y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32); ")
CODE = {
    "plain": ("import librosa; from emobrowser.features import audio_features as af; "
              "af.librosa_loader.load = lambda: librosa; " + _TONE + "af.frame_features(y)"),
    "loader": "from emobrowser.features import audio_features as af; " + _TONE + "af.frame_features(y)",
}


def wave(mode: str, cache: Path, processes: int) -> list[int]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    procs = [subprocess.Popen([sys.executable, "-c", CODE[mode]], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(processes)]
    return [p.wait() for p in procs]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--quick", action="store_true",
                        help="one round of one process per wave: a check that every step runs")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(rounds=1, processes=1)
    args = parser.parse_args(argv)
    result = {"quick": args.quick, "rounds": args.rounds, "processes_per_wave": args.processes}
    with tempfile.TemporaryDirectory(prefix="emobrowser-numba-") as tmp:
        totals = {mode: {"failed": 0, "started": 0, "damaged_rounds": 0, "seconds": 0.0} for mode in CODE}
        for r in range(args.rounds):
            for mode, total in totals.items():
                cache = Path(tmp) / mode
                shutil.rmtree(cache, ignore_errors=True)
                start = time.perf_counter()
                cold = wave(mode, cache, args.processes)
                warm = wave(mode, cache, args.processes)
                total["seconds"] += time.perf_counter() - start
                total["started"] += len(cold) + len(warm)
                total["failed"] += sum(code != 0 for code in cold + warm)
                total["damaged_rounds"] += any(code != 0 for code in warm)
                print(f"round {r} {mode}: cold exits {cold}, warm exits {warm}", flush=True)
        for mode, total in totals.items():
            total["seconds"] = round(total["seconds"], 1)
            result[mode] = total
    result["ok"] = result["loader"]["failed"] == 0
    return result


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome))
    # Crashes in the plain mode are what this measures; in the loader mode they are a
    # bug, which the quick check (run by CI) reports in its exit status.
    raise SystemExit(1 if outcome["quick"] and not outcome["ok"] else 0)

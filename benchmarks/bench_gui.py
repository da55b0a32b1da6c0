"""Benchmark of the desktop app's responsiveness (offscreen).

    PYTHONPATH=. python benchmarks/bench_gui.py [--quick]

Measures in one run, each beside a baseline:

* startup_s             seconds from launching a fresh interpreter to the main window
                        being shown (the run_gui path: QApplication, settings, library
                        check, MainWindow, show); baseline_startup_s: the same for an
                        empty QWidget
* tf_loaded_at_startup  whether TensorFlow was imported by then (or within 2 s after)
* scatter_100k_ms       set_points of 100,000 points + a forced render (grab) of the
                        circumplex, median of 5; baseline_scatter_empty_ms: render only
* stall_p99_ms          p99 lateness of a 10 ms QTimer while a generated library is
                        indexed in the background with the shipped models (LiteRT
                        scoring photos and songs, as for a user; "stall_models":
                        "shipped"); stall_p99_baseline_models_ms: the same library
                        indexed with the hand-set baseline models; baseline_stall_p99_ms:
                        the idle event loop

Targets: startup <= 1.5 s without TF, scatter <= 100 ms, stall p99 <= 50 ms.
--quick launches the app and the empty QWidget once each (no warm-up launch), renders
1,000 points and indexes 7 photos and 1 song, in well under a minute: it checks that
the benchmark runs; its figures are not held against the targets. The last line of
output is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STARTUP_CHILD = """
import os, sys, time
from emobrowser.gui.main import make_app
app = make_app()
if {empty}:
    from PySide6.QtWidgets import QWidget
    w = QWidget(); w.resize(800, 600); w.show(); app.processEvents()
    print("SHOWN", "NO-TF"); sys.stdout.flush(); sys.exit(0)
from emobrowser.gui.settings import open_settings
from emobrowser.gui.main import choose_db
from emobrowser.index.store import Store
class A: db = {db!r}; demo = False
db = choose_db(A, open_settings())
Store(db).close()
from emobrowser.gui.main_window import MainWindow
w = MainWindow(db, auto_index=False)
w.show()
app.processEvents()
print("SHOWN", "TF" if "tensorflow" in sys.modules else "NO-TF"); sys.stdout.flush()
end = time.time() + 2
while time.time() < end:
    app.processEvents(); time.sleep(0.01)
print("LATER", "TF" if "tensorflow" in sys.modules else "NO-TF")
w.close()
"""


def startup(home: Path, empty: bool) -> tuple[float, bool, bool]:
    """(seconds to the shown window, TF at show, TF 2 s later) in a fresh interpreter."""
    env = dict(os.environ, EMOBROWSER_HOME=str(home), PYTHONPATH=str(REPO))
    code = STARTUP_CHILD.format(empty=empty, db=str(home / "library.sqlite3"))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, cwd=str(REPO))
    shown_at, tf_shown, tf_later = None, False, False
    for line in proc.stdout:
        if line.startswith("SHOWN"):
            shown_at = time.perf_counter() - started
            tf_shown = line.split()[1] == "TF"
        elif line.startswith("LATER"):
            tf_later = line.split()[1] == "TF"
    proc.wait(timeout=120)
    if shown_at is None:
        raise RuntimeError("the window was never shown")
    return shown_at, tf_shown, tf_later


def scatter(n: int, repeats: int = 5) -> tuple[float, float]:
    """(median ms of set_points + render of n points, median ms of rendering an empty map)."""
    from emobrowser.gui.main import make_app

    app = make_app()
    from emobrowser.gui.circumplex import CircumplexWidget
    from emobrowser.index.library import LibraryPoints

    rng = np.random.default_rng(0)
    modality = np.array(["image", "audio", "video"], object)[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    points = LibraryPoints(np.arange(n, dtype=np.int64), [f"/m/{i}.jpg" for i in range(n)], modality,
                           np.clip(rng.normal(0.1, 0.4, n), -1, 1), np.clip(rng.normal(0, 0.4, n), -1, 1))
    widget = CircumplexWidget()
    widget.resize(800, 800)
    widget.show()
    app.processEvents()
    empty, full = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        widget.grab()
        empty.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        widget.set_points(points)
        widget.grab()
        full.append((time.perf_counter() - t) * 1000)
        widget.set_points(LibraryPoints(np.zeros(0, np.int64), [], np.zeros(0, object), np.zeros(0), np.zeros(0)))
    widget.close()
    return float(np.median(full)), float(np.median(empty))


def _lateness(app, seconds: float, until=None) -> list[float]:
    """Lateness (ms) of each tick of a 10 ms timer over ``seconds`` (or until ``until()``)."""
    from PySide6.QtCore import QTimer

    late, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000 - 10))
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (until and until()):
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return late


def stalls(home: Path, images: int, songs: int, model: str | None = "baseline") -> tuple[float, float, float]:
    """(p99 lateness while indexing, p99 idle, indexing seconds)."""
    from emobrowser.gui.main import make_app

    app = make_app()
    from emobrowser.gui.main_window import MainWindow
    from emobrowser.media import synth

    media = home / "media"
    media.mkdir(parents=True, exist_ok=True)
    kinds = ("warm", "dark", "vivid", "face", "cool", "grey", "noise")
    for i in range(images):
        synth.write_image(media / f"p{i:04d}.jpg", synth.draw_image(kinds[i % len(kinds)], (240, 320), seed=i))
    for i in range(songs):
        synth.write_audio(media / f"s{i:03d}.wav", synth.synth_music(4.0, bpm=60 + 10 * i, seed=i))
    window = MainWindow(home / "bench.sqlite3", image_model=model, audio_model=model)
    window.resize(1360, 860)
    window.show()
    idle = _lateness(app, 2.0)
    started = time.perf_counter()
    window.add_folders([str(media)])
    busy = _lateness(app, 300.0, until=lambda: window.indexer is not None and window.indexer.isFinished())
    elapsed = time.perf_counter() - started
    window.close()
    return float(np.percentile(busy, 99)), float(np.percentile(idle, 99)), elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--songs", type=int, default=20)
    parser.add_argument("--models", choices=["both", "shipped", "baseline"], default="both",
                        help="models used while indexing for the stall figures (default: both, the shipped "
                             "models, run by LiteRT in the indexing thread, then the fast baseline)")
    parser.add_argument("--quick", action="store_true",
                        help="one launch of each, 1,000 points, 7 photos and 1 song: a check that every step runs")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(points=1_000, images=7, songs=1)  # 7 photos: one of each kind
    args = parser.parse_args(argv)
    launches = 1 if args.quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["EMOBROWSER_HOME"] = str(tmp / "home")
        if not args.quick:
            startup(tmp / "warm", empty=False)  # warm the OS file cache once, as a second launch would be
        base_s = min(startup(tmp / f"base{i}", empty=True)[0] for i in range(launches))
        runs = [startup(tmp / f"app{i}", empty=False) for i in range(launches)]
        start_s = min(r[0] for r in runs)
        tf = any(r[1] or r[2] for r in runs)
        print(f"startup {start_s:.3f} s (empty QWidget {base_s:.3f} s), TF loaded: {tf}", file=sys.stderr)
        scatter_ms, empty_ms = scatter(args.points)
        print(f"scatter {args.points} points {scatter_ms:.1f} ms (empty map {empty_ms:.1f} ms)", file=sys.stderr)
        figures = {}
        for kind in ("shipped", "baseline"):
            if args.models in (kind, "both"):
                figures[kind] = stalls(tmp / f"stall-{kind}", args.images, args.songs,
                                       None if kind == "shipped" else "baseline")
                stall, idle, index_s = figures[kind]
                print(f"stall p99 {stall:.1f} ms while indexing {args.images + args.songs} files with the {kind} "
                      f"models in {index_s:.1f} s (idle p99 {idle:.1f} ms)", file=sys.stderr)
        main_kind = "shipped" if "shipped" in figures else "baseline"
        stall, idle, index_s = figures[main_kind]
    print(json.dumps({"quick": args.quick, "startup_s": round(start_s, 3), "baseline_startup_s": round(base_s, 3),
                      "tf_loaded_at_startup": tf, "scatter_100k_ms": round(scatter_ms, 1),
                      "scatter_points": args.points, "baseline_scatter_empty_ms": round(empty_ms, 1),
                      "stall_p99_ms": round(stall, 1), "baseline_stall_p99_ms": round(idle, 1),
                      "indexed_files": args.images + args.songs, "index_s": round(index_s, 1),
                      "stall_models": main_kind,
                      **({"stall_p99_baseline_models_ms": round(figures["baseline"][0], 1),
                          "index_s_baseline_models": round(figures["baseline"][2], 1)}
                         if main_kind != "baseline" and "baseline" in figures else {})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line: ``emobrowser [--db PATH] COMMAND ...``.

Command names and output formats are a stable interface: scripts and checks outside
the repository parse them. JSON commands print one object per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from emobrowser import __version__
from emobrowser.cli_query import add_parser as add_query_parser, cmd_query
from emobrowser.cli_slideshow import add_parser as add_slideshow_parser, cmd_slideshow
from emobrowser.core.errors import EmobrowserError, InputError

log = logging.getLogger("emobrowser")


# Characters that would break a line-per-entry listing: control characters (line
# breaks, tabs) and Unicode's line and paragraph separators.
# Bidirectional controls (U+202E shows a name reversed, "gpj.exe" as "exe.jpg") are
# escaped too.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\udc80-\udcff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(path: str) -> str:
    """A path for line-per-entry text output: control characters and line separators in
    a file name are shown escaped (\\n, \\t, \\x0b, \\u0085, \\u2028, ...), so one entry
    stays one line, and a byte that is not UTF-8 as \\xNN (\\xe9). Where "/" separates
    folders, a backslash is doubled, so the escapes are unambiguous. --json gives names
    exactly."""
    if os.sep == "/":
        path = path.replace("\\", "\\\\")
    return _UNPRINTABLE.sub(_escape, path)


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not valid UTF-8 (os.fsdecode)
        return f"\\x{code - 0xDC00:02x}"
    # \xNN only below 0x80, so \x85 is always a byte and U+0085 is \u0085
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def json_line(row: dict) -> str:
    """One JSON object on one line, names as they are. A byte of a file name that is not
    valid UTF-8 is written as the JSON escape of its surrogate (``"\\udce9"``), which
    strict UTF-8 output can carry and ``json.loads`` + ``os.fsencode`` turn back into
    the exact name."""
    return json.dumps(row, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")


def _add_db(p: argparse.ArgumentParser, top: bool = False) -> None:
    # Accepted before or after the command. A subcommand's own default must not
    # overwrite a --db given before the command, hence SUPPRESS there.
    p.add_argument("--db", metavar="PATH", default=None if top else argparse.SUPPRESS,
                   help="library database file (default: per-user data folder, "
                   "or $EMOBROWSER_HOME/library.sqlite3)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emobrowser", description="Find photos, music and videos by the "
                                     "emotion they evoke. Without a command, starts the desktop app.")
    parser.add_argument("--version", action="version", version=f"emobrowser {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo library")
    parser.add_argument("--add", nargs="*", default=[], metavar="FOLDER",
                        help="open the app and add these folders to the library (what the desktop launcher "
                             "passes for folders dropped on it; files are ignored)")
    parser.add_argument("--self-test", action="store_true", help="check the installation and print JSON")
    _add_db(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add folders to the library and index them")
    _add_db(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to add (none: reindex the known roots)")
    p.add_argument("--workers", type=int, default=None, help="extraction processes (default 2; at most 4 per core)")
    p.add_argument("--timeout", type=float, default=None, help="time limit per file in seconds (default 300)")
    p.add_argument("--include-hidden", action="store_true", help="also index hidden files and folders")
    p.add_argument("--image-model", default=None, help="image model name (default: best available)")
    p.add_argument("--audio-model", default=None, help="audio model name (default: best available)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("status", help="counts of indexed, failed and pending items")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("failures", help="files that could not be indexed, with the reason")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("score", help="score files directly, without adding them to the library")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--timeout", type=float, default=None,
                   help="time limit per file in seconds (default 300; videos get 0.5 s more per MiB)")
    p.add_argument("--image-model", default=None)
    p.add_argument("--audio-model", default=None)

    add_query_parser(sub, _add_db)

    p = sub.add_parser("train", help="train a model from rated data")
    p.add_argument("kind", choices=["image", "audio"])
    p.add_argument("--data", required=True, help="data folder")
    p.add_argument("--out", default="resources/models", help="output folder (default resources/models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--cache", default=None,
                   help="folder caching the features (audio: the 4Q clips'; image: the photos' and "
                        "their backbone activations); the first run extracts them")

    p = sub.add_parser("predict-features", help="predict from a feature table (CSV in the DEAM layout)")
    p.add_argument("kind", choices=["audio"])
    p.add_argument("csv")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("check", help="check the library database for damage (and repair it)")
    _add_db(p)
    p.add_argument("--repair", action="store_true",
                   help="rebuild a damaged library from what can still be read, keep the damaged file beside it "
                        "(renamed), and rescan the library folders")

    p = sub.add_parser("align", help="fit the image-to-audio alignment on the library's video anchors")
    _add_db(p)
    p.add_argument("--method", default=None)
    p.add_argument("--json", action="store_true")
    add_slideshow_parser(sub, _add_db)
    return parser


def db_path(args) -> Path:
    from emobrowser.core.paths import default_db_path

    return Path(args.db) if getattr(args, "db", None) else default_db_path()


def existing_db_path(args) -> Path:
    """db_path for commands that only read a library: a --db that names no file is a
    mistake to report, not a new empty library to create."""
    path = db_path(args)
    if not path.is_file():
        if path.is_dir():
            raise InputError(f"no library at {path}: it is a folder; --db takes the library's database file")
        if not getattr(args, "db", None):
            raise InputError("no library yet; create one with: emobrowser index FOLDER")
        raise InputError(f"no library at {path}; create one with: emobrowser index FOLDER --db {path}")
    return path


def open_store(args, create: bool = False):
    """The library of ``args``; without ``create`` it must exist, and is opened read-only
    (no write lock, so a running index does not hold the command up)."""
    from emobrowser.index.store import Store

    return Store(db_path(args), readonly=False) if create else Store(existing_db_path(args), readonly=True)


# -- index ----------------------------------------------------------------------------


class _Bar:
    """A one-line progress bar on a terminal (stderr); silent elsewhere."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.width = 28

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        if p.phase == "scan":
            line = f"scanning… {p.done} files  {p.current[-50:]}"
        else:
            frac = p.done / p.total if p.total else 1.0
            filled = int(frac * self.width)
            eta = f"{p.eta:5.0f} s" if p.eta is not None else "   -- "
            name = os.path.basename(p.current)[-30:]
            line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {p.done}/{p.total} "
                    f"{p.rate:5.1f}/s ETA {eta} failed {p.failed}  {name}")
        sys.stderr.write("\r\x1b[2K" + line)
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def cmd_index(args) -> int:
    from emobrowser.index.pipeline import DEFAULT_TIMEOUT, index_library

    for path in args.paths:
        if not os.path.isdir(path):
            print(f"emobrowser: not a folder: {path}", file=sys.stderr)
            return 2
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        print(f"emobrowser: --timeout must be a positive number of seconds, not {args.timeout:g}", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print(f"emobrowser: --workers must be at least 1, not {args.workers}", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers > max_workers():
        # Each worker is a process holding a decoder and its buffers: hundreds of them
        # exhaust memory before they gain any speed.
        print(f"emobrowser: --workers may be at most {max_workers()} (4 per core on this machine), "
              f"not {args.workers}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_interrupt(*_args) -> None:
        # The first Ctrl-C stops at the next file and keeps what is done; a second one
        # gives up at once (what is committed stays, the rest is redone next run).
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2Kstopping… (Ctrl-C again to stop at once)\n")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    bar = _Bar(sys.stderr.isatty() and not args.quiet)
    try:
        with open_store(args, create=True) as store:
            if not args.paths and not store.roots():
                print("emobrowser: no folders in the library yet; give one: emobrowser index PATH",
                      file=sys.stderr)
                return 2
            summary = index_library(store, args.paths, workers=args.workers,
                                    timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
                                    image_model=args.image_model, audio_model=args.audio_model,
                                    include_hidden=args.include_hidden, progress=bar, cancelled=stop.is_set)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish()
    print(f"indexed: {summary.indexed}, unchanged: {summary.unchanged}, failed: {summary.failed}"
          + (f", missing: {summary.missing}" if summary.missing else "")
          + (f", moved: {summary.moved}" if summary.moved else "")
          + (f", tags read: {summary.tags_read}" if summary.tags_read else "")
          + (" (cancelled; run again to resume)" if summary.cancelled else ""))
    for folder in summary.unreadable_dirs:
        why = summary.dir_errors.get(folder)
        print(f"warning: could not read folder {one_line(folder)}" + (f": {why}" if why else ""), file=sys.stderr)
    for folder, why in summary.skipped_links:
        print(f"warning: skipped folder {one_line(folder)}: {why}", file=sys.stderr)
    for folder in summary.absent_roots:
        print(f"warning: library folder {one_line(folder)} is absent (unmounted, moved or deleted?); "
              f"its items are kept as they were", file=sys.stderr)
    if summary.failed:
        print("see the reasons with: emobrowser failures", file=sys.stderr)
    if note := _alignment_note(args):
        print(f"warning: {note}; run `emobrowser align` again", file=sys.stderr)
    return 130 if summary.cancelled else 0


def _alignment_note(args) -> str | None:
    """Why the library's stored alignment no longer applies (after indexing with new models), or None."""
    from emobrowser.align.transform import alignment_status
    from emobrowser.index.library import current_models

    with open_store(args) as store:
        return alignment_status(store, current_models(store)).get("note")


# -- status, failures -------------------------------------------------------------------


def cmd_status(args) -> int:
    from emobrowser.index.library import current_models

    from emobrowser.align.transform import alignment_status

    with open_store(args) as store:
        counts = store.status_counts()
        keys = current_models(store)
        alignment = alignment_status(store, keys)
    models = {k: f"{name}/{version}" for k, (name, version) in keys.items()}
    for modality in ("image", "audio", "video"):
        counts.setdefault(modality, {"indexed": 0, "failed": 0, "pending": 0})
    out = {"items": {k: counts[k] for k in sorted(counts)}, "models": models, "alignment": alignment}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for modality, c in out["items"].items():
            print(f"{modality:6s} indexed {c['indexed']:7d}  failed {c['failed']:6d}  pending {c['pending']:6d}")
        print(f"models: image {out['models']['image']}, audio {out['models']['audio']}")
        print(f"alignment: {alignment['method']}" + (f" (version {alignment['version']})" if alignment["version"] else "")
              + ("" if alignment["in_force"] else ", not applied"))
    if "note" in alignment:
        print(f"warning: {alignment['note']}; run `emobrowser align` again", file=sys.stderr)
    return 0


def cmd_failures(args) -> int:
    with open_store(args) as store:
        for path, modality, error in store.failures():
            if args.json:
                print(json_line({"path": path, "modality": modality, "error": error}))
            else:
                print(f"{one_line(path)}\t{error}")
    return 0


# -- score -------------------------------------------------------------------------------


def num(x):
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def cmd_score(args) -> int:
    from emobrowser.index.scoring import score_paths

    failed = 0
    from emobrowser.index.pipeline import DEFAULT_TIMEOUT

    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        print(f"emobrowser: --timeout must be a positive number of seconds, not {args.timeout:g}", file=sys.stderr)
        return 2
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    for result in score_paths(args.paths, args.image_model, args.audio_model, timeout=timeout):
        row = {"path": result.path, "modality": result.modality.value if result.modality else None,
               "model": result.model, "valence": num(result.valence), "arousal": num(result.arousal),
               "error": result.error, "warning": result.warning,
               "segments": [{"start": num(s.start), "end": num(s.end), "valence": num(s.valence),
                             "arousal": num(s.arousal), **({"source": s.source.value}
                                                             if result.modality and result.modality.value == "video"
                                                             else {})}
                            for s in result.segments]}
        if args.json:
            print(json_line(row), flush=True)
        elif result.error:
            print(f"{one_line(result.path)}\terror: {result.error}", flush=True)
        else:
            print(f"{one_line(result.path)}\t{row['modality']}\tvalence {row['valence']:+.3f}\tarousal "
                  f"{row['arousal']:+.3f}\t({result.model})", flush=True)
        failed += result.error is not None
    return 1 if failed else 0


# -- query ------------------------------------------------------------------------------


# -- train, predict-features, align ----------------------------------------------------


# The file each trainer cannot do without, relative to --data: one of the listed places
# (the image ratings sit in the shared data folder's images/, or in --data itself; the
# audio trainer also uses audio4q/labels.csv and its clips when they are there).
TRAINING_FILES = {"image": ["images/ratings.csv", "ratings.csv"], "audio": ["deam/deam_librosa_features.csv"]}


def max_workers() -> int:
    """The most extraction processes ``index --workers`` accepts: 4 per core."""
    return 4 * (os.cpu_count() or 1)


def cmd_train(args) -> int:
    data = Path(args.data)
    places = TRAINING_FILES[args.kind]
    absent = [] if any((data / name).is_file() for name in places) else places
    if absent:
        raise InputError(f"--data {data} is not an {args.kind} training folder: no {' or '.join(absent)}")
    if args.kind == "image":
        from emobrowser.training.train_image import train
    else:
        from emobrowser.training.train_audio import train
    extra = {"cache_dir": Path(args.cache)} if args.cache else {}
    metrics = train(Path(args.data), Path(args.out), seed=args.seed, epochs=args.epochs, folds=args.folds, **extra)
    print(json.dumps(metrics, sort_keys=True))
    return 0


def cmd_predict_features(args) -> int:
    from emobrowser.models.audio_model import predict_feature_table

    rejected = 0
    for row in predict_feature_table(Path(args.csv)):
        if "error" in row:
            rejected += 1
            print(f"emobrowser: {args.csv}, line {row['line']} (song_id {one_line(row['song_id'])}): not scored: "
                  f"{row['error']}", file=sys.stderr)
        elif args.json:
            print(json.dumps(row))
        else:
            print(f"{one_line(row['song_id'])}\tvalence {row['valence']:+.3f}\tarousal {row['arousal']:+.3f}")
    return 1 if rejected else 0


def cmd_align(args) -> int:
    from emobrowser.align.fit import align_library

    result = align_library(existing_db_path(args), method=args.method)
    print(json.dumps(result, sort_keys=True) if args.json else result)
    return 0


def cmd_check(args) -> int:
    from emobrowser.index.repair import check_library, describe, repair_library

    path = existing_db_path(args)
    report = check_library(path)
    if report.ok:
        items = "" if report.items is None else f" ({report.items} items)"
        print(f"library {path}: no damage found{items}" + ("; nothing to repair" if args.repair else ""))
        return 0
    print(f"library {path} is damaged:", file=sys.stderr)
    for line in report.problems:
        print(f"  {one_line(line)}", file=sys.stderr)
    if not args.repair:
        print(f"rebuild it from what can still be read with: emobrowser check --repair --db {path}", file=sys.stderr)
        return 1
    print(describe(repair_library(path)))
    return 0


COMMANDS = {"index": cmd_index, "status": cmd_status, "failures": cmd_failures, "score": cmd_score,
            "query": cmd_query, "train": cmd_train, "predict-features": cmd_predict_features,
            "align": cmd_align, "check": cmd_check, "slideshow": cmd_slideshow}


def run(argv: list[str] | None = None) -> int:
    """Run a command line; returns the exit status."""
    # TensorFlow's C++ start-up chatter is noise for users; real errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not args.self_test:
            # Before anything loads Qt: a missing system library or no display would make
            # Qt abort with a core dump and a misleading message.
            from emobrowser.gui.platform_check import check_platform

            problem = check_platform()
            if problem:
                print(problem, file=sys.stderr)
                return 1
        from emobrowser.app import start

        return start(args)
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"emobrowser: {exc}", file=sys.stderr)
        return 2
    except EmobrowserError as exc:
        print(f"emobrowser: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        resumable = args.command == "index"
        print("emobrowser: stopped" + ("; what was finished is kept, run the command again to resume"
                                       if resumable else ""), file=sys.stderr)
        return 130
    except sqlite3.DatabaseError as exc:
        # raised by the library database after it was opened: damage, a full disk, a
        # read-only file
        from emobrowser.core.errors import database_problem

        where = db_path(args)
        print(f"emobrowser: library {where}: {database_problem(exc, where)}", file=sys.stderr)
        return 1
    except OSError as exc:
        from emobrowser.core.errors import environment_failure

        reason = environment_failure(exc)
        if reason is None:
            raise
        print(f"emobrowser: {reason}", file=sys.stderr)
        return 1

"""Run every benchmark in its --quick mode: a check that each one still runs (CI runs it).

Each ``benchmarks/bench_*.py`` runs in turn as a subprocess of this Python, with
``--quick``, QT_QPA_PLATFORM=offscreen and a temporary EMOBROWSER_HOME. A benchmark
passes if it exits 0 within the timeout and its last line of output is a JSON object
with ``"quick": true`` (a script that does not know ``--quick`` fails to parse it, or
runs at full size and does not say so). The figures are not looked at: quick sizes
are too small to hold against the targets. One line per benchmark, the standard error
of any that failed, then, as the last line, JSON: the number of benchmarks, the names
of those that failed, and each one's wall time in seconds.

Usage: python benchmarks/run_quick.py [--timeout 600] [NAME ...]
Exits 1 if any benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TAIL_LINES = 40


def last_json(stdout: str) -> dict | None:
    """The JSON object on the last non-empty line of ``stdout``, or None."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        value = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def run(script: Path, env: dict, timeout: float) -> tuple[str | None, float, str]:
    """(why it failed or None, wall seconds, the output to show if it failed)."""
    started = time.perf_counter()
    # In a session of its own, so that a timeout also ends the processes it started.
    proc = subprocess.Popen([sys.executable, str(script), "--quick"], env=env, cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        _, stderr = proc.communicate()
        return f"timed out after {timeout:.0f} s", time.perf_counter() - started, stderr
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return f"exit status {proc.returncode}", seconds, stderr
    result = last_json(stdout)
    if result is None:
        return "last line of output is not a JSON object", seconds, stdout + stderr
    if result.get("quick") is not True:
        return 'no "quick": true in its JSON (does it know --quick?)', seconds, stdout
    return None, seconds, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run, e.g. bench_index (default: all)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        wanted = {name.removesuffix(".py") for name in args.names}
        unknown = wanted - {s.stem for s in scripts}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
        scripts = [s for s in scripts if s.stem in wanted]
    if not scripts:
        parser.error(f"no bench_*.py in {HERE}")

    failed: list[str] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="emobrowser-bench-quick-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", EMOBROWSER_HOME=str(Path(tmp) / "home"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        # One numba cache for every benchmark: some set their own EMOBROWSER_HOME, and
        # each would otherwise compile librosa cold (half a minute or more).
        env.setdefault("NUMBA_CACHE_DIR", str(Path(tmp) / "numba"))
        for script in scripts:
            why, took, output = run(script, env, args.timeout)
            seconds[script.stem] = round(took, 1)
            print(f"{script.stem:26s} {'ok' if why is None else 'FAILED: ' + why} ({took:.1f} s)", flush=True)
            if why is not None:
                failed.append(script.stem)
                tail = output.strip().splitlines()[-TAIL_LINES:]
                print("\n".join(f"    | {line}" for line in tail), flush=True)
    print(json.dumps({"benchmarks": len(scripts), "failed": failed, "seconds": seconds,
                      "total_seconds": round(time.perf_counter() - started, 1)}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

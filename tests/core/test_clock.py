"""The waits that stop a task's clock (core.clock): librosa's warm-up and the large-decode lock."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

from emobrowser.core import clock, heavy


def test_paused_reports_once_for_nested_waits_and_nothing_without_a_pool():
    seen: list[str] = []
    with clock.paused():  # no reporter: nothing to tell
        pass
    clock.set_reporter(seen.append)
    try:
        with clock.paused():
            with clock.paused():
                seen.append("waiting")
    finally:
        clock.set_reporter(None)
    assert seen == [clock.PAUSE, "waiting", clock.RESUME]


def test_the_large_decode_lock_is_waited_for_with_the_clock_stopped(tmp_path, monkeypatch):
    seen: list[str] = []
    monkeypatch.setenv(heavy.ENV_VAR, str(tmp_path / "decode.lock"))
    clock.set_reporter(seen.append)
    try:
        with heavy.heavy(heavy.HEAVY_BYTES + 1):
            seen.append("decoding")
        with heavy.heavy(heavy.HEAVY_BYTES - 1):  # a small decode does not wait
            seen.append("small")
    finally:
        clock.set_reporter(None)
    assert seen == [clock.PAUSE, clock.RESUME, "decoding", "small"]


def test_librosas_warm_up_runs_with_the_clock_stopped():
    code = ("from emobrowser.core import clock\n"
            "seen = []\n"
            "clock.set_reporter(seen.append)\n"
            "from emobrowser.features import librosa_loader\n"
            "librosa_loader.load()\n"
            "print(seen)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "['pause', 'resume']"

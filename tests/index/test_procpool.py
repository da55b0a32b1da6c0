"""The worker pool's handling of processes that die: one retry, then the file is blamed."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from emobrowser.index.procpool import ProcessPool


def _crash_until(tries_dir: str, name: str, crashes: int) -> str:
    """Record a try of ``name``; die by SIGSEGV on the first ``crashes`` tries."""
    tries = Path(tries_dir)
    done = len(list(tries.glob(f"{name}.*")))
    (tries / f"{name}.{done}").touch()
    if done < crashes:
        os.kill(os.getpid(), signal.SIGSEGV)
    return name.upper()


def _sleep(seconds: float, paused: bool) -> str:
    """Sleep, with the task's clock stopped (as a worker waiting for another) or running."""
    import time

    from emobrowser.core import clock

    with clock.paused() if paused else contextlib.nullcontext():
        time.sleep(seconds)
    return "slept"


def _run(tmp_path, tasks):
    pool = ProcessPool(_crash_until, workers=2, timeout=60, nice=0)
    return {task_id: (ok, value) for task_id, ok, value in pool.run(iter(tasks))}


def _tries(tmp_path, name):
    return len(list(tmp_path.glob(f"{name}.*")))


def test_a_process_that_dies_once_gets_the_task_again(tmp_path):
    results = _run(tmp_path, [("a", (str(tmp_path), "a", 1)), ("b", (str(tmp_path), "b", 0))])
    assert results == {"a": (True, "A"), "b": (True, "B")}
    assert _tries(tmp_path, "a") == 2
    assert _tries(tmp_path, "b") == 1


def test_a_task_that_kills_every_process_is_blamed_after_its_retry(tmp_path):
    results = _run(tmp_path, [("bad", (str(tmp_path), "bad", 99)), ("ok", (str(tmp_path), "ok", 0))])
    assert results == {"bad": (False, "decoder crashed (signal 11)"), "ok": (True, "OK")}
    assert _tries(tmp_path, "bad") == 2


def test_workers_that_cannot_start_end_the_command_with_a_message(tmp_path, monkeypatch, capsys):
    from emobrowser import cli
    from emobrowser.index import procpool
    from emobrowser.media import synth

    def cannot_start(self):
        raise procpool.WorkerStartError("an indexing worker process failed to start (exit code 1)")

    monkeypatch.setattr(procpool.ProcessPool, "_start", cannot_start)
    synth.write_image(tmp_path / "a.jpg", synth.draw_image("warm", (20, 20)))
    code = cli.run(["index", str(tmp_path), "--db", str(tmp_path / "lib.sqlite3"),
                     "--image-model", "baseline", "--audio-model", "baseline"])
    err = capsys.readouterr().err
    assert code == 1 and "worker process failed to start" in err and "Traceback" not in err


def test_a_wait_for_another_worker_does_not_count_against_the_time_limit():
    """A worker waiting for what is no file's doing (core.clock: the compiled-code cache,
    another worker's large decode) keeps its task; the same time spent working overruns."""
    pool = ProcessPool(_sleep, workers=2, timeout=3.0, nice=0)
    results = {task_id: (ok, value) for task_id, ok, value in
               pool.run(iter([("waits", (6.0, True)), ("works", (6.0, False))]))}
    assert results["waits"] == (True, "slept")
    assert results["works"] == (False, "timed out after 3 s (decoding and scoring took longer)")


def test_a_wait_longer_than_the_pools_limit_blames_the_machine(monkeypatch):
    """A pause over MAX_PAUSE ends the task with a reason that the next run retries."""
    from emobrowser.core.errors import WAITED_TOO_LONG, is_environment_failure
    from emobrowser.index import procpool

    monkeypatch.setattr(procpool, "MAX_PAUSE", 1.0)
    pool = ProcessPool(_sleep, workers=1, timeout=60.0, nice=0)
    ((task_id, ok, reason),) = list(pool.run(iter([("stuck", (60.0, True))])))
    assert (task_id, ok) == ("stuck", False)
    assert reason.startswith(WAITED_TOO_LONG) and is_environment_failure(reason)

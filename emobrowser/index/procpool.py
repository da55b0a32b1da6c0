"""Worker processes for feature extraction, each task under a time limit.

Decoders are C code: one can crash the process or hang inside a C call, where no
Python timeout can reach it. Each worker is therefore a separate process that the
supervisor kills and replaces when its task overruns the limit or the process dies,
recording a specific reason for that file. A task whose process died is tried once
more in a fresh process before the file is blamed; a task that overran its limit is
not (a second try would double the wait). Workers run at lowered CPU priority and
with single-threaded numeric libraries, so N workers use about N cores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from emobrowser.core.errors import EmobrowserError, timed_out

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the indexing process dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn: Connection, func: Callable, nice: int) -> None:
    _die_with_parent()
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    from emobrowser.core.errors import EmobrowserError, environment_failure

    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        task_id, args = task[0], task[1]
        try:
            result = (task_id, True, func(*args))
        except EmobrowserError as exc:
            result = (task_id, False, str(exc))
        except MemoryError:
            result = (task_id, False, "out of memory while decoding")
        except OSError as exc:  # a full disk (the compiled-code cache) is no fault of the file
            result = (task_id, False, environment_failure(exc) or f"unexpected {type(exc).__name__}: {exc}")
        except Exception as exc:  # a decoder bug must cost one file, not the run
            result = (task_id, False, f"unexpected {type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


class WorkerStartError(EmobrowserError, RuntimeError):
    """Worker processes cannot be started at all (the command says so, without a traceback)."""


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: Any = None
    started: float = 0.0


class ProcessPool:
    """Run ``func(*args)`` for each task in ``workers`` supervised processes.

    A task is (task_id, args) or (task_id, args, time limit in seconds).
    Results come back from ``run`` as (task_id, ok, value): value is the function's
    return value, or a failure reason when ok is False.
    """

    def __init__(self, func: Callable, workers: int = 2, timeout: float = 300.0, nice: int = 10):
        self.func = func
        self.workers = max(1, int(workers))
        self.timeout = timeout
        self.nice = nice
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        for k in _THREAD_VARS:
            os.environ[k] = "1"
        try:
            proc = self._ctx.Process(target=_worker_main, args=(child, self.func, self.nice), daemon=True)
            proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        # A worker that cannot even start is the installation's fault, not a file's:
        # stop the run instead of blaming every file in turn.
        if not parent.poll(120.0):
            proc.kill()
            raise WorkerStartError("an indexing worker process did not start within 120 s")
        try:
            hello = parent.recv()
        except (EOFError, OSError):
            hello = None
        if hello != "ready":
            proc.join(5)
            raise WorkerStartError(f"an indexing worker process failed to start (exit code {proc.exitcode})")
        return _Worker(proc, parent)

    def _kill(self, worker: _Worker) -> None:
        try:
            worker.process.kill()
            worker.process.join(5)
        except (OSError, ValueError):
            pass
        worker.conn.close()

    def run(self, tasks: Iterator[tuple[Any, tuple]], cancelled: Callable[[], bool] = lambda: False,
            poll: float = 0.2) -> Iterator[tuple[Any, bool, Any]]:
        """Yield (task_id, ok, value) as tasks finish, in completion order."""
        queue = deque()
        retried = set()
        tasks = iter(tasks)
        exhausted = False
        try:
            while True:
                if cancelled():
                    return
                while not exhausted and len(queue) < self.workers * 2:
                    try:
                        queue.append(next(tasks))
                    except StopIteration:
                        exhausted = True
                for worker in self._pool:
                    if worker.task is None and queue:
                        worker.task = queue.popleft()
                        worker.started = time.monotonic()
                        try:
                            worker.conn.send(worker.task)
                        except (BrokenPipeError, OSError):
                            worker.started = 0.0  # handled as a dead worker below
                while len(self._pool) < self.workers and (queue or not exhausted):
                    self._pool.append(self._start())
                    if queue:
                        w = self._pool[-1]
                        w.task, w.started = queue.popleft(), time.monotonic()
                        w.conn.send(w.task)
                busy = [w for w in self._pool if w.task is not None]
                if not busy:
                    if exhausted and not queue:
                        return
                    continue
                handles = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = set(wait(handles, timeout=poll))
                now = time.monotonic()
                for worker in busy:
                    task_id = worker.task[0]
                    if worker.conn in ready:
                        try:
                            result = worker.conn.recv()
                        except (EOFError, OSError):
                            result = None
                        if result is not None:
                            worker.task = None
                            yield result
                            continue
                    if worker.process.sentinel in ready or not worker.process.is_alive():
                        worker.process.join(1.0)
                        code = worker.process.exitcode
                        task = worker.task
                        self._replace(worker)
                        if task_id not in retried:
                            # Once more in a fresh process: a crash can come from the
                            # process's state rather than the file. Only a second crash
                            # is the file's.
                            retried.add(task_id)
                            queue.appendleft(task)
                            continue
                        reason = (f"decoder crashed (signal {-code})" if code is not None and code < 0
                                  else f"decoder process exited unexpectedly (code {code})")
                        yield (task_id, False, reason)
                    elif now - worker.started > self._limit(worker.task):
                        limit = self._limit(worker.task)
                        self._replace(worker)
                        yield (task_id, False, timed_out(limit))
        finally:
            self.close()

    def _limit(self, task) -> float:
        """The time limit of a task: its own third element if given, else the pool's."""
        return task[2] if len(task) > 2 and task[2] else self.timeout

    def _replace(self, worker: _Worker) -> None:
        self._kill(worker)
        self._pool.remove(worker)

    def close(self) -> None:
        for worker in self._pool:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        deadline = time.monotonic() + 2.0
        for worker in self._pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                self._kill(worker)
            else:
                worker.conn.close()
        self._pool.clear()

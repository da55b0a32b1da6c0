"""Worker processes for feature extraction, each task under a time limit.

Decoders are C code: one can crash the process or hang inside a C call, where no
Python timeout can reach it. Each worker is therefore a separate process that the
supervisor kills and replaces when its task overruns the limit or the process dies,
recording a specific reason for that file. A task whose process died is tried once
more in a fresh process before the file is blamed; a task that overran its limit is
not (a second try would double the wait). Workers run at lowered CPU priority and
with single-threaded numeric libraries, so N workers use about N cores.

Each task also runs under a memory limit (RLIMIT_DATA: the heap and private
mappings, which is what decoders allocate; the address space that LiteRT and numba
reserve without using is not counted). An allocation over it fails inside the worker,
which records "ran out of memory decoding (…)", so the kernel never has to pick a
process to kill; a worker that is killed all the same (SIGKILL: the system ran out of
memory) gets the same reason, with the memory it was last seen using. Large decodes
take turns among the workers (core.heavy), so together they stay near one decode's
peak.

A task's clock stops while its worker waits for what is no file's doing (core.clock:
the compiled-code cache a fresh install builds, another worker's large decode); a
pause longer than MAX_PAUSE ends the task with a reason that blames the machine, and
the file is tried again on the next run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from emobrowser.core.clock import PAUSE, RESUME
from emobrowser.core.errors import WAITED_TOO_LONG, EmobrowserError, out_of_memory, timed_out
from emobrowser.core.heavy import ENV_VAR as HEAVY_ENV_VAR

# Memory limits of one task, in bytes. An image decode needs at most about 1.5 GB (see
# media.images.DECODE_BUDGET: 1.1 GB, plus the worker's own 0.35 GB with the models
# loaded); sound and video, whose features grow with the length, get more.
IMAGE_MEMORY_LIMIT = 2_000_000_000
MEDIA_MEMORY_LIMIT = 4_000_000_000

# How long a task's clock may stay stopped (core.clock) before the pool gives up on it.
MAX_PAUSE = 1800.0
# The message a worker sends to stop or restart its task's clock: (CLOCK, PAUSE or RESUME).
CLOCK = "clock"

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


_lock_dir: str | None = None


def decode_lock_path() -> str:
    """The lock file through which this process's workers take turns at large decodes
    (core.heavy); in a private folder of this process, removed at exit."""
    global _lock_dir
    if _lock_dir is None:
        import atexit
        import shutil
        import tempfile

        _lock_dir = tempfile.mkdtemp(prefix="emobrowser-")
        atexit.register(shutil.rmtree, _lock_dir, True)
    return os.path.join(_lock_dir, "decode.lock")


def _set_memory_limit(limit: int | None) -> None:
    """Lower (or raise again, up to the hard limit) this process's RLIMIT_DATA."""
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = resource.RLIM_INFINITY if not limit else limit
        if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
            want = hard
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (ImportError, ValueError, OSError):  # no such limit on this system
        pass


def memory_in_use(pid: int) -> int | None:
    """Resident memory of a process in bytes (Linux), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


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
    from emobrowser.core import clock
    from emobrowser.core.errors import EmobrowserError, environment_failure

    def report(state: str) -> None:
        try:
            conn.send((CLOCK, state))
        except (BrokenPipeError, OSError):  # the pool is gone; the next recv ends the worker
            pass

    clock.set_reporter(report)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        task_id, args = task[0], task[1]
        limit = task[3] if len(task) > 3 else None
        _set_memory_limit(limit)
        try:
            result = (task_id, True, func(*args))
        except EmobrowserError as exc:  # a damaged model file of the app's is no fault of the file either
            result = (task_id, False, environment_failure(exc) or str(exc))
        except MemoryError:
            result = (task_id, False, out_of_memory(limit))
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
    memory: int = 0  # the most resident memory seen during the current task, bytes
    paused_at: float | None = None  # when the task's clock was stopped (core.clock)


class ProcessPool:
    """Run ``func(*args)`` for each task in ``workers`` supervised processes.

    A task is (task_id, args), (task_id, args, time limit in seconds) or
    (task_id, args, time limit, memory limit in bytes); a missing or None time limit
    is the pool's ``timeout``, a missing memory limit the pool's ``memory_limit``
    (None: no limit). Results come back from ``run`` as (task_id, ok, value): value is the function's
    return value, or a failure reason when ok is False.
    """

    def __init__(self, func: Callable, workers: int = 2, timeout: float = 300.0, nice: int = 10,
                 memory_limit: int | None = None):
        self.func = func
        self.memory_limit = memory_limit
        self.workers = max(1, int(workers))
        self.timeout = timeout
        self.nice = nice
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        saved = {k: os.environ.get(k) for k in (*_THREAD_VARS, HEAVY_ENV_VAR)}
        for k in _THREAD_VARS:
            os.environ[k] = "1"
        os.environ[HEAVY_ENV_VAR] = decode_lock_path()
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

    def call(self, args: tuple, limit: float | None = None, memory: int | None = None) -> tuple[bool, Any]:
        """Run one task and return (ok, value), keeping the worker for the next call
        (for callers that need one file at a time: the GUI's thumbnails). Callers from
        several threads take turns."""
        with self._lock:
            for _task_id, ok, value in self.run(iter([(0, args, limit, memory)]), keep=True):
                return ok, value
        return False, "cancelled"

    def run(self, tasks: Iterator[tuple[Any, tuple]], cancelled: Callable[[], bool] = lambda: False,
            poll: float = 0.2, keep: bool = False) -> Iterator[tuple[Any, bool, Any]]:
        """Yield (task_id, ok, value) as tasks finish, in completion order. The workers
        are stopped at the end unless ``keep``."""
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
                        queue.append(self._complete(next(tasks)))
                    except StopIteration:
                        exhausted = True
                for worker in self._pool:
                    if worker.task is None and queue:
                        worker.task = queue.popleft()
                        worker.started, worker.memory, worker.paused_at = time.monotonic(), 0, None
                        try:
                            worker.conn.send(worker.task)
                        except (BrokenPipeError, OSError):
                            worker.started = 0.0  # handled as a dead worker below
                while len(self._pool) < self.workers and (queue or not exhausted):
                    self._pool.append(self._start())
                    if queue:
                        w = self._pool[-1]
                        w.task, w.started, w.memory, w.paused_at = queue.popleft(), time.monotonic(), 0, None
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
                    worker.memory = max(worker.memory, memory_in_use(worker.process.pid) or 0)
                    task_id = worker.task[0]
                    if worker.conn in ready:
                        try:
                            result = worker.conn.recv()
                        except (EOFError, OSError):
                            result = None
                        if isinstance(result, tuple) and len(result) == 2 and result[0] == CLOCK:
                            self._on_clock(worker, result[1], now)
                            continue
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
                        yield (task_id, False, self._death_reason(code, task, worker.memory))
                    elif worker.paused_at is not None:
                        if now - worker.paused_at > MAX_PAUSE:
                            self._replace(worker)
                            yield (task_id, False, f"{WAITED_TOO_LONG} ({MAX_PAUSE:g} s)")
                    elif now - worker.started > self._limit(worker.task):
                        limit = self._limit(worker.task)
                        self._replace(worker)
                        yield (task_id, False, timed_out(limit))
        finally:
            if not keep:
                self.close()

    @staticmethod
    def _on_clock(worker: _Worker, state: str, now: float) -> None:
        """Stop or restart the clock of the worker's task: a pause moves its start later
        by the pause's length."""
        if state == PAUSE and worker.paused_at is None:
            worker.paused_at = now
        elif state == RESUME and worker.paused_at is not None:
            worker.started += now - worker.paused_at
            worker.paused_at = None

    def _complete(self, task) -> tuple:
        """(task_id, args, time limit, memory limit), the pool's limits filling in."""
        limit = task[2] if len(task) > 2 and task[2] else self.timeout
        memory = task[3] if len(task) > 3 else self.memory_limit
        return task[0], task[1], limit, memory

    def _limit(self, task) -> float:
        """The time limit of a task, in seconds."""
        return task[2]

    @staticmethod
    def _death_reason(code: int | None, task: tuple, seen: int) -> str:
        """Why a worker died during ``task``: out of memory when it was killed (SIGKILL,
        which this pool sends only to workers it has given up on: otherwise it is the
        system's out-of-memory killer) or when it died by a signal close to its memory
        limit (a C library that aborts when an allocation fails); otherwise a crash."""
        limit = task[3]
        if code == -signal.SIGKILL or (code is not None and code < 0 and limit and seen >= 0.8 * limit):
            return out_of_memory(killed=True, seen_bytes=seen) if code == -signal.SIGKILL else out_of_memory(limit)
        if code is not None and code < 0:
            return f"decoder crashed (signal {-code})"
        return f"decoder process exited unexpectedly (code {code})"

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

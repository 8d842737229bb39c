"""Run tasks in local processes (``local``, ``local:N``), or in this process (``local:1``).

Worker processes start with the ``forkserver`` method where the platform has it, else
``spawn``; never ``fork``. The coordinator forking itself would copy its threads' locks
mid-flight (the tracking buffer's flusher, SQLite connections, a Dask client's event loop,
BLAS thread pools), which can deadlock a child; Python 3.12 warns about it and 3.14 stops
using fork by default. ``spawn`` is safe but boots a fresh interpreter for every worker;
``forkserver`` boots one clean, single-threaded server once and forks each worker from it,
so workers start as cheaply as with fork and as safely as with spawn. Either way a worker
imports the task's module by name, so the task must be a top-level function, and a script
that opens an executor needs the ``if __name__ == "__main__":`` guard. The forkserver keeps
``sys.path`` as it was when the first pool of this process started.

Each worker limits the BLAS and OpenMP thread pools to its share of the CPUs (unless the
environment already sets them), as Dask's nanny does, so N trials in parallel do not each
start one thread per core. A worker that dies (a segfault, the OOM killer) fails every
task then in flight with :class:`~concurrent.futures.process.BrokenProcessPool`; the next
``submit`` replaces the pool, so the work goes on.

``local:1`` runs each task synchronously inside ``submit``, in this process: tracebacks
and debuggers work as usual, and tests need no processes. Its futures are already done
when ``submit`` returns.
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from typing import Any, Self, TypeVar

from gapless.compute.executor import as_completed, available_cpus, check_task, map_in_order
from gapless.core.errors import ConfigError

T = TypeVar("T")

THREAD_LIMIT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def start_method() -> str:
    """The multiprocessing start method local workers use (see the module docstring)."""
    available = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in available else "spawn"


def _limit_threads(threads: int) -> None:
    """Worker initializer: cap native thread pools before numpy or a model library loads."""
    for variable in THREAD_LIMIT_VARIABLES:
        os.environ.setdefault(variable, str(threads))


class LocalExecutor:
    """A pool of ``workers`` local processes (default: one per available CPU); with one
    worker, tasks run in this process instead."""

    def __init__(self, workers: int | None = None) -> None:
        count = available_cpus() if workers is None else workers
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(
                f"local executor: workers must be a whole number >= 1, got {workers!r}"
            )
        self._workers = count
        self._closed = False
        self._futures: weakref.WeakSet[Future[Any]] = weakref.WeakSet()
        self._pool: ProcessPoolExecutor | None = self._new_pool() if count > 1 else None

    @property
    def name(self) -> str:
        return f"local:{self._workers}"

    @property
    def workers(self) -> int:
        return self._workers

    def _new_pool(self) -> ProcessPoolExecutor:
        threads = max(1, available_cpus() // self._workers)
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context(start_method()),
            initializer=_limit_threads,
            initargs=(threads,),
        )

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError(f"executor {self.name} is closed; open a new one to run tasks")
        check_task(fn)
        if self._pool is None:
            return _run_here(fn, args, kwargs)
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            # A worker died; the tasks then in flight have failed, later ones need a pool.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            future = self._pool.submit(fn, *args, **kwargs)
        self._futures.add(future)
        return future

    def map(self, fn: Callable[[Any], T], iterable: Iterable[Any]) -> list[T]:
        return map_in_order(self, fn, iterable)

    def as_completed(
        self, futures: Iterable[Future[T]], timeout: float | None = None
    ) -> Iterator[Future[T]]:
        return as_completed(futures, timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is None:
            return
        self._pool.shutdown(wait=True, cancel_futures=True)
        # The pool cancels queued futures without notifying their waiters, so wait() and
        # as_completed() would never see them done; its manager thread has ended, so
        # nothing else touches them now.
        for future in list(self._futures):
            if future.cancelled():
                with suppress(RuntimeError):  # already notified
                    future.set_running_or_notify_cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LocalExecutor {self.name} ({state})>"


def _run_here(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[T]:
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()
    try:
        result = fn(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - as a worker process would, even SystemExit
        future.set_exception(exc)
    else:
        future.set_result(result)
    return future

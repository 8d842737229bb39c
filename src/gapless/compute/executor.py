"""The Executor protocol, and the few helpers every implementation shares.

An executor runs independent tasks (training trials now; batch scoring and pipeline steps
later) and hands back :class:`concurrent.futures.Future` objects, whatever runs them, so
callers wait on them with ``future.result()``, :meth:`Executor.as_completed` or the
standard library's :func:`concurrent.futures.wait` alike.

Tasks must be picklable *top-level* functions (defined at module level, not lambdas or
nested functions) whose arguments and results pickle too: they cross a process boundary,
and a worker imports the function's module by name. :func:`check_task` refuses anything
else when it is submitted, on every executor, so a task that works in-process (``local:1``)
works on processes and on Dask too.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from types import FunctionType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from gapless.core.errors import ValidationError

T = TypeVar("T")


@runtime_checkable
class Executor(Protocol):
    """Where parallel work runs. Every method but ``submit`` has one obvious meaning:

    - ``submit`` starts ``fn(*args, **kwargs)`` and returns its future; if the task raises,
      ``future.result()`` re-raises the original exception type and message, and the
      other tasks carry on.
    - ``map`` runs ``fn`` on every item and returns the results in input order (the first
      failure is raised and the tasks not yet started are cancelled).
    - ``as_completed`` yields the given futures as they finish.
    - ``close`` cancels the tasks not yet finished (local processes first let a task that
      is already running end), releases the workers it owns, and leaves every future
      done; calling it again does nothing. Executors are also context managers.
    """

    @property
    def name(self) -> str:
        """The compute URI that reopens this executor, e.g. ``local:4``, ``dask-local:2``,
        ``dask://10.0.0.5:8786``."""
        ...

    @property
    def workers(self) -> int:
        """How many tasks can run at once (keep this many in flight to use them all)."""
        ...

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...

    def map(self, fn: Callable[[Any], T], iterable: Iterable[Any]) -> list[T]: ...

    def as_completed(
        self, futures: Iterable[Future[T]], timeout: float | None = None
    ) -> Iterator[Future[T]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


def check_task(fn: Callable[..., Any]) -> None:
    """Refuse a task a worker process could not import by name (a lambda, a nested
    function); pickles only the function's reference, never its arguments."""
    target = fn.func if isinstance(fn, partial) else fn
    if not isinstance(target, FunctionType):
        return  # builtins, classes and callable instances pickle (or fail) on their own
    try:
        pickle.dumps(target)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ValidationError(
            f"task {target.__qualname__!r} from {target.__module__!r} cannot be sent to a "
            f"worker process ({exc}); define it with `def` at the top level of a module "
            "(not a lambda or a nested function)"
        ) from exc


def map_in_order(executor: Executor, fn: Callable[[Any], T], iterable: Iterable[Any]) -> list[T]:
    """``executor.map``: submit everything first, then collect results in input order."""
    futures = [executor.submit(fn, item) for item in iterable]
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def as_completed(
    futures: Iterable[Future[T]], timeout: float | None = None
) -> Iterator[Future[T]]:
    """``executor.as_completed``; raises :class:`TimeoutError` if ``timeout`` seconds
    pass before every future is done."""
    return concurrent.futures.as_completed(futures, timeout)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1

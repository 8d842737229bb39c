"""Run tasks on Dask: a cluster this executor starts (``dask-local``, ``dask-local:N``) or
an existing scheduler (``dask://HOST:PORT``).

``dask-local`` starts a :class:`distributed.LocalCluster` of N single-threaded worker
processes, all listening on 127.0.0.1 only, without a dashboard, and shuts it down on
:meth:`DaskExecutor.close`. ``dask://HOST:PORT`` only connects a client: it never starts
a scheduler, and closing it leaves the cluster running.

Futures are Distributed's own :class:`concurrent.futures.Future` adapter
(``Client.get_executor``): the client's event loop moves each outcome into a standard
future, so callers see the same type as from local processes, ``concurrent.futures``
helpers work on both, and cancelling the standard future cancels the Dask task. Tasks are
submitted with ``pure=False``, so two identical calls run twice as they would locally
rather than share one result. Keyword arguments go to the task through
:func:`functools.partial`, never to ``Client.submit``, so a task parameter called
``workers`` or ``key`` means what it does locally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any, Self, TypeVar

from gapless.compute.executor import as_completed, available_cpus, check_task, map_in_order
from gapless.core.errors import ConfigError, StoreUnavailableError

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds to wait for a remote scheduler


class DaskExecutor:
    """Tasks on a Dask cluster. With no ``address``, start a local cluster of ``workers``
    single-threaded processes (default: one per available CPU) and own it; with an
    ``address`` (``tcp://HOST:PORT``), connect to that scheduler, whose workers decide
    how many tasks run at once."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(
                f"the Dask executor needs {exc.name or 'distributed'}, which is not installed; "
                "pip install 'gapless[dask]', or use compute_uri `local`"
            ) from exc
        self._closed = False
        self._cluster: LocalCluster | None = None
        self._client: Client
        if address is None:
            self._workers: int | None = _worker_count(workers)
            self._start_local(LocalCluster, Client, self._workers)
        else:
            if workers is not None:
                raise ConfigError(
                    f"the Dask cluster at {address} decides how many workers it has; "
                    f"drop workers={workers!r}, or use dask-local:{workers} for a local cluster"
                )
            self._workers = None
            self._connect(Client, address, connect_timeout)
        self.address: str = self._client.scheduler.address
        self._pool = self._client.get_executor(pure=False)

    def _start_local(self, cluster_cls: type[LocalCluster], client_cls: type[Client],
                     workers: int) -> None:
        try:
            self._cluster = cluster_cls(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
                # No dashboard; the scheduler's health routes on a free loopback port,
                # not on 8787 where a user's own dashboard may be.
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            )
            self._client = client_cls(self._cluster, set_as_default=False)
        except Exception as exc:  # Distributed raises RuntimeError, OSError, TimeoutError
            if self._cluster is not None:
                self._cluster.close()
            raise StoreUnavailableError(
                f"cannot start a local Dask cluster of {workers} worker processes: {exc}; "
                "check memory and open-file limits, or use compute_uri `local`"
            ) from exc

    def _connect(self, client_cls: type[Client], address: str, timeout: float) -> None:
        try:
            self._client = client_cls(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"cannot reach the Dask scheduler at {_uri(address)} within {timeout:g} s "
                f"({exc}); start one (`dask scheduler --port PORT`) and check the host and "
                "port, or use compute_uri `dask-local` or `local`"
            ) from exc

    @property
    def name(self) -> str:
        if self._cluster is not None:
            return f"dask-local:{self._workers}"
        return _uri(self.address)

    @property
    def workers(self) -> int:
        if self._workers is not None:
            return self._workers
        try:
            threads = self._client.nthreads()
        except OSError as exc:
            raise StoreUnavailableError(
                f"lost the Dask scheduler at {self.name} ({exc}); check that it still runs"
            ) from exc
        return max(1, sum(threads.values()))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError(f"executor {self.name} is closed; open a new one to run tasks")
        check_task(fn)
        return self._pool.submit(partial(fn, **kwargs) if kwargs else fn, *args)

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
        try:
            self._pool.shutdown(wait=False)  # cancels what has not finished
        finally:
            try:
                self._client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<DaskExecutor {self.name} ({state})>"


def _worker_count(workers: int | None) -> int:
    count = available_cpus() if workers is None else workers
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"dask-local: workers must be a whole number >= 1, got {workers!r}")
    return count


def _uri(address: str) -> str:
    """``tcp://HOST:PORT`` -> ``dask://HOST:PORT``, the compute URI that reopens it."""
    return "dask://" + address.removeprefix("tcp://")

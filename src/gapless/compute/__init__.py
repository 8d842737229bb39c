"""Where parallel work runs: training trials, and later batch scoring and pipeline steps.

:func:`open_executor` picks an :class:`Executor` from the ``compute_uri`` setting, once,
at the edge, through :data:`EXECUTORS` (scheme -> lazily imported class), so importing
this package never imports Dask::

    local             a process per available CPU (the default)
    local:N           N local processes; local:1 runs tasks in this process
    dask-local        a Dask LocalCluster on 127.0.0.1, a worker process per CPU
    dask-local:N      ... with N worker processes
    dask://HOST:PORT  an existing Dask scheduler

Every executor returns standard :class:`concurrent.futures.Future` objects, and a task
that raises re-raises its own exception from ``future.result()`` without stopping the
others. Tasks must be picklable top-level functions (see :mod:`gapless.compute.executor`).
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from gapless.compute.executor import Executor
from gapless.core.errors import ConfigError

# compute_uri scheme -> "module:Class", imported only when a workspace uses it.
EXECUTORS: dict[str, str] = {
    "dask": "gapless.compute.dask:DaskExecutor",
    "dask-local": "gapless.compute.dask:DaskExecutor",
    "local": "gapless.compute.local:LocalExecutor",
}

URI_FORMS = "local, local:N, dask-local, dask-local:N or dask://HOST:PORT"


def open_executor(
    uri: str | None = None,
    *,
    workers: int | None = None,
    connect_timeout: float | None = None,
) -> Executor:
    """Open the executor ``uri`` names (None means ``local``); close it when done.

    ``workers`` sets how many local processes (``local``, ``dask-local``) run tasks, as
    ``:N`` in the URI does. ``connect_timeout`` is how many seconds ``dask://`` waits for
    its scheduler (default 10). Raises :class:`~gapless.core.errors.ConfigError` for a URI
    that cannot be used as written or whose library is not installed, and
    :class:`~gapless.core.errors.StoreUnavailableError` when a scheduler cannot be reached.
    """
    uri = "local" if uri is None else uri
    scheme, options = _parse(uri, workers)
    if scheme == "dask" and connect_timeout is not None:
        options["connect_timeout"] = connect_timeout
    module_name, class_name = EXECUTORS[scheme].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    executor: Executor = cls(**options)
    return executor


def _parse(uri: str, workers: int | None) -> tuple[str, dict[str, Any]]:
    """``uri`` -> (scheme, constructor keywords); checks everything that needs no network."""
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError(f"compute_uri must be one of {URI_FORMS}; got {uri!r}")
    text = uri.strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
    else:
        scheme, _, rest = text.partition(":")
    scheme = scheme.lower()
    if scheme not in EXECUTORS:
        raise ConfigError(
            f"unknown compute_uri scheme {scheme!r} in {uri!r}; known schemes: "
            f"{', '.join(sorted(EXECUTORS))} (written as {URI_FORMS})"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    if scheme == "dask":
        address = _scheduler_address(uri, text)
        if workers is not None:
            raise ConfigError(
                f"compute_uri {uri!r}: the cluster decides how many workers it has; drop "
                f"workers={workers}, or use dask-local:{workers} for a local cluster"
            )
        return scheme, {"address": address}
    return scheme, {"workers": _worker_count(uri, rest, workers)}


def _worker_count(uri: str, rest: str, workers: int | None) -> int | None:
    if not rest:
        return workers
    if not rest.isdigit() or int(rest) < 1:
        raise ConfigError(
            f"compute_uri {uri!r}: expected a number of workers >= 1 after the colon, "
            f"got {rest!r}; write it like local:4 or dask-local:4"
        )
    if workers is not None and workers != int(rest):
        raise ConfigError(
            f"compute_uri {uri!r} asks for {rest} workers but workers={workers} was also "
            "given; give the number once"
        )
    return int(rest)


def _scheduler_address(uri: str, text: str) -> str:
    """``dask://HOST:PORT`` -> ``tcp://HOST:PORT``."""
    hint = "write it as dask://HOST:PORT, e.g. dask://10.0.0.5:8786"
    if not text.lower().startswith("dask://"):
        raise ConfigError(f"compute_uri {uri!r} names no scheduler; {hint}")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (not parts.hostname or parts.username is not None or parts.path not in ("", "/")
            or parts.query or parts.fragment):
        raise ConfigError(f"compute_uri {uri!r}: expected a scheduler host and port; {hint}")
    if port is None or not 0 < port < 65536:
        raise ConfigError(
            f"compute_uri {uri!r}: the scheduler port must be a number from 1 to 65535; {hint}"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"tcp://{host}:{port}"


__all__ = ["EXECUTORS", "Executor", "open_executor"]

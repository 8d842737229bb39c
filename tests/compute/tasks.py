"""Top-level tasks the executor tests send to workers.

Workers import this module by name (``compute.tasks``), so it stays light: no pytest, no
fixtures, nothing heavy at import.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path


class TaskFailed(RuntimeError):
    """Raised on purpose by :func:`fail`; a class of our own, so a test can tell it came
    back as itself and not as some wrapper."""


def square(x: int) -> int:
    return x * x


def combine(x: int, *, y: int = 0, workers: int = 0, key: str = "") -> tuple:
    """Keyword names that Dask's ``Client.submit`` would otherwise take for itself."""
    return x, y, workers, key


def fail(message: str) -> None:
    raise TaskFailed(message)


def pid() -> int:
    return os.getpid()


def token() -> str:
    return uuid.uuid4().hex


def environment(name: str) -> str | None:
    return os.environ.get(name)


def rendezvous(folder: str, me: str, parties: int, timeout: float = 30.0) -> int:
    """Arrive in ``folder`` and wait until ``parties`` tasks have arrived; returns this
    worker's PID. It can only return if that many tasks ran at the same time."""
    Path(folder, f"arrived-{me}").touch()
    deadline = time.monotonic() + timeout
    while len(list(Path(folder).glob("arrived-*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{me}: fewer than {parties} tasks ran at once in {timeout} s")
        time.sleep(0.01)
    return os.getpid()


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def crash() -> None:
    """Kill the worker process outright, as a segfault or the OOM killer would."""
    os._exit(3)


def exit_now() -> None:
    sys.exit(4)

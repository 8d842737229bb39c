"""Batched tracking writes: callers append in memory, a background thread writes batches.

A batch is written at least every ``interval`` seconds, sooner when ``max_items``
accumulate, and on :meth:`WriteBuffer.close` (run end, exception or interpreter
exit). A failed write puts the batch back, so nothing is lost; the error is raised
to the caller at the next :meth:`flush` or :meth:`close`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gapless.core.errors import GaplessError
from gapless.core.records import MetricPoint


@dataclass
class Batch:
    params: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.params) + len(self.metrics) + len(self.tags)

    def then(self, later: Batch) -> Batch:
        """This batch followed by ``later`` (later tag values win)."""
        return Batch(self.params + later.params, self.metrics + later.metrics,
                     {**self.tags, **later.tags})


class WriteBuffer:
    """Buffers one run's writes and hands them to ``write`` in batches."""

    def __init__(
        self,
        write: Callable[[Batch], None],
        *,
        interval: float = 1.0,
        max_items: int = 5000,
    ) -> None:
        self._write = write
        self._interval = interval
        self._max_items = max_items
        self._pending = Batch()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.background_error: GaplessError | None = None
        self._thread = threading.Thread(target=self._loop, name="gapless-flush", daemon=True)
        self._thread.start()

    def add(
        self,
        *,
        params: Iterable[tuple[str, str]] = (),
        metrics: Iterable[MetricPoint] = (),
        tags: dict[str, str] | None = None,
    ) -> None:
        if self._closed:
            raise GaplessError("this run has ended; start a new run to log more")
        with self._lock:
            self._pending.params.extend(params)
            self._pending.metrics.extend(metrics)
            if tags:
                self._pending.tags.update(tags)
            size = len(self._pending)
        if size >= 10 * self._max_items:
            self.flush()  # the writer is falling behind: apply back-pressure
        elif size >= self._max_items:
            self._wake.set()

    def flush(self, write: Callable[[Batch], None] | None = None) -> None:
        """Write everything buffered so far, in the caller's thread (with ``write`` if given)."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, Batch()
            if not batch and write is None:
                return
            try:
                (write or self._write)(batch)
            except BaseException:
                with self._lock:
                    self._pending = batch.then(self._pending)
                raise

    def close(self, final: Callable[[Batch], None] | None = None) -> None:
        """Stop the background writer and write what is left; idempotent.

        ``final``, if given, writes the last batch instead of the usual writer (even an
        empty one), so a caller can put its closing record in the same transaction.
        """
        if not self._closed:
            self._closed = True
            self._wake.set()
            self._thread.join()
        self.flush(final)

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
                self.background_error = None
            except GaplessError as exc:  # kept and retried; close() raises it if it persists
                self.background_error = exc

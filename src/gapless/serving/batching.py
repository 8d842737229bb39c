"""Micro-batching: concurrent requests to one model answered by one ``predict`` call.

Most of a single-row scikit-learn ``predict`` is fixed cost (every pipeline step checks
its input), so eight rows cost barely more than one. Each loaded model gets one
:class:`MicroBatcher` thread; a request hands it its frame and awaits the result, and
the thread predicts everything that arrived while the previous call ran, up to
``max_rows`` rows, in one call. Nothing waits on a timer: a lone request is predicted
at once (the cost is one thread hand-off), and batches only form under load, which
is when they pay. While the thread predicts, the event loop keeps parsing the next
requests, so the two overlap.

Rows are independent in every model gapless serves (row-wise transforms, then the
estimator), so a row's prediction does not depend on its batch; only floating-point
summation order can change the last bit of a probability. When a batch fails (one
request's rows break the model), each request in it is retried alone, so only the
request at fault gets the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 512


@dataclass
class _Pending:
    frame: Any
    probabilities: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class MicroBatcher:
    """One thread that predicts for one model, coalescing what is waiting."""

    def __init__(self, predict: Any, *, max_rows: int = MAX_ROWS, name: str = "model",
                 linger: float = 0.0) -> None:
        self._predict = predict  # (frame, probabilities=bool) -> (predictions, probabilities)
        self.max_rows = max_rows
        # Seconds to wait for more rows after the first arrives (0: predict at once). For
        # work nobody waits on, such as shadows, fewer and larger calls cost less CPU.
        self.linger = linger
        self._rows_waiting = 0
        self._waiting: deque[_Pending] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.batches = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name=f"gapless-batch-{name}",
                                        daemon=True)
        self._thread.start()

    async def predict(self, frame: Any, *, probabilities: bool) -> tuple[Any, Any, float]:
        """``(predictions, probabilities, milliseconds of the predict call)`` for ``frame``."""
        loop = asyncio.get_running_loop()
        pending = _Pending(frame, probabilities, loop, loop.create_future())
        with self._ready:
            if self._closed:
                raise RuntimeError("this model was unloaded; retry the request")
            self._waiting.append(pending)
            self._rows_waiting += len(frame)
            # Wake the thread only when it may be idle or a batch is full: waking it for
            # every request it will find anyway costs the event loop an interpreter-lock
            # hand-off each time.
            if len(self._waiting) == 1 or self._rows_waiting >= self.max_rows:
                self._ready.notify()
        return await pending.future

    def close(self) -> None:
        """Stop after answering what is waiting."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=10)

    def _take(self) -> list[_Pending]:
        with self._ready:
            while not self._waiting and not self._closed:
                self._ready.wait()
            if self.linger > 0:
                deadline = time.monotonic() + self.linger
                while not self._closed and self._rows_waiting < self.max_rows:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
            batch: list[_Pending] = []
            rows = 0
            while self._waiting and (not batch or rows + len(self._waiting[0].frame)
                                     <= self.max_rows):
                item = self._waiting.popleft()
                batch.append(item)
                rows += len(item.frame)
                self._rows_waiting -= len(item.frame)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return  # closed and drained
            self.batches += 1
            self.requests += len(batch)
            try:
                self._answer(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiter must be answered
                for item in batch:
                    _settle(item, error=exc)

    def _answer(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            self._answer_alone(batch[0])
            return
        import pandas as pd

        frame = pd.concat([item.frame for item in batch], ignore_index=True)
        started = time.perf_counter()
        try:
            predictions, probabilities = self._predict(
                frame, probabilities=any(item.probabilities for item in batch))
        except Exception:  # noqa: BLE001 - find the request at fault
            for item in batch:
                self._answer_alone(item)
            return
        latency = (time.perf_counter() - started) * 1000.0
        start = 0
        for item in batch:
            stop = start + len(item.frame)
            _settle(item, result=(predictions[start:stop],
                                  probabilities[start:stop] if item.probabilities
                                  and probabilities is not None else None, latency))
            start = stop

    def _answer_alone(self, item: _Pending) -> None:
        started = time.perf_counter()
        try:
            predictions, probabilities = self._predict(item.frame,
                                                       probabilities=item.probabilities)
        except Exception as exc:  # noqa: BLE001 - handed to the request, raised there
            _settle(item, error=exc)
            return
        _settle(item, result=(predictions, probabilities,
                              (time.perf_counter() - started) * 1000.0))


def _settle(item: _Pending, *, result: Any = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if item.future.done():  # the caller went away (cancelled)
            return
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        item.loop.call_soon_threadsafe(settle)

"""Shadow variants predict in a child process, so they never slow the answer.

A shadow gets a copy of every request and its answer is only logged; it must cost the
caller nothing. In the server's own process it would: a scikit-learn ``predict`` holds
the interpreter lock for most of its milliseconds, so a shadow computing beside the
next request stretches that request's latency (measured: p50 5.6 -> 12.9 ms for one
shadow). :class:`ShadowPool` hands shadow rows to one child process instead (started
on first use, with ``spawn`` so no thread state is forked), which loads each shadow
model from the registry itself. Each shadow model has a :class:`MicroBatcher` on the
parent side that gathers copies for up to :data:`LINGER` seconds and sends them as one
frame, so the child predicts a few batches a second, not every request (a one-row
``predict`` costs about as much as a hundred-row one).

The copies are bounded: past ``max_pending`` requests waiting for a shadow, new copies
are dropped and counted (:attr:`ShadowPool.dropped`), so an overloaded shadow sheds its
own work, never the primary's.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gapless.serving.batching import MicroBatcher

MAX_PENDING = 2_000
LINGER = 0.1  # seconds a shadow batch waits to fill: fewer, larger calls in the child
_CHILD: dict[str, Any] = {}  # in the child process: its Predictor


def _open_models(open_workspace: Callable[[], Any]) -> None:
    """Child initializer: open the same workspace (same stores, same key)."""
    from gapless.serving.predictor import Predictor

    _CHILD["predictor"] = Predictor(open_workspace().models, micro_batch=False)


def _predict(ref: str, runtime: str, frame: Any) -> Any:
    """Child task: predictions of the shadow ``ref`` for ``frame``."""
    loaded = _CHILD["predictor"].load(ref, runtime)
    predictions, _ = loaded.predict(frame, probabilities=False)
    return predictions


class ShadowPool:
    """One child process predicting for every shadow variant of this server process."""

    def __init__(self, open_workspace: Callable[[], Any], *,
                 max_pending: int = MAX_PENDING) -> None:
        # Called in the child to open the server's workspace; picklable (spawn sends it).
        self._open_workspace = open_workspace
        self.max_pending = max_pending
        self.pending = 0
        self.dropped = 0
        self._pool: ProcessPoolExecutor | None = None
        self._batchers: dict[str, MicroBatcher] = {}
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Whether one more copy may wait for a shadow (else it is dropped and counted)."""
        if self.pending >= self.max_pending:
            self.dropped += 1
            return False
        self.pending += 1
        return True

    def done(self) -> None:
        self.pending -= 1

    def batcher(self, ref: str, runtime: str) -> MicroBatcher:
        """The batcher that sends ``ref``'s shadow rows to the child."""
        key = f"{ref}:{runtime}"
        with self._lock:
            found = self._batchers.get(key)
            if found is None:
                def remote(frame: Any, *, probabilities: bool) -> tuple[Any, None]:
                    return self._executor().submit(_predict, ref, runtime, frame).result(), None

                found = self._batchers[key] = MicroBatcher(remote, name=f"shadow-{ref}",
                                                           linger=LINGER)
        return found

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_open_models, initargs=(self._open_workspace,))
            return self._pool

    def close(self) -> None:
        """Answer what is queued, then stop the child (joined, so it never outlives us)."""
        with self._lock:
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)

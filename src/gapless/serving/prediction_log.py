"""The prediction log: every prediction written to the metadata store, off the request path.

The request path calls :meth:`PredictionLog.log`, which only decides sampling and appends
the record to an in-memory queue (O(1); it never blocks on I/O and never raises). One
background thread per log turns records into rows (JSON-encoding inputs and outputs:
NumPy scalars and arrays become plain values, NaN and infinities ``null``, datetimes ISO
8601 text) and inserts them in batches of ``batch_size``, at least every
``flush_interval`` seconds and sooner when a batch's worth is waiting.

Guarantees and limits:

* **Sampling** keeps a record when a hash of its prediction id falls below ``sample_rate``,
  so the decision is the same in every process and every run. A shadow's record carries
  the primary's id (rows are keyed by id and variant), so a primary and its shadows are
  kept or skipped together, and one feedback label applies to all of them.
* **Overload**: at most ``max_queue`` records wait for the writer; beyond that ``log``
  returns False and counts a drop rather than block the request.
* **Store failures** never stop the writer: the failed batch is counted, kept, and
  retried with exponential backoff (at most 2 s apart; a :meth:`PredictionLog.flush`
  retries at once). While the store is down, the newest ``max_queue`` encoded rows are
  kept and older ones dropped (counted), so memory stays bounded at about twice
  ``max_queue`` records. A record the tables cannot take (an unknown role, an over-long
  name, NUL in text) is rejected and counted when encoded, so it never poisons a batch.
* **Durability**: rows are inserted with ``ON CONFLICT DO NOTHING`` on (id, variant), so a
  retry after an ambiguous commit cannot duplicate or fail; :attr:`PredictionLog.acknowledged`
  counts rows whose transaction committed, which a crash cannot take back.
* **Shutdown**: :meth:`PredictionLog.close` drains everything queued (retrying for up to
  its timeout), so nothing is lost on a clean shutdown. No ``atexit`` hook is registered:
  the owner (the server's lifespan) closes the log explicitly, and must create it in the
  process that uses it (a forked child does not inherit the writer thread). The thread is
  a daemon, so a log that is never closed loses at most what was queued at exit.

Feedback (ground-truth labels) is stored by :func:`record_feedback` and joined to
predictions by id, within one endpoint, in :func:`read_predictions`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from gapless.core.errors import ValidationError
from gapless.serving.log_rows import ROLES, encode_row, to_json
from gapless.stores.sql import MetadataStore, upsert
from gapless.stores.tables import predictions

logger = logging.getLogger(__name__)

_BACKOFF_MIN, _BACKOFF_MAX = 0.05, 2.0


_ID_PREFIX = [uuid.uuid4().hex[:16]]  # 64 random bits per process
_ID_COUNTER = itertools.count()


def _new_id_prefix() -> None:
    _ID_PREFIX[0] = uuid.uuid4().hex[:16]


os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker draws its own


def new_prediction_id() -> str:
    """A new prediction id: 32 lowercase hex characters, unique across processes.

    A random 64-bit prefix drawn once per process, then a counter: uuid4 reads the
    system's random source for every id, which cost more than the rest of logging a
    prediction. Ids are identifiers, not secrets (feedback needs an API key anyway)."""
    return f"{_ID_PREFIX[0]}{next(_ID_COUNTER):016x}"


@dataclass(slots=True)
class PredictionRecord:
    """One answered prediction, as the serving engine hands it to the log."""

    prediction_id: str  # shared by the primary and the shadows answering one request
    endpoint: str
    model: str
    version: int
    variant: str
    role: str  # "primary" | "shadow"
    inputs: Any  # JSON-able after encoding (lists, dicts, NumPy values, datetimes)
    outputs: Any
    latency_ms: float
    status: int = 200  # the HTTP status the request earned
    created_at: float = field(default_factory=time.time)
    # A classifier's (classes, this row's probabilities), when they were computed; stored
    # as [[label, p], ...] for performance estimated without labels.
    probabilities: Any = None


class PredictionLog:
    """Buffers prediction records and writes them to ``store`` from one background thread."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        sample_rate: float = 1.0,
        max_queue: int = 100_000,
        batch_size: int = 1000,
        flush_interval: float = 0.5,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValidationError(f"sample_rate: expected a number from 0 to 1, "
                                  f"got {sample_rate!r}")
        for name, value in (("max_queue", max_queue), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name}: expected a positive integer, got {value!r}")
        if not flush_interval > 0:
            raise ValidationError(f"flush_interval: expected seconds > 0, got {flush_interval!r}")
        self._store = store
        self.sample_rate = sample_rate
        self._threshold = int(sample_rate * 2.0**64)
        self._max_queue, self._batch_size, self._interval = max_queue, batch_size, flush_interval
        self._queue: deque[PredictionRecord] = deque()
        self._pending: deque[dict[str, Any]] = deque()  # encoded rows, oldest first
        self._lock = threading.Lock()  # guards the queue bound and the log()-side counters
        self._logged = self._sampled_out = self._dropped = 0
        self._closed = False
        # Written only by the writer thread (reads elsewhere are atomic):
        self._written = self._evicted = self._rejected = self._failed_batches = 0
        self._resolved = 0  # records written, evicted or rejected: the FIFO position reached
        self._last_flush_at: float | None = None
        self._cond = threading.Condition()  # flush() waits on it; the writer notifies
        self._requests = 0  # flush requests made; the writer serves them in order
        self._failed_request = 0  # highest request whose attempt failed
        self._stopped = False
        self._close_deadline = math.inf
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gapless-prediction-log",
                                        daemon=True)
        self._thread.start()

    # -- the request path ----------------------------------------------------
    def log(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for writing; False when sampled out, the queue is full or closed.

        Never blocks on I/O and never raises; every outcome is counted in :attr:`stats`.
        """
        try:
            threshold = self._threshold
            if threshold < 2**64 and (not threshold or not self._keeps(record.prediction_id)):
                with self._lock:
                    self._sampled_out += 1
                return False
            with self._lock:
                if self._closed or len(self._queue) >= self._max_queue:
                    self._dropped += 1
                    return False
                self._queue.append(record)
                self._logged += 1
                depth = len(self._queue)
            if depth % self._batch_size == 0:
                self._wake.set()
            return True
        except Exception:  # noqa: BLE001 - the request must not fail because of its log
            with self._lock:
                self._dropped += 1
            return False

    def _keeps(self, prediction_id: str) -> bool:
        digest = hashlib.blake2b(prediction_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < self._threshold

    # -- control --------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> int:
        """Write everything queued before this call now, skipping any retry backoff.

        Returns the rows written while it waited. It returns early, without raising, when
        a write attempt made for it fails (counted in ``failed_batches``; the rows stay
        queued for the retry) or when ``timeout`` seconds pass.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target, before = self._logged, self._written
            self._requests += 1
            request = self._requests
            self._wake.set()
            while self._resolved < target and not self._stopped:
                if self._failed_request >= request:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._written - before

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting records, write everything queued, and stop the writer; idempotent.

        Retries a failing store until ``timeout`` seconds have passed; whatever is still
        unwritten then is counted as dropped and reported in the log at ERROR level.
        """
        with self._lock:
            first, self._closed = not self._closed, True
        if first:
            self._close_deadline = time.monotonic() + timeout
            with self._cond:
                self._requests += 1
            self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("prediction log: the writer is still busy after %.1fs (a store "
                           "write is waiting); it stays a daemon thread", timeout)

    @property
    def acknowledged(self) -> int:
        """Records whose insert has committed: they survive a crash of this process."""
        return self._written

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: ``logged`` (accepted), ``written``, ``sampled_out``, ``dropped`` (queue
        full, closed, or evicted oldest-first while the store was failing), ``rejected``
        (a record that could not be encoded), ``failed_batches``, ``queue_depth`` and
        ``last_flush_at`` (epoch seconds of the last committed batch, or None)."""
        return {
            "logged": self._logged,
            "written": self._written,
            "sampled_out": self._sampled_out,
            "dropped": self._dropped + self._evicted,
            "rejected": self._rejected,
            "failed_batches": self._failed_batches,
            "queue_depth": len(self._queue) + len(self._pending),
            "last_flush_at": self._last_flush_at,
        }

    # -- the writer thread --------------------------------------------------
    def _run(self) -> None:
        backoff, retry_at, served = 0.0, 0.0, 0
        while True:
            wait = self._interval if not backoff else max(0.0, retry_at - time.monotonic())
            self._wake.wait(min(wait, max(0.0, self._close_deadline - time.monotonic())))
            self._wake.clear()
            closing, requested = self._closed, self._requests
            try:
                self._absorb()
                if self._pending and (requested > served or time.monotonic() >= retry_at):
                    served = requested
                    error = self._write_pending(requested)
                    if error is None:
                        if backoff:
                            logger.info("prediction log: the store accepts writes again")
                        backoff = 0.0
                    else:
                        if not backoff:
                            logger.warning("prediction log: a batch write failed (%s); keeping "
                                           "the rows and retrying with backoff", error)
                        backoff = min(max(backoff * 2, _BACKOFF_MIN), _BACKOFF_MAX)
                        retry_at = time.monotonic() + backoff * (0.5 + random.random())
            except Exception:  # a bug here must not end the thread; the records stay queued
                logger.exception("prediction log: unexpected error in the writer")
                backoff = retry_at = 0.0
            if closing and ((not self._pending and not self._queue)
                            or time.monotonic() >= self._close_deadline):
                break
        self._abandon()

    def _absorb(self) -> None:
        """Encode queued records into rows; keep only the newest ``max_queue`` rows."""
        failures: list[str] = []
        for _ in range(len(self._queue)):
            record = self._queue.popleft()
            try:
                self._pending.append(encode_row(record))
            except Exception as exc:  # noqa: BLE001 - a bad record is counted, never raised
                failures.append(str(exc))
                self._rejected += 1
                self._resolved += 1
        excess = len(self._pending) - self._max_queue
        for _ in range(max(0, excess)):
            self._pending.popleft()
        if excess > 0:
            self._evicted += excess
            self._resolved += excess
            logger.warning("prediction log: dropped the %d oldest records (store failing, "
                           "more than max_queue=%d waiting)", excess, self._max_queue)
        if failures:
            logger.warning("prediction log: rejected %d records that cannot be stored, "
                           "e.g. %s", len(failures), failures[0])
        if failures or excess > 0:
            with self._cond:
                self._cond.notify_all()

    def _write_pending(self, request: int) -> Exception | None:
        """Insert the pending rows batch by batch; the error that stopped it, if any."""
        while self._pending:
            rows = list(islice(self._pending, self._batch_size))
            try:
                self._store.write(lambda conn, rows=rows: upsert(
                    conn, predictions, rows, keys=["prediction_id", "variant"], update=[]))
            except Exception as exc:  # noqa: BLE001 - counted and retried; never ends the thread
                self._failed_batches += 1
                with self._cond:
                    self._failed_request = request
                    self._cond.notify_all()
                return exc
            for _ in rows:
                self._pending.popleft()
            with self._cond:
                self._written += len(rows)
                self._resolved += len(rows)
                self._last_flush_at = time.time()
                self._cond.notify_all()
        return None

    def _abandon(self) -> None:
        """At the end of close(): count what could not be written, and release waiters."""
        left = len(self._pending) + len(self._queue)
        if left:
            logger.error("prediction log: closing with %d records unwritten (the store kept "
                         "failing until the close timeout); they are dropped", left)
            self._pending.clear()
            self._queue.clear()
        with self._cond:
            self._evicted += left
            self._resolved += left
            self._stopped = True
            self._cond.notify_all()


__all__ = ["ROLES", "PredictionLog", "PredictionRecord", "new_prediction_id", "to_json"]

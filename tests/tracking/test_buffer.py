from __future__ import annotations

import threading

import pytest

from gapless import StoreError
from gapless.core.records import MetricPoint
from gapless.tracking.buffer import Batch, WriteBuffer


def _point(i: int) -> MetricPoint:
    return MetricPoint("m", float(i), i, 0.0)


def test_background_thread_writes_without_being_asked() -> None:
    written: list[Batch] = []
    done = threading.Event()

    def write(batch: Batch) -> None:
        written.append(batch)
        done.set()

    buffer = WriteBuffer(write, interval=0.05)
    buffer.add(metrics=[_point(1)], params=[("p", "1")], tags={"t": "x"})
    assert done.wait(5), "the buffer never flushed on its own"
    buffer.close()
    assert written[0].params == [("p", "1")] and written[0].tags == {"t": "x"}


def test_close_writes_everything_in_order() -> None:
    written: list[MetricPoint] = []
    buffer = WriteBuffer(lambda b: written.extend(b.metrics), interval=60, max_items=100)
    for i in range(1050):
        buffer.add(metrics=[_point(i)])
    buffer.close()
    assert [p.step for p in written] == list(range(1050))


def test_a_failed_write_keeps_the_batch_for_the_next_try() -> None:
    calls = {"n": 0}
    written: list[MetricPoint] = []

    def flaky(batch: Batch) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("database went away")
        written.extend(batch.metrics)

    buffer = WriteBuffer(flaky, interval=60)
    buffer.add(metrics=[_point(1)])
    with pytest.raises(StoreError):
        buffer.flush()
    buffer.add(metrics=[_point(2)])
    buffer.close()
    assert [p.step for p in written] == [1, 2]


def test_adding_after_close_is_an_error() -> None:
    buffer = WriteBuffer(lambda b: None)
    buffer.close()
    with pytest.raises(Exception, match="run has ended"):
        buffer.add(metrics=[_point(0)])

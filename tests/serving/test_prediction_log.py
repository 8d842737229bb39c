"""The prediction log: batched, off the request path, bounded, durable; feedback joins by id."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from gapless.core.errors import RequestError, ValidationError
from gapless.serving.feedback import read_predictions, record_feedback
from gapless.serving.prediction_log import PredictionLog, PredictionRecord, new_prediction_id
from gapless.stores.sql import MetadataStore


def record(prediction_id: str | None = None, **changes: Any) -> PredictionRecord:
    fields: dict[str, Any] = {
        "prediction_id": prediction_id or new_prediction_id(), "endpoint": "churn",
        "model": "churn-model", "version": 3, "variant": "blue", "role": "primary",
        "inputs": [{"age": 41, "plan": "pro"}], "outputs": [0.25], "latency_ms": 1.5,
    }
    fields.update(changes)
    return PredictionRecord(**fields)


@pytest.fixture
def store(metadata_uri: str) -> Iterator[MetadataStore]:
    opened = MetadataStore(metadata_uri)
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[MetadataStore]:
    opened = MetadataStore(f"sqlite:///{tmp_path}/meta.db")
    yield opened
    opened.dispose()


@pytest.fixture
def open_log() -> Iterator[Callable[..., PredictionLog]]:
    """Opens prediction logs that are closed after the test, even when it fails."""
    opened: list[PredictionLog] = []

    def make(store: Any, **options: Any) -> PredictionLog:
        opened.append(PredictionLog(store, **options))
        return opened[-1]

    yield make
    for log in opened:
        log.close(timeout=2)


def rename_table(store: MetadataStore, old: str, new: str) -> None:
    store.write(lambda conn: conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}"))


def test_records_logged_from_many_threads_all_arrive_after_close(store, open_log) -> None:
    log = open_log(store, batch_size=64, flush_interval=0.02)
    per_thread, threads = 250, 8
    ids = [[new_prediction_id() for _ in range(per_thread)] for _ in range(threads)]
    results: list[bool] = []

    def produce(mine: list[str]) -> None:
        results.extend(log.log(record(pid)) for pid in mine)

    workers = [threading.Thread(target=produce, args=(mine,)) for mine in ids]
    for worker in workers:
        worker.start()
    log.flush(timeout=5)  # a flush racing the producers must not lose or duplicate anything
    for worker in workers:
        worker.join()
    log.close()

    total = per_thread * threads
    assert results == [True] * total
    stats = log.stats
    assert (stats["logged"], stats["written"], log.acknowledged) == (total, total, total)
    assert (stats["dropped"], stats["rejected"], stats["queue_depth"]) == (0, 0, 0)
    assert stats["last_flush_at"] is not None
    stored = read_predictions(store, "churn")
    assert sorted(row["prediction_id"] for row in stored) == sorted(sum(ids, []))
    assert stored[0]["inputs"] == [{"age": 41, "plan": "pro"}]
    assert stored[0]["outputs"] == [0.25]
    assert not log.log(record())  # closed: refused and counted, never raised
    assert log.stats["dropped"] == 1


def test_sampling_is_deterministic_per_id_and_keeps_shadows_with_their_primary(
    sqlite_store, open_log
) -> None:
    ids = [new_prediction_id() for _ in range(2000)]
    none = open_log(sqlite_store, sample_rate=0.0, flush_interval=3600)
    every = open_log(sqlite_store, sample_rate=1.0, flush_interval=3600)
    half = open_log(sqlite_store, sample_rate=0.5, flush_interval=3600)
    again = open_log(sqlite_store, sample_rate=0.5, flush_interval=3600)

    assert not any(none.log(record(pid)) for pid in ids)
    assert none.stats["sampled_out"] == 2000 and none.stats["logged"] == 0
    assert all(every.log(record(pid)) for pid in ids)
    kept = [half.log(record(pid)) for pid in ids]
    assert 800 < sum(kept) < 1200
    assert half.stats["sampled_out"] == 2000 - sum(kept)
    shadows = [again.log(record(pid, variant="green", role="shadow")) for pid in ids]
    assert shadows == kept


def test_inputs_and_outputs_are_encoded_in_the_background(sqlite_store, open_log) -> None:
    log = open_log(sqlite_store, flush_interval=3600)
    when = datetime.datetime(2024, 5, 1, 12, 30)
    good = record(inputs={"x": np.float32(0.5), "n": np.int64(7), "gap": float("nan"),
                          "at": when, "row": np.array([1.0, np.inf])},
                  outputs=np.array([0.1, 0.9]), version=np.int64(3), status=422,
                  probabilities=((np.int64(0), np.int64(1)), np.array([0.25, 0.75])))
    assert log.log(good)
    assert log.log(record(role="canary"))  # accepted now, rejected by the writer
    assert log.log(record(prediction_id="x" * 40))
    assert log.log(record(model="churn\x00model"))  # PostgreSQL would refuse the whole batch
    assert log.log(record(probabilities=(("no", "yes"), [0.2, 0.3, 0.5])))  # 3 for 2 classes
    assert log.flush() == 1
    assert log.stats["rejected"] == 4 and log.stats["queue_depth"] == 0

    (row,) = read_predictions(sqlite_store, "churn")
    assert row["inputs"] == {"x": 0.5, "n": 7, "gap": None, "at": "2024-05-01T12:30:00",
                             "row": [1.0, None]}
    assert row["outputs"] == [0.1, 0.9]
    assert (row["version"], row["status"], row["role"]) == (3, 422, "primary")
    assert row["probabilities"] == [[0, 0.25], [1, 0.75]]


class GatedStore:
    """Wraps a store; ``write`` waits until ``gate`` opens, like a database that hangs."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, work: Callable[[Any], Any]) -> Any:
        self.entered.set()
        self.gate.wait()
        return self.store.write(work)


def test_a_full_queue_drops_and_counts_and_never_blocks(sqlite_store, open_log) -> None:
    gated = GatedStore(sqlite_store)
    log = open_log(gated, max_queue=10, flush_interval=3600)
    assert log.log(record())
    assert log.flush(timeout=0) == 0  # wakes the writer, which now hangs in the store
    assert gated.entered.wait(5)

    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.extend(
        log.log(record()) for _ in range(100)))
    producer.start()
    producer.join(10)
    assert not producer.is_alive(), "log() blocked behind a stuck writer"
    assert results == [True] * 10 + [False] * 90
    assert log.stats["dropped"] == 90 and log.stats["logged"] == 11

    gated.gate.set()
    log.close()
    assert log.stats["written"] == 11
    assert len(read_predictions(sqlite_store, "churn")) == 11


def test_a_failing_store_is_counted_and_written_after_recovery(store, open_log) -> None:
    log = open_log(store, max_queue=20, flush_interval=3600)
    rename_table(store, "predictions", "predictions_away")
    first = [new_prediction_id() for _ in range(20)]
    assert all(log.log(record(pid, created_at=1000.0 + i)) for i, pid in enumerate(first))
    assert log.flush() == 0
    assert log.stats["failed_batches"] >= 1 and log.stats["queue_depth"] == 20

    # While the store is down the newest max_queue records are kept, the oldest dropped.
    second = [new_prediction_id() for _ in range(20)]
    assert all(log.log(record(pid, created_at=2000.0 + i)) for i, pid in enumerate(second))
    assert log.flush() == 0
    assert log.stats["dropped"] == 20 and log.stats["queue_depth"] == 20

    rename_table(store, "predictions_away", "predictions")
    log.flush()
    assert log.stats["written"] == 20 and log.stats["queue_depth"] == 0
    assert [row["prediction_id"] for row in read_predictions(store, "churn")] == second


def test_feedback_joins_labels_by_prediction_id(store, open_log) -> None:
    log = open_log(store, flush_interval=3600)
    labelled, unlabelled = new_prediction_id(), new_prediction_id()
    log.log(record(labelled, created_at=10.0))
    log.log(record(labelled, variant="green", role="shadow", outputs=[0.75], created_at=10.0))
    log.log(record(unlabelled, created_at=20.0))
    assert log.flush() == 3
    stranger = "f" * 32

    answer = record_feedback(store, "churn", [{"prediction_id": labelled, "label": 0},
                                              {"prediction_id": stranger, "label": 1}])
    assert answer == {"accepted": 2, "unknown_ids": [stranger]}
    # A later label supersedes; a label sent to another endpoint does not join here.
    record_feedback(store, "churn", [{"prediction_id": labelled, "label": 1}])
    other = record_feedback(store, "fraud", [{"prediction_id": labelled, "label": 0}])
    assert other == {"accepted": 1, "unknown_ids": [labelled]}

    rows = read_predictions(store, "churn", with_labels=True)
    assert [(row["prediction_id"], row["variant"], row["label"]) for row in rows] == [
        (labelled, "blue", 1), (labelled, "green", 1), (unlabelled, "blue", None)]
    assert rows[1]["outputs"] == [0.75]  # the shadow's own answer, labelled with the primary's
    assert rows[0]["labeled_at"] is not None and rows[2]["labeled_at"] is None
    assert "label" not in read_predictions(store, "churn")[0]
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one() == 4


@pytest.mark.parametrize(("items", "index", "status"), [
    ({"prediction_id": "a" * 32, "label": 1}, None, 400),
    ([{"prediction_id": "a" * 32, "label": 1}, "a label"], 1, 400),
    ([{"prediction_id": "a" * 32}], 0, 400),
    ([{"prediction_id": "a" * 32, "label": 1, "lable": 2}], 0, 400),
    ([{"prediction_id": "a" * 32, "label": 1}, {"prediction_id": 7, "label": 1}], 1, 422),
    ([{"prediction_id": "not an id!", "label": 1}], 0, 422),
    ([{"prediction_id": "a" * 32, "label": float("nan")}], 0, 422),
])
def test_bad_feedback_names_the_item_and_writes_nothing(sqlite_store, items, index,
                                                        status) -> None:
    with pytest.raises(RequestError) as caught:
        record_feedback(sqlite_store, "churn", items)
    assert caught.value.status == status and caught.value.row == index
    if index is not None:
        assert f"item {index}" in str(caught.value)
    with sqlite_store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one() == 0


def test_read_predictions_filters_by_time_and_keeps_the_newest(sqlite_store, open_log) -> None:
    log = open_log(sqlite_store, flush_interval=3600)
    for second in range(1, 11):
        log.log(record(created_at=float(second)))
    log.log(record(endpoint="fraud", created_at=5.0))
    log.flush()

    def times(**query: Any) -> list[float]:
        return [row["created_at"] for row in read_predictions(sqlite_store, "churn", **query)]

    assert times() == [float(second) for second in range(1, 11)]
    assert times(since=3, until=7) == [3.0, 4.0, 5.0, 6.0]
    assert times(limit=2) == [9.0, 10.0]
    assert times(since=3, limit=3) == [8.0, 9.0, 10.0]
    with pytest.raises(ValidationError, match="limit"):
        read_predictions(sqlite_store, "churn", limit=0)


def _log_then_die(uri: str, pipe: Any) -> None:
    """Child process: flush 300 records, report them, keep writing, then SIGKILL itself."""
    log = PredictionLog(MetadataStore(uri), batch_size=50, flush_interval=3600)
    for _ in range(300):
        log.log(record())
    log.flush()
    pipe.send(log.acknowledged)
    for _ in range(3000):
        log.log(record())
    log.flush(timeout=0.05)  # the kill lands while the writer is busy with these
    os.kill(os.getpid(), signal.SIGKILL)


def test_acknowledged_records_survive_a_crash(metadata_uri: str) -> None:
    MetadataStore(metadata_uri).dispose()  # migrate before the child races to
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_log_then_die, args=(metadata_uri, sender))
    child.start()
    sender.close()
    assert receiver.poll(60), "the child never reported its flush"
    acknowledged = receiver.recv()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert acknowledged == 300

    store = MetadataStore(metadata_uri)
    try:
        assert len(read_predictions(store, "churn")) >= acknowledged
        if store.dialect == "sqlite":
            with store.read() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        store.dispose()

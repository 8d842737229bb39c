"""The micro-batcher answers every request with its own rows, batches only under load,
and keeps one request's failure (or cancellation) from reaching the others.

Requests pile up deterministically: the first ``predict`` call blocks on a
``threading.Event`` until every other request is queued; nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from conftest import register_fitted
from gapless import Workspace
from gapless.serving.batching import MicroBatcher
from gapless.serving.predictor import Predictor

WAIT = 10.0  # seconds a helper waits for the batching thread before failing the test


class BadRow(ValueError):
    """Raised by :class:`Model` for a row whose id is negative."""


class Model:
    """A plain predict function with the batcher's signature that records its calls.

    Predictions are ``id * 10``, probabilities ``[id, -id]``, so any row mix-up shows.
    The first call blocks until :meth:`release` (when ``gated``)."""

    def __init__(self, *, gated: bool = True) -> None:
        self.calls: list[tuple[list[int], bool]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, frame: pd.DataFrame, *, probabilities: bool) -> tuple[Any, Any]:
        ids = frame["id"].to_numpy()
        self.calls.append((ids.tolist(), probabilities))
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never released the model"
        if (ids < 0).any():
            raise BadRow(f"row id {int(ids[ids < 0][0])} is negative")
        return ids * 10, (np.column_stack([ids, -ids]).astype(float) if probabilities
                          else None)

    def release(self) -> None:
        self.gate.set()


def frame(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "other": [f"row {i}" for i in ids]})


def request_ids(i: int) -> list[int]:
    """1 to 3 distinct rows per request, distinct across requests."""
    return [100 * i + k for k in range(i % 3 + 1)]


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
def batcher(model: Model):  # type: ignore[no-untyped-def]
    batcher = MicroBatcher(model, name="test")
    yield batcher
    model.release()
    batcher.close()


async def pile_up(batcher: MicroBatcher, model: Model, frames: list[pd.DataFrame],
                  asks: list[bool] | None = None) -> list[asyncio.Task[Any]]:
    """The first frame's predict starts and blocks; every other request is then queued.
    Returns the tasks (the gate is still closed)."""
    asks = asks or [True] * len(frames)
    first = asyncio.create_task(batcher.predict(frames[0], probabilities=asks[0]))
    assert await asyncio.to_thread(model.entered.wait, WAIT)
    rest = [asyncio.create_task(batcher.predict(f, probabilities=a))
            for f, a in zip(frames[1:], asks[1:], strict=True)]
    for _ in range(3):  # each task runs up to its await: it is queued by then
        await asyncio.sleep(0)
    return [first, *rest]


async def answers(tasks: list[asyncio.Task[Any]], **gather: Any) -> list[Any]:
    """Every task's answer; a batcher that leaves one unanswered fails instead of hanging."""
    return await asyncio.wait_for(asyncio.gather(*tasks, **gather), WAIT)


def test_concurrent_requests_get_their_own_rows_in_one_batch(batcher: MicroBatcher,
                                                             model: Model) -> None:
    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, [frame(request_ids(i)) for i in range(20)])
        model.release()
        return await answers(tasks)

    results = asyncio.run(scenario())
    for i, (predictions, probabilities, latency) in enumerate(results):
        ids = np.array(request_ids(i))
        np.testing.assert_array_equal(predictions, ids * 10)
        np.testing.assert_array_equal(probabilities, np.column_stack([ids, -ids]))
        assert latency >= 0
    # the first request alone, then the 19 that queued behind it in one call
    assert (batcher.requests, batcher.batches) == (20, 2)
    assert batcher.batches < batcher.requests
    assert [len(ids) for ids, _ in model.calls] == [1, sum(len(request_ids(i))
                                                           for i in range(1, 20))]


def test_a_lone_request_is_answered_alone() -> None:
    model = Model(gated=False)
    batcher = MicroBatcher(model, name="lone")
    try:
        predictions, probabilities, _ = asyncio.run(
            batcher.predict(frame([7, 8, 9]), probabilities=False))
    finally:
        batcher.close()
    np.testing.assert_array_equal(predictions, [70, 80, 90])
    assert probabilities is None
    assert model.calls == [([7, 8, 9], False)]
    assert (batcher.requests, batcher.batches) == (1, 1)


def test_probabilities_go_only_to_requests_that_asked(batcher: MicroBatcher,
                                                      model: Model) -> None:
    asks = [i % 2 == 0 for i in range(8)]

    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, [frame(request_ids(i)) for i in range(8)], asks)
        model.release()
        return await answers(tasks)

    results = asyncio.run(scenario())
    for i, (predictions, probabilities, _) in enumerate(results):
        ids = np.array(request_ids(i))
        np.testing.assert_array_equal(predictions, ids * 10)
        if asks[i]:
            np.testing.assert_array_equal(probabilities, np.column_stack([ids, -ids]))
        else:
            assert probabilities is None, f"request {i} did not ask for probabilities"


def test_a_batch_where_nobody_asks_does_not_compute_probabilities(batcher: MicroBatcher,
                                                                  model: Model) -> None:
    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, [frame(request_ids(i)) for i in range(5)],
                              [False] * 5)
        model.release()
        return await answers(tasks)

    results = asyncio.run(scenario())
    assert all(probabilities is None for _, probabilities, _ in results)
    assert [asked for _, asked in model.calls] == [False, False]


def test_max_rows_caps_a_batch(model: Model) -> None:
    batcher = MicroBatcher(model, max_rows=5, name="capped")
    frames = [frame([10 * i, 10 * i + 1]) for i in range(1, 8)]  # 2 rows each
    big = frame(list(range(1000, 1009)))  # 9 rows: over the cap, still answered alone

    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, [frame([1]), *frames, big])
        model.release()
        return await answers(tasks)

    try:
        results = asyncio.run(scenario())
    finally:
        model.release()
        batcher.close()
    for ids, (predictions, _, _) in zip([[1]] + [f["id"].tolist() for f in [*frames, big]],
                                        results, strict=True):
        np.testing.assert_array_equal(predictions, np.array(ids) * 10)
    sizes = [len(ids) for ids, _ in model.calls]
    assert sizes == [1, 4, 4, 4, 2, 9]  # two requests of 2 rows fit in 5, a third does not
    assert batcher.requests == 9 and batcher.batches == 6


def test_a_failing_request_fails_alone_and_keeps_its_exception_type(batcher: MicroBatcher,
                                                                    model: Model) -> None:
    frames = [frame(request_ids(i)) for i in range(6)]
    frames[3] = frame([300, -3, 302])

    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, frames)
        model.release()
        return await answers(tasks, return_exceptions=True)

    results = asyncio.run(scenario())
    assert isinstance(results[3], BadRow) and "row id -3" in str(results[3])
    for i in (0, 1, 2, 4, 5):
        assert not isinstance(results[i], BaseException), results[i]
        np.testing.assert_array_equal(results[i][0], np.array(request_ids(i)) * 10)
    # the lone first call, the failed batch of five, then each of the five alone
    assert [len(ids) for ids, _ in model.calls][:2] == [1, sum(len(f) for f in frames[1:])]
    assert sorted(map(tuple, (ids for ids, _ in model.calls[2:]))) == sorted(
        tuple(f["id"]) for f in frames[1:])


def test_a_lone_failure_is_raised_to_its_caller_and_the_batcher_keeps_serving() -> None:
    model = Model(gated=False)
    batcher = MicroBatcher(model, name="fails")

    async def scenario() -> Any:
        with pytest.raises(BadRow, match="row id -1 is negative"):
            await batcher.predict(frame([-1]), probabilities=True)
        return await batcher.predict(frame([4]), probabilities=True)

    try:
        predictions, probabilities, _ = asyncio.run(scenario())
    finally:
        batcher.close()
    np.testing.assert_array_equal(predictions, [40])
    np.testing.assert_array_equal(probabilities, [[4.0, -4.0]])


def test_a_cancelled_caller_does_not_break_the_others(batcher: MicroBatcher,
                                                      model: Model) -> None:
    loop_errors: list[dict[str, Any]] = []

    async def scenario() -> tuple[list[Any], Any]:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: loop_errors.append(context))
        tasks = await pile_up(batcher, model, [frame(request_ids(i)) for i in range(6)])
        tasks[2].cancel()
        await asyncio.sleep(0)
        model.release()
        results = await answers(tasks, return_exceptions=True)
        after = await batcher.predict(frame([555]), probabilities=False)
        return results, after

    results, after = asyncio.run(scenario())
    assert loop_errors == []  # answering the cancelled caller must not fail in the loop
    assert isinstance(results[2], asyncio.CancelledError)
    for i in (0, 1, 3, 4, 5):
        np.testing.assert_array_equal(results[i][0], np.array(request_ids(i)) * 10)
    np.testing.assert_array_equal(after[0], [5550])


def test_close_answers_what_is_waiting_then_refuses(model: Model) -> None:
    batcher = MicroBatcher(model, name="closing")

    async def scenario() -> list[Any]:
        tasks = await pile_up(batcher, model, [frame(request_ids(i)) for i in range(5)])
        closer = threading.Thread(target=batcher.close)
        closer.start()
        # close() marks the batcher closed before it waits for the thread to drain
        assert await asyncio.to_thread(_wait_for, lambda: batcher._closed)
        with pytest.raises(RuntimeError, match="unloaded"):
            await batcher.predict(frame([9]), probabilities=False)
        model.release()
        results = await answers(tasks)
        await asyncio.to_thread(closer.join, WAIT)
        assert not closer.is_alive()
        return results

    try:
        results = asyncio.run(scenario())
    finally:
        model.release()
    for i, (predictions, _, _) in enumerate(results):
        np.testing.assert_array_equal(predictions, np.array(request_ids(i)) * 10)
    assert "gapless-batch-closing" not in {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match="unloaded"):
        asyncio.run(batcher.predict(frame([1]), probabilities=False))


def _wait_for(condition: Any) -> bool:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return False


def test_a_predictor_batcher_predicts_what_the_pipeline_does(workspace: Workspace) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.uniform(18, 90, 60).round(1),
                      "visits": rng.integers(0, 20, 60).astype(float)})
    y = pd.Series((X["age"] / 10 + X["visits"] + rng.normal(0, 2, 60) > 12).astype(int))
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    ref = register_fitted(workspace, pipe, X, y)
    predictor = Predictor(workspace.models, micro_batch=True)
    loaded = predictor.load(ref)
    assert isinstance(loaded.batcher, MicroBatcher)
    slices = [X.iloc[i:i + 6].reset_index(drop=True) for i in range(0, 60, 6)]

    async def scenario() -> list[Any]:
        return await asyncio.gather(*(loaded.batcher.predict(part, probabilities=True)
                                      for part in slices))

    try:
        results = asyncio.run(scenario())
    finally:
        predictor.close()
    predictions = np.concatenate([r[0] for r in results])
    probabilities = np.concatenate([r[1] for r in results])
    np.testing.assert_array_equal(predictions, loaded.model.predict(X))
    np.testing.assert_allclose(probabilities, loaded.model.predict_proba(X), rtol=0, atol=1e-12)
    assert len(set(predictions)) == 2  # both classes occur, so a mix-up would show

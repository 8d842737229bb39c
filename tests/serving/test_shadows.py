"""Shadows predict in a child process that loads the model from the registry itself."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from conftest import register_fitted
from gapless import Workspace
from gapless.server.app import reopener
from gapless.serving.shadows import ShadowPool

X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70], "visits": [1.0, 5, 2, 8, 3, 9]})
y = pd.Series([0, 0, 1, 1, 0, 1])


def test_the_child_predicts_what_the_model_does_and_stops_with_the_pool(
        workspace: Workspace) -> None:
    model = LogisticRegression().fit(X, y)
    ref = register_fitted(workspace, model, X, y)
    pool = ShadowPool(reopener(workspace))

    async def copies() -> list:
        batcher = pool.batcher(ref, "python")
        return await asyncio.gather(*(batcher.predict(X.iloc[[i]], probabilities=False)
                                      for i in range(len(X))))

    try:
        answers = asyncio.run(copies())
        child = next(iter(pool._executor()._processes.values()))
        assert child.is_alive()
        got = np.concatenate([np.asarray(predictions) for predictions, _, _ in answers])
        np.testing.assert_array_equal(got, model.predict(X))
        assert pool.batcher(ref, "python").batches < len(X)  # copies went over together
    finally:
        pool.close()
    assert not child.is_alive() and child.exitcode is not None


def test_copies_beyond_the_bound_are_dropped_and_counted(workspace: Workspace) -> None:
    pool = ShadowPool(reopener(workspace), max_pending=2)
    assert [pool.admit() for _ in range(3)] == [True, True, False]
    assert (pool.pending, pool.dropped) == (2, 1)
    pool.done()
    assert pool.admit() and pool.pending == 2
    pool.close()  # never started a child: nothing to stop

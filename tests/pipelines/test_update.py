"""Incremental updates: partial_fit of a registered model on new rows, registered as the
next version; models without partial_fit are refused with the way out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from conftest import register_fitted
from gapless import Workspace


def rows(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "y": (x > shift).astype(int)})


def test_partial_fit_registers_an_updated_version(workspace: Workspace) -> None:
    first = rows(400, 0.0, 1)
    model = Pipeline([("s", StandardScaler()),
                      ("m", SGDClassifier(loss="log_loss", random_state=0))])
    model.fit(first[["x", "z"]], first["y"])
    ref = register_fitted(workspace, model, first[["x", "z"]], first["y"], name="stream",
                          target="y")
    newer = rows(400, 3.0, 2)  # the boundary moved: x > 3
    workspace.data.add("fresh", newer)
    before = workspace.models.load(ref).predict(newer[["x", "z"]])
    run = workspace.pipelines.run({"name": "increment", "steps": [
        {"name": "update", "uses": "update", "with": {"model": ref, "dataset": "fresh@1"}}]},
        executor="local:1")
    assert run.status == "succeeded", run.to_dict()
    assert run.outputs["update"] == {"version": "stream@2", "rows": 400,
                                     "updated_from": "stream@1"}
    updated = workspace.models.get("stream@2")
    assert updated.signature == workspace.models.get(ref).signature
    assert workspace.runs.get(updated.run_id).params["updated_from"] == "stream@1"
    after = workspace.models.load(updated).predict(newer[["x", "z"]])
    accuracy = {name: float((p == newer["y"]).mean()) for name, p in (("before", before),
                                                                      ("after", after))}
    assert accuracy["after"] > accuracy["before"] + 0.1, accuracy


def test_a_model_without_partial_fit_is_refused(workspace: Workspace) -> None:
    data = rows(100, 0.0, 3)
    tree = DecisionTreeClassifier(max_depth=2).fit(data[["x", "z"]], data["y"])
    ref = register_fitted(workspace, tree, data[["x", "z"]], data["y"], name="tree",
                          target="y")
    workspace.data.add("fresh", data)
    run = workspace.pipelines.run({"name": "increment", "steps": [
        {"name": "update", "uses": "update", "with": {"model": ref, "dataset": "fresh@1"}}]},
        executor="local:1")
    assert run.status == "failed"
    assert "DecisionTreeClassifier, which has no partial_fit; retrain it with the train " \
           "step" in run.steps[0].error
    assert [v.version for v in workspace.models.versions("tree")] == [1]

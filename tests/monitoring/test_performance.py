"""Concept drift: performance per window from the prediction log and feedback labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from conftest import log_predictions
from gapless import ValidationError, Workspace
from gapless.monitoring.performance import (
    PerformanceWindow,
    concept_drift,
    performance_windows,
)
from gapless.serving.feedback import record_feedback

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary


def log(ws: Workspace, rows: list[tuple[float, object]], *, version: int = 1,
        variant: str = "primary", status: int = 200, role: str = "primary") -> list[str]:
    """Log ``(seconds after START, output)`` predictions; returns their ids."""
    return log_predictions(ws.metadata, [
        {"version": version, "variant": variant, "role": role, "inputs": {"age": 30.0},
         "outputs": output, "status": status, "created_at": START + at}
        for at, output in rows])


def label(ws: Workspace, ids: list[str], labels: list[object]) -> None:
    record_feedback(ws.metadata, "churn",
                    [{"prediction_id": i, "label": y} for i, y in zip(ids, labels, strict=True)])


def test_binary_metrics_match_scikit_learn_per_window(workspace: Workspace) -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 120).tolist()
    predicted = [int(y) if rng.random() < 0.8 else 1 - int(y) for y in truth]
    ids = log(workspace, [(i * 20.0, p) for i, p in enumerate(predicted)])  # 40 minutes
    later = log(workspace, [(3600 + i, p) for i, p in enumerate(predicted[:10])])
    log(workspace, [(5.0, None)], status=500)  # not answered: not counted
    log(workspace, [(6.0, 1)], role="shadow", variant="shadow")  # not the primary
    label(workspace, ids[:100], truth[:100])  # 20 of the first hour stay unlabelled
    label(workspace, later[:3], truth[:3])
    first, second = performance_windows(workspace.metadata, "churn", window="1h")
    assert (first.start, first.predictions, first.labelled, first.scored) == (START, 120, 100,
                                                                              100)
    assert first.problem == "binary" and first.positive_label == 1
    assert first.coverage == pytest.approx(100 / 120)
    y, p = truth[:100], predicted[:100]
    assert first.metrics == pytest.approx({
        "accuracy": skm.accuracy_score(y, p), "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p), "f1": skm.f1_score(y, p)})
    assert (second.start, second.predictions, second.labelled) == (START + 3600, 10, 3)
    flipped = performance_windows(workspace.metadata, "churn", window="1h", positive_label=0)
    assert flipped[0].metrics["precision"] == pytest.approx(skm.precision_score(y, p,
                                                                                pos_label=0))
    assert performance_windows(workspace.metadata, "other") == []


def test_windows_split_by_version_and_variant_and_multiclass_is_inferred(
        workspace: Workspace) -> None:
    ids = log(workspace, [(1.0, "a"), (2.0, "b"), (3.0, "c")])
    canary = log(workspace, [(4.0, "a")], version=2, variant="canary")
    label(workspace, ids + canary, ["a", "c", "c", "b"])
    main, other = performance_windows(workspace.metadata, "churn", window="1h")
    assert (main.version, main.variant, other.version, other.variant) == (1, "primary", 2,
                                                                          "canary")
    truth, predicted = ["a", "c", "c"], ["a", "b", "c"]
    assert main.problem == "multiclass" and main.metrics == {
        "accuracy": pytest.approx(2 / 3),
        "macro_precision": pytest.approx(skm.precision_score(truth, predicted,
                                                             average="macro")),
        "macro_recall": pytest.approx(skm.recall_score(truth, predicted, average="macro",
                                                       zero_division=0)),
        "macro_f1": pytest.approx(skm.f1_score(truth, predicted, average="macro"))}
    assert other.metrics["accuracy"] == 0.0 and other.metrics["macro_f1"] == 0.0


def test_a_relabelled_prediction_uses_the_latest_label(workspace: Workspace) -> None:
    ids = log(workspace, [(1.0, 1), (2.0, 0)])
    label(workspace, ids, [0, 0])
    label(workspace, ids[:1], [1])  # corrected: the first was right after all
    (window,) = performance_windows(workspace.metadata, "churn", window="1h")
    assert window.labelled == 2 and window.metrics["accuracy"] == 1.0


def test_regression_metrics(workspace: Workspace) -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(100, 10, 50)
    predicted = truth + rng.normal(2, 5, 50)
    ids = log(workspace, [(i, float(p)) for i, p in enumerate(predicted)])
    label(workspace, ids, [float(t) for t in truth])
    (window,) = performance_windows(workspace.metadata, "churn", window="1d")
    assert window.problem == "regression" and window.scored == 50
    assert window.metrics == pytest.approx({
        "mae": skm.mean_absolute_error(truth, predicted),
        "rmse": math.sqrt(skm.mean_squared_error(truth, predicted)),
        "mean_error": float(np.mean(predicted - truth))})
    verdicts = concept_drift([window], {"rmse": 1.0}, metric="rmse", max_drop=0.5)
    assert verdicts[0].drifted is True and verdicts[0].drop == pytest.approx(
        window.metrics["rmse"] - 1.0)
    # Integers and floats together: told it is regression, integers are values too.
    ints = log(workspace, [(90_000.0, 3), (90_001.0, 5)])
    label(workspace, ints, [4, 5])
    told = performance_windows(workspace.metadata, "churn", window="1d", since=START + 90_000,
                               problem="regression")
    assert told[0].metrics == pytest.approx({"mae": 0.5, "rmse": math.sqrt(0.5),
                                             "mean_error": -0.5})


def window(metrics: dict[str, float], scored: int = 100) -> PerformanceWindow:
    return PerformanceWindow(START, 3600.0, "churn", 1, "primary", predictions=scored,
                             labelled=scored, scored=scored, problem="binary",
                             metrics=metrics)


def test_concept_drift_flags_drops_and_floors_and_skips_thin_windows() -> None:
    windows = [window({"accuracy": 0.9}), window({"accuracy": 0.8}),
               window({"accuracy": 0.5}, scored=10)]
    first, second, thin = concept_drift(windows, {"accuracy": 0.91}, metric="accuracy",
                                        max_drop=0.05)
    assert first.drifted is False and first.drop == pytest.approx(0.01)
    assert second.drifted is True and "worse than the reference" in second.reason
    assert thin.drifted is None and "10 scored labels, fewer than 30" in thin.reason
    floors = concept_drift(windows, {}, metric="accuracy", min_value=0.85)
    assert [v.drifted for v in floors] == [False, True, None]
    regression = window({"mae": 3.0, "rmse": 4.0, "mean_error": -2.5})
    (bias,) = concept_drift([regression], {"mean_error": 0.5}, metric="mean_error",
                            max_drop=1.0)
    assert bias.drifted is True and bias.drop == pytest.approx(2.0)
    (missing,) = concept_drift([regression], {}, metric="f1", min_value=0.5)
    assert missing.drifted is None and "not measured" in missing.reason


def test_concept_drift_rejects_what_it_cannot_judge() -> None:
    windows = [window({"accuracy": 0.9})]
    with pytest.raises(ValidationError, match="metric 'auc'"):
        concept_drift(windows, {}, metric="auc", min_value=0.5)
    with pytest.raises(ValidationError, match="nothing to judge against"):
        concept_drift(windows, {}, metric="accuracy")
    with pytest.raises(ValidationError, match="the reference has no accuracy .it has: f1"):
        concept_drift(windows, {"f1": 0.8}, metric="accuracy", max_drop=0.1)
    with pytest.raises(ValidationError, match="give max_value"):
        concept_drift(windows, {}, metric="rmse", min_value=0.5)


def test_monitor_uses_the_models_test_metrics_as_reference(workspace: Workspace) -> None:
    ref = register_with_metrics(workspace, {"test_accuracy": 0.95, "test_f1": 0.9,
                                            "cv_accuracy": 0.5})
    ids = log(workspace, [(float(i), i % 2) for i in range(40)])
    label(workspace, ids, [1] * 40)  # half right: accuracy 0.5
    report = workspace.monitor.performance("churn", window="1h", model=ref, max_drop=0.1)
    assert report.reference == {"accuracy": 0.95, "f1": 0.9}
    (verdict,) = report.verdicts
    assert report.metric == "accuracy" and verdict.drifted is True
    assert verdict.drop == pytest.approx(0.45)
    assert report.to_dict()["verdicts"][0]["drifted"] is True
    quiet = workspace.monitor.performance("churn", window="1h")
    assert quiet.verdicts == [] and quiet.windows[0].labelled == 40


def register_with_metrics(ws: Workspace, metrics: dict[str, float]) -> str:
    """A fitted binary model registered from a run that recorded ``metrics``."""
    import tempfile
    from pathlib import Path

    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70]})
    y = pd.Series([0, 0, 1, 1, 0, 1])
    with ws.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(LogisticRegression().fit(X, y), None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
        run.log_metrics(metrics)
    return ws.models.register(run.id, "churn").ref

"""Performance estimated without labels from logged probabilities (CBPE): it equals the
expected confusion exactly, tracks the realized performance under an input shift, and a
calibration fitted on labelled rows corrects an overconfident model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from conftest import log_predictions
from gapless import Workspace
from gapless.monitoring.estimated import ConfidenceTally, expected_confusion
from gapless.monitoring.performance import concept_drift, performance_windows
from gapless.serving.feedback import record_feedback

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary


def traffic(rng: np.random.Generator, hours: list[tuple[float, float]], rows: int,
            sharpen: float = 1.0) -> tuple[list[dict], list[int]]:
    """Per hour, ``rows`` binary predictions whose true probability of class 1 is uniform
    on the hour's (low, high); the model reports it sharpened by ``sharpen`` (1: calibrated)
    and predicts the likelier class. Returns the log rows and the drawn labels."""
    logged, labels = [], []
    for hour, (low, high) in enumerate(hours):
        truth_p = rng.uniform(low, high, rows)
        logit = np.log(truth_p / (1 - truth_p)) * sharpen
        reported = 1 / (1 + np.exp(-logit))
        for i, p in enumerate(reported):
            logged.append({"outputs": int(p >= 0.5), "created_at": START + hour * 3600 + i,
                           "probabilities": ((0, 1), [1 - p, p])})
        labels += (rng.random(rows) < truth_p).astype(int).tolist()
    return logged, labels


def logged(ws: Workspace, rows: list[dict], labels: list[int] | None) -> None:
    ids = log_predictions(ws.metadata, rows)
    if labels is not None:
        record_feedback(ws.metadata, "churn", [{"prediction_id": i, "label": y}
                                               for i, y in zip(ids, labels, strict=True)])


def test_the_estimate_is_the_expected_confusion_and_needs_no_labels(
        workspace: Workspace) -> None:
    rng = np.random.default_rng(1)
    rows, _ = traffic(rng, [(0.02, 0.98)], 400)
    logged(workspace, rows, None)
    (window,) = performance_windows(workspace.metadata, "churn", window="1h")
    p = np.array([r["probabilities"][1][1] for r in rows])
    predicted = p >= 0.5
    tp, fp = p[predicted].sum(), (1 - p[predicted]).sum()
    fn = p[~predicted].sum()
    assert (window.labelled, window.metrics, window.estimated_rows) == (0, {}, 400)
    assert window.estimated == pytest.approx({
        "accuracy": np.maximum(p, 1 - p).mean(), "precision": tp / (tp + fp),
        "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn)})
    assert window.problem == "binary" and window.positive_label == 1


def test_the_estimate_tracks_a_drop_caused_by_an_input_shift(workspace: Workspace) -> None:
    rng = np.random.default_rng(2)
    rows, labels = traffic(rng, [(0.02, 0.98), (0.3, 0.7)], 3000)  # then rows near 0.5
    logged(workspace, rows, labels)
    before, after = performance_windows(workspace.metadata, "churn", window="1h")
    for window in (before, after):  # 3,000 rows: a standard error under 0.01
        assert window.estimated["accuracy"] == pytest.approx(window.metrics["accuracy"],
                                                             abs=0.03)
        assert window.estimated["f1"] == pytest.approx(window.metrics["f1"], abs=0.04)
    assert before.estimated["accuracy"] - after.estimated["accuracy"] > 0.1
    verdicts = concept_drift([before, after], {"accuracy": before.metrics["accuracy"]},
                             metric="accuracy", max_drop=0.05, estimated=True)
    assert [v.drifted for v in verdicts] == [False, True]


def test_a_calibration_on_labelled_rows_corrects_an_overconfident_model(
        workspace: Workspace) -> None:
    rng = np.random.default_rng(3)
    rows, labels = traffic(rng, [(0.02, 0.98), (0.25, 0.75)], 3000, sharpen=3.0)
    logged(workspace, rows, labels)
    raw = performance_windows(workspace.metadata, "churn", window="1h")[1]
    calibrated = performance_windows(workspace.metadata, "churn", window="1h",
                                     calibrate_until=START + 3600)[1]
    realized = raw.metrics["accuracy"]
    assert raw.estimated["accuracy"] - realized > 0.15  # overconfident: far too optimistic
    assert calibrated.estimated["accuracy"] == pytest.approx(realized, abs=0.03)
    assert (raw.calibrated_on, calibrated.calibrated_on) == (None, 3000)


def test_multiclass_expected_confusion_and_macro_metrics() -> None:
    tally = ConfidenceTally()
    probabilities = [("a", [0.7, 0.2, 0.1]), ("b", [0.1, 0.6, 0.3]), ("a", [0.5, 0.25, 0.25])]
    for predicted, row in probabilities:
        tally.add(predicted, zip("abc", row, strict=True))
    confusion = expected_confusion(tally)
    assert confusion == pytest.approx({("a", "a"): 1.2, ("b", "a"): 0.45, ("c", "a"): 0.35,
                                       ("a", "b"): 0.1, ("b", "b"): 0.6, ("c", "b"): 0.3})


def test_multiclass_estimate_matches_scikit_learn_on_expected_labels(
        workspace: Workspace) -> None:
    rng = np.random.default_rng(4)
    p = rng.dirichlet([1.0, 1.0, 1.0], 600)
    classes = ["x", "y", "z"]
    rows = [{"outputs": classes[int(np.argmax(r))], "created_at": START + i,
             "probabilities": (classes, r)} for i, r in enumerate(p)]
    truth = [classes[rng.choice(3, p=r)] for r in p]
    logged(workspace, rows, truth)
    (window,) = performance_windows(workspace.metadata, "churn", window="1h")
    predicted = [r["outputs"] for r in rows]
    assert window.problem == "multiclass"
    assert window.metrics["macro_f1"] == pytest.approx(skm.f1_score(truth, predicted,
                                                                    average="macro"))
    assert window.estimated["accuracy"] == pytest.approx(p.max(axis=1).mean())
    assert window.estimated["macro_f1"] == pytest.approx(window.metrics["macro_f1"], abs=0.08)


def test_malformed_probabilities_are_left_out_not_fatal(workspace: Workspace) -> None:
    logged(workspace, [{"outputs": 1, "created_at": START, "probabilities": ((0, 1), [0.2, 1.8])},
                       {"outputs": 1, "created_at": START + 1,
                        "probabilities": ((0, 1), [0.3, 0.7])}], [1, 0])
    (window,) = performance_windows(workspace.metadata, "churn", window="1h")
    assert window.estimated_rows == 1 and window.metrics["accuracy"] == 0.5
    verdict, = concept_drift([window], {}, metric="accuracy", min_value=0.9, estimated=True)
    assert verdict.drifted is None and "1 rows with probabilities" in verdict.reason

"""Training end to end on real parts: a workspace, a dataset version, an executor."""

from __future__ import annotations

import json

import pytest

from gapless import ValidationError, Workspace
from gapless.data.sample_data import make_loans
from gapless.training.trainer import model_of_run

SPEC = {
    "dataset": "loans@1",
    "target": "defaulted",
    "features": {"exclude": ["customer_id"]},
    "budget": {"trials": 6},
    "cv": {"folds": 3},
    "candidates": [{"family": "logistic_regression", "params": {"max_iter": 300}},
                   {"family": "decision_tree"}],
    "behavioural_tests": [
        {"type": "directional", "name": "score helps", "column": "credit_score",
         "delta": 100, "direction": "decrease", "tolerance": 0.02},
        {"type": "invariance", "column": "channel", "values": ["branch", "online"],
         "tolerance": 0.5},
    ],
    "fairness": {"sensitive": ["region"]},
    "limitations": "Trained on synthetic loans.",
}


@pytest.fixture
def loans_ws(workspace: Workspace) -> Workspace:
    workspace.data.add("loans", make_loans(1500, seed=5), time_column="applied_at")
    return workspace


def test_train_tracks_baseline_trials_and_saves_a_loadable_model(loans_ws: Workspace) -> None:
    result = loans_ws.train(SPEC, executor="local:1")
    assert result.problem == "binary" and result.metric == "roc_auc"
    assert result.best_family in ("logistic_regression", "decision_tree")
    assert sum(result.trials.values()) == 6
    assert result.test_metrics["roc_auc"] > result.baseline_test_metrics["roc_auc"]
    children = loans_ws.runs.search(f"parent_id = '{result.run_id}'", limit=None)
    roles = sorted(run.tags["role"] for run in children)
    assert roles == ["baseline"] + ["trial"] * 6
    assert all("cv_roc_auc" in run.metrics for run in children
               if run.tags.get("state") != "failed")
    parent = loans_ws.runs.get(result.run_id)
    assert parent.params["dataset"] == "loans@1"
    assert parent.params["dataset_digest"] == loans_ws.data.get("loans@1").digest
    assert parent.metrics["test_roc_auc"] == pytest.approx(result.test_metrics["roc_auc"])
    paths = {a.path for a in loans_ws.runs.artifacts(result.run_id)}
    assert {"model/model.skops", "spec.json", "evaluation.json", "model_card.html",
            "signature.json"} <= paths
    signature = json.loads(loans_ws.runs.read_artifact(result.run_id, "signature.json"))
    inputs = {column["name"]: column for column in signature["inputs"]}
    assert "defaulted" not in inputs and "customer_id" not in inputs  # excluded: not read
    assert inputs["credit_score"]["type"] in ("integer", "float")
    assert inputs["credit_score"]["minimum"] < inputs["credit_score"]["maximum"]
    assert set(inputs["region"]["categories"]) >= {"north", "south"}
    assert signature["output"]["problem"] == "binary" and len(signature["output"]["classes"]) == 2
    model = model_of_run(loans_ws.runs, result.run_id)
    frame = loans_ws.data.load("loans@1").drop(columns=["defaulted"]).head(20)
    assert (model.predict(frame) == result.model.predict(frame)).all()
    evaluation = result.evaluation
    assert {t["name"] for t in evaluation["behavioural"]} >= {"score helps"}
    assert evaluation["fairness"] is not None and "curves" in evaluation
    card = loans_ws.runs.read_artifact(result.run_id, "model_card.html").decode()
    assert "Trained on synthetic loans." in card
    moves = result.what_if(frame.iloc[0].to_dict(), "credit_score", [450, 650, 850])
    assert len(moves) == 3


def test_reproduce_gives_the_same_metrics(loans_ws: Workspace) -> None:
    spec = {**SPEC, "budget": {"trials": 3}, "behavioural_tests": [], "fairness": None}
    first = loans_ws.train(spec, executor="local:1")
    again, comparison = loans_ws.reproduce(first.run_id, executor="local:1")
    assert again.run_id != first.run_id
    assert loans_ws.runs.get(again.run_id).tags["reproduces"] == first.run_id
    assert comparison and all(row["equal"] for row in comparison)


@pytest.mark.parametrize("change, message", [
    ({"target": "nope"}, "target 'nope' is not a column"),
    ({"candidates": [{"family": "quantum_forest"}]}, "quantum_forest"),
    ({"candidates": [{"family": "random_forest", "params": {"max_depth": {"low": 9,
                                                                          "high": 3}}}]},
     "max_depth"),
    ({"transforms": [{"columns": ["ghost"], "scale": "standard"}]}, "ghost"),
    ({"behavioural_tests": [{"type": "invariance", "column": "ghost", "values": [1]}]},
     "ghost"),
    ({"metric": "happiness"}, "happiness"),
    ({"dataset": "loans@9"}, "no version 9"),
])
def test_bad_specs_are_refused_before_any_training(loans_ws: Workspace, change, message
                                                   ) -> None:
    from gapless import GaplessError

    with pytest.raises(GaplessError, match=message):
        loans_ws.train({**SPEC, **change}, executor="local:1")
    assert loans_ws.runs.search() == []  # refused before a run was even started


def test_a_class_smaller_than_the_folds_is_refused(workspace: Workspace) -> None:
    frame = make_loans(300, seed=1)
    frame["defaulted"] = [1 if i < 4 else 0 for i in range(len(frame))]
    workspace.data.add("rare", frame)
    with pytest.raises(ValidationError, match="fold"):
        workspace.train({"dataset": "rare@1", "target": "defaulted", "split": {
            "method": "random"}, "cv": {"folds": 5}}, executor="local:1")


def test_constant_target_is_refused(workspace: Workspace) -> None:
    frame = make_loans(300, seed=1).assign(defaulted=0)
    workspace.data.add("flat", frame)
    with pytest.raises(ValidationError, match="1 distinct value"):
        workspace.train({"dataset": "flat@1", "target": "defaulted"}, executor="local:1")


def test_a_crashing_trial_is_recorded_and_the_search_goes_on(loans_ws: Workspace) -> None:
    spec = {**SPEC, "budget": {"trials": 4}, "behavioural_tests": [], "fairness": None,
            # liblinear with an l1 ratio it cannot take: every logistic trial fails at fit.
            "candidates": [{"family": "logistic_regression",
                            "params": {"solver": "lbfgs", "l1_ratio": 0.5, "C": 1.0}},
                           {"family": "decision_tree"}]}
    result = loans_ws.train(spec, executor="local:1")
    assert result.best_family == "decision_tree"
    failed = loans_ws.runs.search(f"parent_id = '{result.run_id}' and tags.state = 'failed'")
    assert failed and all(run.status == "FAILED" and run.tags["error"] for run in failed)


@pytest.mark.slow
def test_trials_run_on_a_real_dask_local_cluster(loans_ws: Workspace) -> None:
    pytest.importorskip("distributed")
    spec = {**SPEC, "budget": {"trials": 4}, "behavioural_tests": [], "fairness": None}
    result = loans_ws.train(spec, executor="dask-local:2")
    assert sum(result.trials.values()) == 4 and result.trials["complete"] >= 1


def test_regression_and_clustering_tasks(loans_ws: Workspace) -> None:
    regression = loans_ws.train({
        "dataset": "loans@1", "target": "interest_rate", "budget": {"trials": 3},
        "cv": {"folds": 3}, "features": {"exclude": ["customer_id", "defaulted"]},
        "candidates": [{"family": "ridge"}, {"family": "decision_tree"}],
    }, executor="local:1")
    assert regression.problem == "regression" and regression.metric == "rmse"
    assert regression.test_metrics["rmse"] < regression.baseline_test_metrics["rmse"]
    clustering = loans_ws.train({
        "dataset": "loans@1", "problem": "clustering", "budget": {"trials": 3},
        "cv": {"folds": 2}, "clusters": 3, "candidates": [{"family": "kmeans"}],
        "features": {"include": ["age", "income", "loan_amount", "credit_score"]},
    }, executor="local:1")
    assert clustering.problem == "clustering" and clustering.test_metrics["clusters"] == 3

"""``workspace.models`` over real training runs: what a version carries, how aliases move
through gates, overrides, rollback and the audit log, and how models come in and go out.

Training is the slow part, so one workspace with two trained versions of ``loans`` is
built per module; tests that move aliases use their own alias or model names, so they
do not depend on the order they run in.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from gapless import Workspace
from gapless.core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    PromotionRefusedError,
    SecurityError,
    ValidationError,
)
from gapless.core.identity import current_user
from gapless.data.sample_data import make_loans

# Fewer columns than make_loans gives keeps the explanations computed at training quick.
COLUMNS = ["application_id", "customer_id", "applied_at", "region", "employment", "income",
           "credit_score", "loan_amount", "defaulted"]
SPEC: dict[str, Any] = {
    "dataset": "loans@1", "target": "defaulted",
    "features": {"exclude": ["customer_id", "application_id"]},
    "budget": {"trials": 2}, "cv": {"folds": 2}, "imbalance": {"tune_threshold": False},
    "candidates": [{"family": "logistic_regression", "params": {"max_iter": 200}}],
}


@dataclass(frozen=True)
class Trained:
    ws: Workspace
    first: Any  # TrainResult of loans@1 (logistic regression)
    second: Any  # TrainResult of loans@2 (decision tree, another seed)
    rows: pd.DataFrame  # feature rows to predict on


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("METADATA_URI", "ARTIFACT_URI", "ONLINE_URI", "COMPUTE_URI", "WORKSPACE",
                     "ENCRYPTION_KEY", "ADMINS", "USER"):
            env.delenv(f"GAPLESS_{name}", raising=False)
        root = tmp_path_factory.mktemp("registry") / "ws"
        ws = Workspace.init(root, admins=["alice"])
        loans = make_loans(600, seed=1)[COLUMNS]
        ws.data.add("loans", loans, time_column="applied_at")
        first = ws.train(SPEC, executor="local:1", register="loans")
        second = ws.train({**SPEC, "candidates": [{"family": "decision_tree"}], "seed": 7},
                          executor="local:1", register="loans")
        try:
            yield Trained(ws, first, second, loans.drop(columns=["defaulted"]).head(50))
        finally:
            ws.close()


@pytest.fixture
def ws(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for name in ("USER", "ENCRYPTION_KEY", "ADMINS"):
        monkeypatch.delenv(f"GAPLESS_{name}", raising=False)
    return trained.ws


def _fresh(ws: Workspace, name: str, *run_ids: str) -> None:
    """A model of its own (``name@1..n`` from these runs), for tests that move aliases."""
    for run_id in run_ids:
        ws.models.register(run_id, name)


class Sneaky(ClassifierMixin, BaseEstimator):
    """A type outside gapless's trusted set: skops can save it, gapless must not load it."""

    def __init__(self, answer: int = 0) -> None:
        self.answer = answer

    def fit(self, X: Any, y: Any) -> Sneaky:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.answer)


# -- what a version carries -----------------------------------------------------------------
def test_training_with_register_numbers_the_versions(trained: Trained, ws: Workspace) -> None:
    assert (trained.first.registered, trained.second.registered) == ("loans@1", "loans@2")
    first, second = ws.models.versions("loans")[:2]
    assert (first.run_id, second.run_id) == (trained.first.run_id, trained.second.run_id)
    assert ws.models.get("loans@latest").version >= 2
    assert first.format == "skops" and not first.encrypted and first.source == "run"
    assert first.tags["best_family"] == "logistic_regression"
    assert second.tags["best_family"] == "decision_tree"
    assert any(m["name"] == "loans" for m in ws.models.list())


def test_a_version_carries_its_signature(ws: Workspace) -> None:
    signature = ws.models.get("loans@1").signature
    inputs = {c["name"]: c for c in signature["inputs"]}
    assert "defaulted" not in inputs
    score = inputs["credit_score"]
    assert score["type"] == "float"
    assert score["minimum"] < score["maximum"]
    assert set(inputs["region"]["categories"]) >= {"north", "south"}
    assert inputs["employment"]["categories"] == sorted(inputs["employment"]["categories"])
    assert inputs["applied_at"]["type"] == "datetime"
    assert signature["output"]["problem"] == "binary"
    assert signature["output"]["classes"] == [0, 1]


def test_a_version_carries_lineage_metrics_and_evaluation_facts(trained: Trained,
                                                                ws: Workspace) -> None:
    version = ws.models.get("loans@1")
    dataset = ws.data.get("loans@1")
    lineage = version.lineage
    assert lineage["run_id"] == trained.first.run_id
    assert lineage["dataset"] == "loans@1" and lineage["dataset_digest"] == dataset.digest
    assert "git_commit" in lineage and lineage["spec_digest"]
    assert 0.5 < version.metrics["test_roc_auc"] <= 1.0
    assert "cv_roc_auc" in version.metrics
    facts = version.evaluation
    assert facts["problem"] == "binary" and facts["metric"] == "roc_auc"
    assert facts["direction"] == "maximize" and facts["dataset"] == "loans@1"
    assert facts["behavioural_passed"] is None and facts["fairness_failures"] == []


def test_lineage_runs_from_the_version_back_to_the_source(trained: Trained,
                                                          ws: Workspace) -> None:
    chain = ws.models.lineage("loans@1")
    assert [step["kind"] for step in chain] == ["version", "run", "commit", "dataset", "source"]
    version, run, commit, dataset, source = chain
    assert version["name"] == "loans@1"
    assert version["digest"] == ws.models.get("loans@1").model_digest
    assert run["name"] == trained.first.run_id
    assert commit["name"]  # a commit hash, or "not in git"
    assert dataset["name"] == "loans@1" and dataset["digest"] == ws.data.get("loans@1").digest
    assert source["name"] == "python:pandas.DataFrame"


def test_load_and_load_run_give_the_same_model(trained: Trained, ws: Workspace) -> None:
    registered = ws.models.load("loans@1").predict_proba(trained.rows)
    from_run = ws.models.load_run(trained.first.run_id).predict_proba(trained.rows)
    np.testing.assert_allclose(registered, from_run)
    assert registered.shape == (len(trained.rows), 2)


# -- what cannot be registered ------------------------------------------------------------
def test_a_run_without_a_model_cannot_be_registered(ws: Workspace) -> None:
    with ws.runs.start_run("exp", "no model here", parent=None) as run:
        run.log_metrics({"test_roc_auc": 0.9})
    with pytest.raises(ValidationError, match="has no model"):
        ws.models.register(run.id, "empty")
    with pytest.raises(NotFoundError, match="no registered model named 'empty'"):
        ws.models.get("empty")
    with pytest.raises(NotFoundError, match="no model artifact"):
        ws.models.load_run(run.id)


def test_a_model_name_must_be_valid(trained: Trained, ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="not valid"):
        ws.models.register(trained.first.run_id, "../escape")


def test_a_run_whose_model_needs_untrusted_types_is_refused(ws: Workspace,
                                                            tmp_path: Path) -> None:
    import skops.io

    path = tmp_path / "model.skops"
    path.write_bytes(skops.io.dumps(Sneaky().fit([[0], [1]], [0, 1])))
    with ws.runs.start_run("exp", "sneaky", parent=None) as run:
        run.log_artifact(path, artifact_path="model")
    with pytest.raises(SecurityError, match="Sneaky"):
        ws.models.register(run.id, "sneaky-run")
    with pytest.raises(NotFoundError):
        ws.models.get("sneaky-run")


# -- aliases and gates ----------------------------------------------------------------------
def test_an_alias_needs_an_existing_version_and_a_word(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="has no version 99; its latest is"):
        ws.models.alias("loans@99", "nowhere")
    with pytest.raises(NotFoundError, match="no registered model named 'ghost'"):
        ws.models.promote("ghost@1", "production", reason="x")
    for bad in ("latest", "7"):
        with pytest.raises(ValidationError, match="would read as a version"):
            ws.models.alias("loans@1", bad)
    with pytest.raises(NotFoundError, match="has no alias 'never-set'"):
        ws.models.get("loans@never-set")


def test_a_promotion_needs_a_reason(trained: Trained, ws: Workspace) -> None:
    _fresh(ws, "reasons", trained.first.run_id)
    for reason in ("", "   "):
        with pytest.raises(ValidationError, match="needs a reason"):
            ws.models.promote("reasons@1", "production", reason=reason)
    assert ws.models.history("reasons", "production") == []


def test_promote_then_read_by_alias_and_history(trained: Trained, ws: Workspace) -> None:
    _fresh(ws, "plain", trained.first.run_id, trained.second.run_id)
    moved = ws.models.promote("plain@1", "production", reason="first release")
    assert (moved.from_version, moved.to_version, moved.outcome) == (None, 1, "applied")
    assert {g["gate"] for g in moved.gates} >= {"behavioural tests", "fairness",
                                                "data validation"}
    assert ws.models.get("plain@production").version == 1
    with pytest.raises(ConflictError, match="already points at version 1"):
        ws.models.promote("plain@1", "production", reason="again")
    (entry,) = ws.models.history("plain", "production")
    assert (entry.action, entry.outcome, entry.reason) == ("promote", "applied", "first release")
    assert entry.actor == current_user() and entry.gates


def test_failing_gates_refuse_and_list_every_reason(trained: Trained, ws: Workspace) -> None:
    _fresh(ws, "gated", trained.first.run_id)
    gates = {"metrics": {"roc_auc": {"min": 0.999}, "accuracy": {"min": 0.999}}}
    with pytest.raises(PromotionRefusedError) as refused:
        ws.models.promote("gated@1", "production", reason="try", gates=gates)
    message = str(refused.value)
    assert "metric roc_auc" in message and "metric accuracy" in message
    assert "< min 0.999" in message
    failed = {g["gate"] for g in refused.value.gates if not g["passed"]}
    assert failed == {"metric roc_auc", "metric accuracy"}
    assert ws.models.check_gates("gated@1", "production", gates) == refused.value.gates
    (entry,) = ws.models.history("gated", "production")
    assert (entry.outcome, entry.to_version, entry.reason) == ("refused", 1, "try")
    assert {g["gate"] for g in entry.gates if not g["passed"]} == failed
    with pytest.raises(NotFoundError):
        ws.models.get("gated@production")


def test_gates_come_from_a_yaml_file_per_alias(trained: Trained, ws: Workspace,
                                               tmp_path: Path) -> None:
    _fresh(ws, "per-alias", trained.first.run_id)
    path = tmp_path / "gates.yaml"
    path.write_text("aliases:\n  production:\n    metrics: {roc_auc: {min: 0.999}}\n"
                    "  default: {metrics: {roc_auc: {min: 0.5}}}\n")
    with pytest.raises(PromotionRefusedError, match="metric roc_auc"):
        ws.models.promote("per-alias@1", "production", reason="strict", gates=path)
    staged = ws.models.alias("per-alias@1", "staging", gates=str(path))
    assert staged.outcome == "applied"
    assert [g for g in staged.gates if g["gate"] == "metric roc_auc"][0]["passed"]


def _run_on(workspace: Workspace, dataset: str, folder: Path) -> str:
    """A hand-made run that trained on ``dataset``: enough for the data-validation gate."""
    from sklearn.dummy import DummyClassifier

    from gapless.registry.packaging import pack

    folder.mkdir(exist_ok=True)
    path = folder / "model.skops"
    path.write_bytes(pack(DummyClassifier().fit([[0], [1]], [0, 1]), None).data)
    with workspace.runs.start_run("exp", f"on {dataset}", parent=None) as run:
        run.log_params({"dataset": dataset})
        run.log_artifact(path, artifact_path="model")
    return run.id


def test_the_data_validation_gate_follows_the_lineage(workspace: Workspace,
                                                      tmp_path: Path) -> None:
    frame = pd.DataFrame({"income": [1.0, None, 3.0, 4.0] * 5, "region": ["n", "s"] * 10})
    raw = workspace.data.add("raw", frame).version.ref
    unchecked = _run_on(workspace, raw, tmp_path / "a")
    workspace.models.register(unchecked, "m")
    strict = {"data_validation": "passed"}
    with pytest.raises(PromotionRefusedError, match="no validation recorded"):
        workspace.models.promote("m@1", "production", reason="x", gates=strict)
    workspace.data.validate(raw, {"columns": {"income": {"not_null": True}}}, on_fail="warn")
    with pytest.raises(PromotionRefusedError, match="raw@1 failed its last validation"):
        workspace.models.promote("m@1", "production", reason="x")
    cleaned = workspace.data.clean(raw, {"missing": {"income": {"strategy": "mean"}}})
    workspace.models.register(_run_on(workspace, cleaned.version.ref, tmp_path / "b"), "m")
    with pytest.raises(PromotionRefusedError, match="raw@1 failed"):
        workspace.models.promote("m@2", "production", reason="inherits its source's verdict")
    workspace.data.validate(cleaned.version, {"columns": {"income": {"not_null": True}}},
                            on_fail="warn")
    moved = workspace.models.promote("m@2", "production", reason="cleaned and validated",
                                     gates=strict)
    (gate,) = [g for g in moved.gates if g["gate"] == "data validation"]
    assert gate["passed"] and f"{cleaned.version.ref} passed" in gate["detail"]


def test_only_an_admin_with_a_reason_may_override(trained: Trained, ws: Workspace,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(ws, "override", trained.first.run_id)
    gates = {"metrics": {"roc_auc": {"min": 0.999}}}
    monkeypatch.setenv("GAPLESS_USER", "bob")
    with pytest.raises(SecurityError, match="'bob' is not an admin"):
        ws.models.promote("override@1", "production", reason="trust me", gates=gates,
                          override=True)
    monkeypatch.setenv("GAPLESS_USER", "alice")
    with pytest.raises(SecurityError, match="reason is missing"):
        ws.models.alias("override@1", "production", gates=gates, override=True)
    applied = ws.models.promote("override@1", "production", reason="hotfix, signed off",
                                gates=gates, override=True)
    assert applied.outcome == "overridden" and applied.to_version == 1
    assert ws.models.get("override@production").version == 1
    entries = ws.models.history("override", "production")
    assert [(e.actor, e.outcome) for e in entries] == [
        ("bob", "refused"), ("alice", "refused"), ("alice", "overridden")]
    assert entries[-1].reason == "hotfix, signed off"
    assert any(not g["passed"] for g in entries[-1].gates)


def test_beat_current_scores_both_models_on_the_same_rows(trained: Trained,
                                                          ws: Workspace) -> None:
    from sklearn.metrics import roc_auc_score

    _fresh(ws, "contest", trained.first.run_id, trained.second.run_id)
    ws.models.alias("contest@1", "champion", reason="holder")
    X, y, problem = ws.models.evaluation_rows(ws.models.get("contest@2"), None)
    assert problem == "binary"
    expected = [roc_auc_score(y, ws.models.load(f"contest@{v}").predict_proba(X)[:, 1])
                for v in (2, 1)]
    lenient = {"beat_current": {"metric": "roc_auc", "delta": -1.0}}
    (result,) = [g for g in ws.models.check_gates("contest@2", "champion", lenient)
                 if g["gate"] == "beat current on roc_auc"]
    assert result["passed"]
    assert f"{expected[0]:.4g} vs version 1's {expected[1]:.4g}" in result["detail"]
    assert f"on the same {len(X)} rows" in result["detail"]
    strict = {"beat_current": {"metric": "roc_auc", "delta": 1.0}}
    with pytest.raises(PromotionRefusedError, match="beat current on roc_auc"):
        ws.models.alias("contest@2", "champion", gates=strict)
    assert ws.models.get("contest@champion").version == 1
    moved = ws.models.alias("contest@2", "champion", gates=lenient)
    assert (moved.from_version, moved.to_version) == (1, 2)


def test_beat_current_passes_when_nothing_holds_the_alias(trained: Trained,
                                                          ws: Workspace) -> None:
    _fresh(ws, "first-holder", trained.second.run_id)
    results = ws.models.check_gates("first-holder@1", "production",
                                    {"beat_current": {"metric": "roc_auc", "delta": 0.5}})
    (gate,) = [g for g in results if g["gate"].startswith("beat current")]
    assert gate["passed"] and "no holder" in gate["detail"]


def test_rollback_walks_back_through_the_holders(trained: Trained, ws: Workspace) -> None:
    _fresh(ws, "stack", trained.first.run_id, trained.second.run_id)
    with pytest.raises(ValidationError, match="holders so far: none"):
        ws.models.rollback("stack")
    for version in (1, 2, 1):
        ws.models.promote(f"stack@{version}", "production", reason=f"release {version}")
    with pytest.raises(ValidationError, match="no previous holder"):
        ws.models.rollback("stack", "staging")
    back = ws.models.rollback("stack", reason="bad release")
    assert (back.from_version, back.to_version, back.outcome) == (1, 2, "applied")
    assert ws.models.get("stack@production").version == 2
    further = ws.models.rollback("stack")
    assert (further.from_version, further.to_version) == (2, 1)
    with pytest.raises(ValidationError, match="no previous holder"):
        ws.models.rollback("stack")
    assert ws.models.get("stack@production").version == 1
    actions = [(e.action, e.from_version, e.to_version, e.outcome)
               for e in ws.models.history("stack", "production")]
    assert actions[-2:] == [("rollback", 1, 2, "applied"), ("rollback", 2, 1, "applied")]


def test_remove_alias_clears_it_and_is_logged(trained: Trained, ws: Workspace) -> None:
    _fresh(ws, "removable", trained.first.run_id)
    ws.models.alias("removable@1", "canary")
    removed = ws.models.remove_alias("removable", "canary", reason="done")
    assert (removed.from_version, removed.to_version) == (1, None)
    with pytest.raises(NotFoundError, match="has no alias 'canary'"):
        ws.models.get("removable@canary")
    with pytest.raises(NotFoundError):
        ws.models.remove_alias("removable", "canary")
    assert [(e.action, e.outcome) for e in ws.models.history("removable", "canary")] == [
        ("alias", "applied"), ("remove", "applied")]


# -- importing model files ------------------------------------------------------------------
def _fitted_logistic(trained: Trained) -> Any:
    from sklearn.linear_model import LogisticRegression

    X = trained.rows[["income", "loan_amount"]].fillna(0)
    return LogisticRegression(max_iter=500).fit(X, np.arange(len(X)) % 2), X


def test_a_pickle_is_refused_without_trust(trained: Trained, ws: Workspace,
                                           tmp_path: Path) -> None:
    model, _ = _fitted_logistic(trained)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    runs_before = len(ws.runs.search(experiment="imports"))
    with pytest.raises(SecurityError, match="pickle"):
        ws.models.import_file(path, "pickled")
    with pytest.raises(NotFoundError):
        ws.models.get("pickled")
    assert len(ws.runs.search(experiment="imports")) == runs_before


def test_a_trusted_pickle_is_registered_with_who_vouched(trained: Trained, ws: Workspace,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    model, X = _fitted_logistic(trained)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    monkeypatch.setenv("GAPLESS_USER", "carol")
    version = ws.models.import_file(path, "trusted-pickle", trust=True)
    assert version.ref == "trusted-pickle@1" and version.trusted_by == "carol"
    assert version.source == "file"
    np.testing.assert_allclose(ws.models.load(version).predict_proba(X), model.predict_proba(X))
    chain = ws.models.lineage(version)
    assert chain[0]["kind"] == "version" and chain[-1]["kind"] == "source"
    assert chain[-1]["name"] == str(path.resolve())


@pytest.mark.parametrize("saved_as", ["pickle protocol 1", "joblib compress=3",
                                      "joblib gzip"])
def test_other_trusted_pickle_and_joblib_files_are_imported(trained: Trained, ws: Workspace,
                                                           tmp_path: Path,
                                                           saved_as: str) -> None:
    """What people actually have on disk: old-protocol pickles and compressed joblib files
    (joblib's default zlib level 3 starts with b"x^", gzip with 1f 8b)."""
    import joblib

    model, X = _fitted_logistic(trained)
    if saved_as.startswith("pickle"):
        path = tmp_path / "model.pkl"
        path.write_bytes(pickle.dumps(model, protocol=1))
    else:
        path = tmp_path / "model.joblib"
        joblib.dump(model, path, compress=3 if saved_as.endswith("=3") else ("gzip", 3))
    name = "imported-" + saved_as.replace(" ", "-").replace("=", "")
    with pytest.raises(SecurityError):
        ws.models.import_file(path, name)
    version = ws.models.import_file(path, name, trust=True)
    assert version.trusted_by == current_user()
    np.testing.assert_allclose(ws.models.load(version).predict_proba(X), model.predict_proba(X))


def test_a_skops_file_of_untrusted_types_is_refused(ws: Workspace, tmp_path: Path) -> None:
    import skops.io

    path = tmp_path / "sneaky.skops"
    path.write_bytes(skops.io.dumps(Sneaky(answer=1).fit([[0], [1]], [0, 1])))
    with pytest.raises(SecurityError, match="Sneaky"):
        ws.models.import_file(path, "sneaky")
    with pytest.raises(NotFoundError):
        ws.models.get("sneaky")
    with pytest.raises(NotFoundError, match="does not exist"):
        ws.models.import_file(tmp_path / "missing.skops", "missing")


# -- exporting a bundle -----------------------------------------------------------------------
def test_an_exported_bundle_imports_into_another_workspace(trained: Trained, ws: Workspace,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    report = ws.models.export("loans@1", out, format="bundle")
    assert Path(report["path"]) == out
    assert {"model.json", "model.skops", "signature.json", "requirements.txt",
            "Dockerfile"} <= {p.name for p in out.iterdir()}
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["lineage"]["run_id"] == trained.first.run_id
    expected = ws.models.load("loans@1").predict_proba(trained.rows)
    with Workspace.init(tmp_path / "elsewhere") as other:
        version = other.models.import_bundle(out, alias="production")
        assert version.ref == "loans@1"
        assert other.models.get("loans@production").version == 1
        np.testing.assert_allclose(other.models.load(version).predict_proba(trained.rows),
                                   expected)
        assert version.signature == ws.models.get("loans@1").signature
        assert trained.first.run_id in json.dumps(version.lineage)
        assert trained.first.run_id in json.dumps(other.models.lineage(version))


def test_a_tampered_bundle_is_refused(ws: Workspace, tmp_path: Path) -> None:
    from gapless.registry.export import export_bundle, read_bundle

    out = tmp_path / "bundle"
    export_bundle(ws.models, ws.models.get("loans@1"), out)
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    model_file = tampered / "model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="altered or truncated"):
        read_bundle(tampered)
    truncated = tmp_path / "truncated"
    shutil.copytree(out, truncated)
    (truncated / "model.skops").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(IntegrityError):
        read_bundle(truncated)
    manifest, _ = read_bundle(out)
    assert manifest["name"] == "loans" and manifest["version"] == 1
    with Workspace.init(tmp_path / "elsewhere") as other:
        with pytest.raises(IntegrityError):
            other.models.import_bundle(tampered)
        with pytest.raises(NotFoundError):
            other.models.get("loans")

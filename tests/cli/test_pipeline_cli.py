"""``gapless pipeline run|list|show`` on a YAML spec of built-in steps: ingest, validate,
clean, train, register, promote, deploy and batch-predict a generated loans table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.data.sample_data import make_loans

runner = CliRunner()

TRAIN = {"target": "defaulted", "dataset": "placeholder@1",
         "features": {"exclude": ["customer_id", "application_id"]},
         "budget": {"trials": 2}, "cv": {"folds": 2},
         "candidates": [{"family": "logistic_regression", "params": {"max_iter": 300}}]}
SCHEMA = {"columns": {"application_id": {"not_null": True}, "age": {"min": 18, "max": 100}}}
CLEANING = {"duplicates": True, "missing": {"income": {"strategy": "median"}},
            "outliers": {"age": {"method": "iqr", "factor": 3, "action": "drop"}}}
PIPELINE = {
    "name": "loans-weekly",
    "params": {"model": "loans"},
    "steps": [
        {"name": "ingest", "uses": "ingest",
         "with": {"name": "loans", "source": "raw/loans.csv", "time_column": "applied_at"}},
        {"name": "validate", "uses": "validate",
         "with": {"dataset": "${steps.ingest.dataset}", "schema": "schema.yaml",
                  "on_fail": "quarantine"}},
        {"name": "clean", "uses": "clean",
         "with": {"dataset": "${steps.validate.dataset}", "spec": "cleaning.yaml"}},
        {"name": "revalidate", "uses": "validate",  # the registry's data gate reads it
         "with": {"dataset": "${steps.clean.dataset}", "schema": "schema.yaml"}},
        {"name": "train", "uses": "train",
         "with": {"spec": "train.yaml", "dataset": "${steps.revalidate.dataset}",
                  "executor": "local:1"}},
        {"name": "register", "uses": "register",
         "with": {"run_id": "${steps.train.run_id}", "model": "${params.model}"}},
        {"name": "promote", "uses": "promote",
         "with": {"version": "${steps.register.version}", "alias": "staging",
                  "gates": {"aliases": {"staging": {"metrics": {"roc_auc": {"min": 0.5}}}}}}},
        {"name": "deploy", "uses": "deploy",  # only what the gates let through
         "with": {"endpoint": "loans", "model": "${steps.promote.version}"}},
        {"name": "score", "uses": "batch_predict",
         "with": {"endpoint": "loans", "input": "${steps.clean.dataset}",
                  "output": "scores.parquet"}, "needs": ["deploy"]},
    ],
}


@pytest.mark.slow
def test_pipeline_of_built_in_steps_runs_caches_and_is_listed(workspace: Workspace,
                                                              tmp_path: Path) -> None:
    root = workspace.root
    (root / "raw").mkdir()
    make_loans(800, seed=3).to_csv(root / "raw" / "loans.csv", index=False)
    for name, content in (("schema.yaml", SCHEMA), ("cleaning.yaml", CLEANING),
                          ("train.yaml", TRAIN), ("pipeline.yaml", PIPELINE)):
        (root / name).write_text(yaml.safe_dump(content), encoding="utf-8")
    args = ["-w", str(root), "pipeline"]
    out = tmp_path / "run.json"
    first = runner.invoke(app, [*args, "run", str(root / "pipeline.yaml"), "--executor",
                                "local:1", "--json", str(out)])
    assert first.exit_code == 0, first.output
    record = json.loads(out.read_text())
    steps = {s["step"]: s for s in record["steps"]}
    assert {s["status"] for s in steps.values()} == {"succeeded"}
    assert steps["register"]["outputs"] == {"version": "loans@1"}
    assert steps["score"]["outputs"]["rows"] == steps["clean"]["outputs"]["rows"]
    assert "pipeline loans-weekly" in first.output and "succeeded" in first.output
    with Workspace(root) as ws:
        assert ws.models.get("loans@staging").version == 1
        assert ws.deployments.get("loans").spec.variants[0].model == "loans@1"
        assert ws.data.get("loans@2").parents == ("loans@1",)
    again = runner.invoke(app, [*args, "run", str(root / "pipeline.yaml"),
                                "--executor", "local:1"])
    assert again.exit_code == 0 and again.output.count("cached") >= 9
    listed = runner.invoke(app, [*args, "list"])
    assert listed.exit_code == 0 and listed.output.count("loans-weekly") == 2
    assert "9 cached" in listed.output and "9 succeeded" in listed.output
    shown = runner.invoke(app, [*args, "show", record["id"][:8], "--logs"])
    assert shown.exit_code == 0 and "registered loans@1" in shown.output


def test_a_failed_run_exits_1_and_resumes(workspace: Workspace, tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump({"name": "gated", "steps": [
        {"name": "gate", "uses": "python:pipelines.user_steps:fail_unless_file",
         "with": {"path": str(flag)}}]}), encoding="utf-8")
    args = ["-w", str(workspace.root), "pipeline"]
    failed = runner.invoke(app, [*args, "run", str(spec), "--executor", "local:1"])
    assert failed.exit_code == 1 and "is not there yet" in failed.output
    run_id = workspace.pipelines.runs()[0].id
    flag.touch()
    resumed = runner.invoke(app, [*args, "run", "--resume", run_id[:8], "--executor",
                                  "local:1"])
    assert resumed.exit_code == 0, resumed.output
    assert f"resumes {run_id[:8]}" in resumed.output
    nothing = runner.invoke(app, [*args, "run"])
    assert nothing.exit_code == 2 or "give a pipeline spec" in str(nothing.exception)
    bad = runner.invoke(app, [*args, "show", "zzzz"])
    assert "no pipeline run 'zzzz'" in str(bad.exception)

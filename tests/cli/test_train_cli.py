"""``gapless train`` and ``gapless models what-if`` as a user runs them."""

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


@pytest.fixture
def spec_file(workspace: Workspace, tmp_path: Path) -> Path:
    workspace.data.add("loans", make_loans(1200, seed=2), time_column="applied_at")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({
        "dataset": "loans@1", "target": "defaulted", "budget": {"trials": 3},
        "cv": {"folds": 3}, "candidates": [{"family": "decision_tree"}],
    }))
    return path


def test_train_prints_results_and_writes_the_card(workspace: Workspace, spec_file: Path,
                                                  tmp_path: Path) -> None:
    card = tmp_path / "card.html"
    result = runner.invoke(app, ["-w", str(workspace.root), "train", str(spec_file),
                                 "--executor", "local:1", "--card", str(card)])
    assert result.exit_code == 0, result.output
    assert "decision_tree" in result.output and "roc_auc" in result.output
    assert "<html" in card.read_text()
    (run,) = workspace.runs.search("parent_id is null")
    again = runner.invoke(app, ["-w", str(workspace.root), "train", "--reproduce", run.id[:8],
                                "--executor", "local:1"])
    assert again.exit_code == 0, again.output
    assert "reproduced exactly" in again.output
    row = make_loans(50, seed=9).drop(columns=["defaulted"]).iloc[0].to_dict()
    asked = runner.invoke(app, ["-w", str(workspace.root), "models", "what-if", run.id,
                                "--row", json.dumps(row, default=str), "--feature", "age",
                                "--values", "[25, 45, 65]"])
    assert asked.exit_code == 0, asked.output
    assert "25" in asked.output and "65" in asked.output


def test_bad_spec_is_a_one_line_error(workspace: Workspace, tmp_path: Path, gapless_cli
                                      ) -> None:
    workspace.data.add("loans", make_loans(300, seed=2))
    path = tmp_path / "spec.yaml"
    path.write_text("dataset: loans@1\ntarget: defaulted\ncandidates:\n  - family: warp_drive\n")
    done = gapless_cli("-w", str(workspace.root), "train", str(path))
    assert done.returncode == 2 and "warp_drive" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

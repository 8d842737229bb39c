"""``gapless recommend train|for|batch``."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.recsys.sample_data import make_tourism, write_tourism

runner = CliRunner()


def test_train_ask_and_batch(workspace: Workspace, tmp_path: Path) -> None:
    data = make_tourism(150, 60, 2500, seed=3)
    refs = write_tourism(workspace, data)
    spec = tmp_path / "recommend.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": refs["visits"], "items": refs["destinations"], "k": 5,
        "candidates": [{"family": "item_knn"}, {"family": "content"}],
        "budget": {"trials": 2}}), encoding="utf-8")
    args = ["-w", str(workspace.root), "recommend"]
    trained = runner.invoke(app, [*args, "train", str(spec), "--register", "tourism"])
    assert trained.exit_code == 0, trained.output
    assert "popularity (baseline)" in trained.output and "registered as tourism@1" in \
        trained.output
    user = data.visits["user_id"].iloc[0]
    asked = runner.invoke(app, [*args, "for", "tourism@1", user, "nobody", "-k", "3"])
    assert asked.exit_code == 0, asked.output
    assert "popularity (unknown user)" in asked.output
    done = runner.invoke(app, [*args, "batch", "tourism@1", "-k", "2", "--record", "top2"])
    assert done.exit_code == 0, done.output
    assert "stored as top2@1" in done.output
    bad = runner.invoke(app, [*args, "train", str(tmp_path / "missing.yaml")])
    assert "missing.yaml: no such file" in str(bad.exception)

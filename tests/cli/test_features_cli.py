"""``gapless features apply|list|training-set``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app

runner = CliRunner()


def test_apply_list_and_build_a_training_set(workspace: Workspace, tmp_path: Path) -> None:
    t0 = pd.Timestamp("2026-11-01")
    workspace.data.add("events", pd.DataFrame({
        "customer_id": ["a", "a", "b"], "event_time": [t0, t0 + pd.Timedelta("1D"), t0],
        "amount": [1.0, 2.0, 5.0]}))
    spec = tmp_path / "views.yaml"
    spec.write_text(yaml.safe_dump({"views": [{
        "name": "activity", "entities": ["customer_id"], "timestamp": "event_time",
        "source": {"dataset": "events"}, "features": [{"name": "amount"}]}]}),
        encoding="utf-8")
    args = ["-w", str(workspace.root), "features"]
    first = runner.invoke(app, [*args, "apply", str(spec)])
    assert first.exit_code == 0 and "activity@1: registered" in first.output
    again = runner.invoke(app, [*args, "apply", str(spec)])
    assert "activity@1: unchanged" in again.output
    listed = runner.invoke(app, [*args, "list"])
    assert listed.exit_code == 0 and "activity@1" in listed.output
    entities = tmp_path / "entities.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "at": ["2026-11-01T12:00", "2026-10-31"]}).to_csv(
        entities, index=False)
    out = tmp_path / "train.parquet"
    built = runner.invoke(app, [*args, "training-set", str(entities), "-f", "activity:amount",
                                "--timestamp", "at", "--save-as", "train", "-o", str(out)])
    assert built.exit_code == 0, built.output
    assert "2 rows x 3 columns; saved as train@1" in built.output
    found = pd.read_parquet(out)
    assert found["amount"].iloc[0] == 1.0 and pd.isna(found["amount"].iloc[1])
    bad = runner.invoke(app, [*args, "training-set", str(entities), "-f", "activity:nope",
                              "--timestamp", "at"])
    assert "has no feature 'nope'" in str(bad.exception)


def test_materialize_and_get(workspace: Workspace) -> None:
    t0 = pd.Timestamp("2026-11-01")
    workspace.data.add("events", pd.DataFrame({
        "customer_id": ["a", "b"], "event_time": [t0, t0], "amount": [1.5, 2.5]}))
    workspace.features.apply({"name": "activity", "entities": ["customer_id"],
                              "timestamp": "event_time", "source": {"dataset": "events"},
                              "features": [{"name": "amount"}]})
    args = ["-w", str(workspace.root), "features"]
    done = runner.invoke(app, [*args, "materialize", "activity", "--until", "2026-11-02"])
    assert done.exit_code == 0, done.output
    assert "activity@1: 2 entities written" in done.output and "2 in the online store" \
        in done.output
    got = runner.invoke(app, [*args, "get", "activity", "-k", "a", "-k", "zz"])
    assert got.exit_code == 0, got.output
    assert 'a: {"amount": 1.5}' in got.output and 'zz: {"amount": null}' in got.output

"""Backfill: one run per partition with its bounds as parameters; idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from gapless import ValidationError, Workspace
from gapless.cli.main import app
from gapless.pipelines.backfill import partitions

SPEC = {"name": "daily-slices", "steps": [
    {"name": "slice", "uses": "select_rows",
     "with": {"dataset": "events@1", "column": "ts", "start": "${params.partition_start}",
              "end": "${params.partition_end}", "into": "events-${params.partition}"}},
    {"name": "mark", "uses": "python:pipelines.user_steps:count_calls",
     "with": {"path": "${params.out}/${params.partition}.txt"}, "needs": ["slice"]}]}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_partitions_are_aligned_and_bounded() -> None:
    days = partitions(utc("2026-11-01T05:00"), utc("2026-11-03"), "daily")
    assert [d[0] for d in days] == ["2026-11-01", "2026-11-02"]
    assert days[0][1] == utc("2026-11-01") and days[1][2] == utc("2026-11-03")
    months = partitions(utc("2026-11-15"), utc("2027-02-01"), "monthly")
    assert [m[0] for m in months] == ["2026-11", "2026-12", "2027-01"]
    weeks = partitions(utc("2026-11-25"), utc("2026-12-01"), "weekly")  # a Wednesday
    assert weeks[0][1] == utc("2026-11-23")  # the Monday before
    assert len(partitions(utc("2026-11-01"), utc("2026-11-01T03:00"), "hourly")) == 3
    with pytest.raises(ValidationError, match="ends .* before it starts"):
        partitions(utc("2026-11-02"), utc("2026-11-01"), "daily")
    with pytest.raises(ValidationError, match="expected one of hourly, daily"):
        partitions(utc("2026-11-01"), utc("2026-11-02"), "yearly")
    with pytest.raises(ValidationError, match="more than 1000 hourly partitions"):
        partitions(utc("2026-01-01"), utc("2026-12-01"), "hourly")


def test_backfill_runs_each_partition_once_and_again_changes_nothing(
        workspace: Workspace, tmp_path: Path) -> None:
    times = pd.date_range("2026-11-01", periods=72, freq="h", tz="UTC")
    workspace.data.add("events", pd.DataFrame({"ts": times, "value": range(72)}))
    spec = {**SPEC, "params": {"out": str(tmp_path)}}
    (workspace.root / "slices.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    args = ["-w", str(workspace.root), "pipeline", "backfill", str(workspace.root / "slices.yaml"),
            "--from", "2026-11-01", "--to", "2026-11-04", "--executor", "local:1"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2026-11-03" in first.output and first.output.count("2 succeeded") == 3
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        assert workspace.data.get(f"events-{day}@1").row_count == 24
        assert (tmp_path / f"{day}.txt").read_text() == "ran\n"
    versions = len(workspace.data.versions())
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and second.output.count("2 cached") == 3
    assert len(workspace.data.versions()) == versions
    assert all((tmp_path / f"{d}.txt").read_text() == "ran\n"
               for d in ("2026-11-01", "2026-11-02", "2026-11-03"))
    runs = workspace.pipelines.runs("daily-slices")
    assert sorted(r.trigger for r in runs)[:3] == [
        "backfill:2026-11-01", "backfill:2026-11-01", "backfill:2026-11-02"]
    bad = CliRunner().invoke(app, [*args[:5], "--from", "soon", "--to", "2026-11-04"])
    assert "--from 'soon': expected a date or time in ISO 8601" in str(bad.exception)

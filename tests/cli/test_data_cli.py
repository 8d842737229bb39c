"""``gapless data``: the CLI skin over workspace.data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app

runner = CliRunner()


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    pd.DataFrame({
        "id": range(100), "store": ["a", "b"] * 50, "amount": [i * 1.5 for i in range(100)],
        "day": pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d"),
    }).to_csv(path, index=False, sep=";")
    return path


def invoke(ws: Workspace, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["-w", str(ws.root), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_show_diff_lineage(workspace: Workspace, csv_file: Path) -> None:
    out = invoke(workspace, "data", "add", "sales", str(csv_file), "-t", "day",
                 "-d", "daily sales")
    assert "added sales@1: 100 rows x 4 columns" in out
    assert "identical to sales@1" in invoke(workspace, "data", "add", "sales", str(csv_file))
    smaller = csv_file.with_name("smaller.csv")
    pd.read_csv(csv_file, sep=";").iloc[:60].assign(extra=1).to_csv(smaller, index=False)
    assert "added sales@2: 60 rows x 5 columns" in invoke(workspace, "data", "add", "sales",
                                                          str(smaller))
    listing = invoke(workspace, "data", "list")
    assert "sales@2" in listing and "sales@1" not in listing
    assert "sales@1" in invoke(workspace, "data", "list", "sales")
    shown = invoke(workspace, "data", "show", "sales@1")
    assert "daily sales" in shown and "amount" in shown and "categorical" in shown
    diff = invoke(workspace, "data", "diff", "sales@1", "sales@latest")
    assert "100 -> 60 (-40)" in diff and "added columns: extra" in diff
    assert "source" in invoke(workspace, "data", "show", "sales@2", "--lineage")


def test_type_option_and_bad_input_exit_2(
    workspace: Workspace, tmp_path: Path, gapless_cli
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    out = invoke(workspace, "data", "add", "t", str(path), "--type", "b=float")
    assert "added t@1" in out
    assert Workspace(workspace.root).data.get("t@1").column("b")["type"] == "double"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    done = gapless_cli("-w", str(workspace.root), "data", "add", "bad", str(bad))
    assert done.returncode == 2 and "line 3" in done.stderr and "Traceback" not in done.stderr
    done = gapless_cli("-w", str(workspace.root), "data", "add", "t", str(path), "--type", "b")
    assert done.returncode == 2 and "NAME=VALUE" in done.stderr


@pytest.fixture
def loans_ws(workspace: Workspace) -> Workspace:
    from gapless.data.sample_data import make_loans

    workspace.data.add("loans", make_loans(1500, seed=1), time_column="applied_at")
    return workspace


def test_validate_writes_reports_and_exits_by_mode(loans_ws: Workspace, tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  application_id: {unique: true}\n  age: {max: 100}\n")
    html, json_path = tmp_path / "v.html", tmp_path / "v.json"
    failed = runner.invoke(app, ["-w", str(loans_ws.root), "data", "validate", "loans@1",
                                 "-s", str(schema), "--html", str(html), "--json", str(json_path)])
    assert failed.exit_code == 1 and "failed" in failed.output
    assert "<html" in html.read_text() and '"expectations"' in json_path.read_text()
    out = invoke(loans_ws, "data", "validate", "loans@1", "-s", str(schema), "--on-fail",
                 "quarantine")
    assert "quarantined" in out and "loans.quarantine@1" in out
    assert list((loans_ws.root / ".gapless" / "reports").glob("loans@1-validation-*.html"))
    passing = tmp_path / "ok.yaml"
    passing.write_text("columns:\n  region: {not_null: true}\n")
    assert "passed" in invoke(loans_ws, "data", "validate", "loans@1", "-s", str(passing))


def test_unknown_expectation_is_a_one_line_error(loans_ws: Workspace, tmp_path: Path,
                                                 gapless_cli) -> None:
    schema = tmp_path / "bad.yaml"
    schema.write_text("columns:\n  age: {minimum: 3}\n")
    done = gapless_cli("-w", str(loans_ws.root), "data", "validate", "loans@1", "-s", str(schema))
    assert done.returncode == 2
    assert "unknown expectation `minimum`" in done.stderr and "`age`" in done.stderr


def test_clean_and_profile_from_the_cli(loans_ws: Workspace, tmp_path: Path) -> None:
    spec = tmp_path / "clean.yaml"
    spec.write_text("duplicates: true\nmissing:\n  income: {strategy: median}\n")
    out = invoke(loans_ws, "data", "clean", "loans@1", "--spec", str(spec))
    assert "added loans@2" in out and "median" in out
    assert "identical to loans@2" in invoke(loans_ws, "data", "clean", "loans@1", "--replay",
                                            "loans@2")
    html, json_path = tmp_path / "p.html", tmp_path / "p.json"
    out = invoke(loans_ws, "data", "profile", "loans@2", "--target", "defaulted",
                 "--html", str(html), "--json", str(json_path))
    assert "1," in out and html.stat().st_size > 100_000 and json_path.stat().st_size > 1000

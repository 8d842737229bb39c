"""``gapless monitor drift`` on two files, with no workspace at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import log_predictions
from gapless.cli.main import app

runner = CliRunner()


def test_drift_between_two_files_prints_writes_json_and_can_fail(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"price": rng.normal(100, 10, 800),
                              "room": rng.choice(["a", "b"], 800)})
    current = reference.assign(price=reference["price"] + 15)
    reference.to_csv(tmp_path / "winter.csv", index=False)
    current.to_parquet(tmp_path / "summer.parquet")
    out = tmp_path / "drift.json"
    args = ["monitor", "drift", str(tmp_path / "winter.csv"), str(tmp_path / "summer.parquet")]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "drift in 1 of 2 judged columns" in result.output
    saved = json.loads(out.read_text())
    assert [c["column"] for c in saved["columns"] if c["drifted"]] == ["price"]
    failing = runner.invoke(app, [*args, "--fail-on-drift", "--share", "0.5"])
    assert failing.exit_code == 1
    bad = runner.invoke(app, ["monitor", "drift", str(tmp_path / "nope.csv"),
                              str(tmp_path / "summer.parquet")])
    assert bad.exit_code != 0 and "no such file" in str(bad.exception)


def test_report_shows_an_endpoints_windows(workspace) -> None:  # type: ignore[no-untyped-def]
    import time

    from sklearn.linear_model import LogisticRegression

    from conftest import register_fitted
    from gapless.serving.engine import Engine
    from gapless.serving.prediction_log import PredictionLog
    from gapless.serving.predictor import Predictor

    X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70]})
    y = pd.Series([0, 0, 1, 1, 0, 1])
    register_fitted(workspace, LogisticRegression().fit(X, y), X, y)
    workspace.deploy("churn", "churn@1")
    engine = Engine(workspace.deployments, Predictor(workspace.models, micro_batch=False),
                    log=PredictionLog(workspace.metadata, flush_interval=0.01))
    engine.predict("churn", pd.DataFrame({"age": [25.0, 95.0, 65.0]}))
    engine.close()
    out = Path(str(workspace.root)) / "windows.json"
    result = runner.invoke(app, ["-w", str(workspace.root), "monitor", "report", "churn",
                                 "--window", "1h", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "inputs judged against churn@1" in result.output
    (window,) = json.loads(out.read_text())
    assert window["requests"] == 3 and window["start"] <= time.time()
    (age,) = window["inputs"]
    assert age["outside_share"] == pytest.approx(1 / 3)  # 95 is beyond the training range
    quiet = runner.invoke(app, ["-w", str(workspace.root), "monitor", "report", "none"])
    assert quiet.exit_code == 0 and "no predictions of endpoint 'none'" in quiet.output


def test_alerts_once_prints_fired_suppressed_and_quiet(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time

    day = 86400
    at = (time.time() // day - 1) * day + day / 2  # inside yesterday's (complete) window
    log_predictions(workspace.metadata, [
        {"inputs": {"age": 30}, "outputs": 0, "latency_ms": 3.0, "status": status,
         "created_at": at} for status in (200, 500, 500)])
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
rules:
  - {name: errors, endpoint: churn, metric: error_rate, window: 1d, condition: "> 0.5",
     cooldown: 2d}
  - {name: slow, endpoint: churn, metric: latency_ms.p99, window: 1d, condition: "> 100"}
""")
    args = ["-w", str(workspace.root), "monitor", "alerts", str(rules), "--once"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1 fired, 0 suppressed, 1 quiet, 0 skipped" in first.output
    assert "0.6667 > 0.5" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "0 fired, 1 suppressed, 1 quiet" in second.output
    assert "already fired for this window" in second.output
    rules.write_text("rules:\n  - {name: x, endpoint: churn, metric: error_rate, "
                     "condition: 'over 5'}\n")
    bad = runner.invoke(app, args)
    assert bad.exit_code != 0
    assert "rule 'x', field 'condition'" in str(bad.exception)


def test_report_and_drift_write_offline_html(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time

    rng = np.random.default_rng(0)
    now = time.time()
    log_predictions(workspace.metadata, [
        {"inputs": {"age": float(rng.normal(70, 5)), "plan": "basic"}, "outputs": i % 2,
         "latency_ms": 3.0, "created_at": now - 60 * i} for i in range(80)])
    reference = pd.DataFrame({"age": rng.normal(40, 5, 300), "plan": ["basic"] * 300,
                              "churned": [0, 1] * 150})
    reference.to_csv(tmp_path / "train.csv", index=False)
    ws = ["-w", str(workspace.root), "monitor"]
    page = tmp_path / "out" / "report.html"
    result = runner.invoke(app, [*ws, "report", "churn", "--window", "1h", "--html", str(page),
                                 "--drift-against", str(tmp_path / "train.csv")])
    assert result.exit_code == 0, result.output
    assert f"report written to {page}" in result.output
    written = page.read_text()
    assert "Requests per second" in written and "<script src=" not in written
    drift = written[written.index('<section id="drift">'):]
    assert "age" in drift and '<td class="fail">drift</td>' in drift
    assert "churned" not in drift  # only the columns the logged inputs have
    assert not list(page.parent.glob(".*.tmp"))  # written atomically, nothing left over

    empty = tmp_path / "empty.html"
    quiet = runner.invoke(app, [*ws, "report", "none", "--html", str(empty)])
    assert quiet.exit_code == 0 and "no predictions of endpoint 'none'" in quiet.output
    assert "No data in this period" in empty.read_text()
    alone = runner.invoke(app, [*ws, "report", "churn", "--drift-against", "train@1"])
    assert alone.exit_code != 0 and "add --html PATH" in str(alone.exception)

    reference.assign(age=reference["age"] + 20).to_parquet(tmp_path / "now.parquet")
    drift_page = tmp_path / "drift.html"
    result = runner.invoke(app, ["monitor", "drift", str(tmp_path / "train.csv"),
                                 str(tmp_path / "now.parquet"), "--html", str(drift_page)])
    assert result.exit_code == 0, result.output
    assert "judged columns" in result.output  # the table is still printed
    html = drift_page.read_text()
    assert "Data drift:" in html and "now.parquet" in html and "train.csv" in html
    assert '<td class="fail">drift</td>' in html and 'class="plotly-graph-div"' in html


def test_performance_prints_verdicts_per_window_and_writes_json(  # type: ignore[no-untyped-def]
        workspace, tmp_path: Path) -> None:
    import time

    from sklearn.linear_model import LogisticRegression

    from conftest import register_fitted
    from gapless.serving.feedback import record_feedback

    X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70]})
    y = pd.Series([0, 0, 1, 1, 0, 1])
    register_fitted(workspace, LogisticRegression().fit(X, y), X, y)
    workspace.deploy("churn", "churn@1")
    hour = 3600
    now = time.time()
    start = (now // hour - 2) * hour  # two complete hours ago
    # first hour: 40 labelled, 36 right; second hour: 10 labelled
    ids = log_predictions(workspace.metadata, [
        {"inputs": {"age": 30.0}, "outputs": i % 2,
         "probabilities": ((0, 1), [0.8, 0.2] if i % 2 == 0 else [0.2, 0.8]),
         "created_at": start + (i * 60 if i < 40 else hour + i)} for i in range(50)])
    labels = [i % 2 if i % 10 else 1 - i % 2 for i in range(50)]
    record_feedback(workspace.metadata, "churn",
                    [{"prediction_id": pid, "label": label}
                     for pid, label in zip(ids, labels, strict=True)])
    out = tmp_path / "performance.json"
    args = ["-w", str(workspace.root), "monitor", "performance", "churn"]
    result = runner.invoke(app, [*args, "--window", "1h", "--last", "1d",
                                 "--min-value", "0.95", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "reference churn@1" in result.output
    assert "accuracy: drift in 1 of 1 judged windows" in result.output
    assert "fewer than 30" in result.output
    saved = json.loads(out.read_text())
    first, second = saved["windows"]
    assert (first["predictions"], first["labelled"]) == (40, 40)
    assert first["metrics"]["accuracy"] == pytest.approx(0.9)
    assert [v["drifted"] for v in saved["verdicts"]] == [True, None]
    assert [w["estimated"]["accuracy"] for w in saved["windows"]] == [pytest.approx(0.8)] * 2
    assert [w["estimated_rows"] for w in saved["windows"]] == [40, 10]
    estimated = runner.invoke(app, [*args, "--window", "1h", "--last", "1d", "--estimated",
                                    "--min-value", "0.85", "--min-labelled", "10"])
    assert estimated.exit_code == 0, estimated.output
    assert "accuracy: drift in 2 of 2 judged windows" in estimated.output
    bad_time = runner.invoke(app, [*args, "--calibrate-until", "yesterday"])
    assert bad_time.exit_code != 0
    assert "--calibrate-until 'yesterday': expected an ISO 8601 time" in str(bad_time.exception)
    plain = runner.invoke(app, args)
    assert plain.exit_code == 0 and "accuracy 0.9" in plain.output
    no_reference = runner.invoke(app, [*args, "--max-drop", "0.05"])
    assert no_reference.exit_code != 0
    assert "the reference has no accuracy" in str(no_reference.exception)
    quiet = runner.invoke(app, ["-w", str(workspace.root), "monitor", "performance", "none"])
    assert quiet.exit_code == 0 and "no answered predictions of endpoint 'none'" in quiet.output


def test_skew_prints_the_mismatch_rate_per_feature(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log_predictions(workspace.metadata, [
        {"inputs": {"customer_id": f"c{i}", "age": float(i), "plan": "gold"}} for i in range(10)])
    offline = tmp_path / "offline.csv"
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(8)],
                  "age": [float(i) + (i == 3) for i in range(8)],
                  "plan": ["gold"] * 8}).to_csv(offline, index=False)
    out = tmp_path / "skew.json"
    args = ["-w", str(workspace.root), "monitor", "skew", "churn", str(offline)]
    result = runner.invoke(app, [*args, "--key", "customer_id", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "12.5%" in result.output and "8 of 10 served rows found an offline row" in result.output
    saved = json.loads(out.read_text())
    assert {f["name"]: f["mismatches"] for f in saved["features"]} == {"age": 1, "plan": 0}
    missing_key = runner.invoke(app, [*args, "--key", "id"])
    assert missing_key.exit_code != 0 and "no key column 'id'" in str(missing_key.exception)

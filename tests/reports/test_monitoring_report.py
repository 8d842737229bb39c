"""The monitoring and drift reports: drawn from real windows and a real drift report,
opened offline in headless Chromium (every chart drawn, no console error, no request)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import log_predictions
from gapless import Workspace
from gapless.core.schema import infer_signature
from gapless.monitoring.drift import data_drift
from gapless.monitoring.inputs import logged_inputs
from gapless.monitoring.performance import performance_windows
from gapless.monitoring.windows import windows
from gapless.reports.drift import render_drift_report
from gapless.reports.monitoring import render_monitoring_report
from gapless.reports.render import write_html
from gapless.serving.feedback import record_feedback

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary

# Collects errors from the start and, once scripts ran, writes what the page saw into
# the DOM: errors, resources fetched, and the traces Plotly drew (as SVG) per figure.
PROBE_HEAD = """<script>window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", e => window.__errors.push(String(e.reason)));
const __error = console.error;
console.error = (...a) => { window.__errors.push(a.join(" ")); __error(...a); };</script>"""
PROBE_BODY = """<script>setTimeout(() => { const p = document.createElement("pre");
p.id = "probe"; p.textContent = JSON.stringify({errors: window.__errors,
  resources: performance.getEntriesByType("resource").map(r => r.name),
  figures: [...document.querySelectorAll(".plotly-graph-div")].map(
    d => d.querySelectorAll("svg.main-svg .cartesianlayer .trace").length)});
document.body.appendChild(p); }, 2000);</script>"""


def open_in_chromium(render_dom, page: str, path: Path) -> dict:  # type: ignore[no-untyped-def]
    assert "<script src=" not in page  # plotly.js is embedded: the page opens offline
    probed = page.replace("<head>", "<head>" + PROBE_HEAD, 1).replace(
        "</body>", PROBE_BODY + "</body>", 1)
    dom = render_dom(write_html(path, probed))
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run"
    return json.loads(html.unescape(found.group(1)))


def traffic(hours: int = 3) -> list[dict]:
    """Per hour, v1 primary and v2 canary; from the second hour ``age`` drifts upwards
    and goes missing more often."""
    rng = np.random.default_rng(0)
    rows = []
    for hour in range(hours):
        for i in range(60):
            canary = i % 4 == 0
            age = None if (hour and i % 5 == 0) else float(rng.normal(40 + 25 * hour, 5))
            rows.append({
                "created_at": START + hour * 3600 + i * 50,
                "inputs": {"age": age, "plan": "gold" if hour == 2 and i % 3 == 0 else "basic",
                           "city": "x"},
                "outputs": int(i % 3 == 0), "status": 500 if i % 20 == 0 else 200,
                "probabilities": ((0, 1), [0.3, 0.7] if i % 3 == 0 else [0.9, 0.1]),
                "latency_ms": float(rng.lognormal(1.0 + canary, 0.3)),
                "version": 2 if canary else 1, "variant": "canary" if canary else "primary"})
    return rows


def training_signature():  # type: ignore[no-untyped-def]
    training = pd.DataFrame({"age": [20.0, 40.0, 60.0], "plan": ["basic", "pro", "basic"],
                             "city": ["x", "y", "x"]})
    return infer_signature(training, pd.Series([0, 1, 0]), problem="binary")


def test_windows_report_draws_every_chart_offline(workspace: Workspace, tmp_path: Path,
                                                  render_dom) -> None:  # type: ignore[no-untyped-def]
    ids = log_predictions(workspace.metadata, traffic())
    record_feedback(workspace.metadata, "churn", [{"prediction_id": i, "label": n % 2}
                                                  for n, i in enumerate(ids)])
    found = windows(workspace.metadata, "churn", window="1h", signature=training_signature())
    rows = [w.to_dict() for w in found]
    performance = [w.to_dict() for w in performance_windows(workspace.metadata, "churn")]
    page = render_monitoring_report(rows, endpoint="churn", window="1h", period="last 7d",
                                    performance=performance)
    assert "No data in this period" not in page
    for title in ("Requests per second", "Error rate", "Latency p50, p95 and p99",
                  "Share of each output class", "Missing share per input",
                  "Share outside the training range", "Performance (accuracy): realized"):
        assert title in page, title
    # One line per version and variant (per quantile and class where they split).
    for name in ("v1 primary", "v2 canary", "v1 primary p99", "v2 canary class 1",
                 "v1 primary realized", "v2 canary estimated"):
        assert f'"name":"{name}"' in page, name
    assert "180" in page and "v1 primary, v2 canary" in page  # the summary
    seen = open_in_chromium(render_dom, page, tmp_path / "monitoring.html")
    assert seen["errors"] == [] and seen["resources"] == []
    # Traces drawn per chart: 2 series; x 3 quantiles; x 2 classes; 3 inputs (twice);
    # x realized and estimated.
    assert seen["figures"] == [2, 2, 6, 4, 3, 3, 4], seen


def test_the_input_charts_show_the_worst_features_first() -> None:
    def window(start: float, shares: dict[str, float]) -> dict:
        return {"start": start, "seconds": 60.0, "endpoint": "e", "version": 1,
                "variant": "primary", "requests": 10, "rate_per_s": 1 / 6, "errors": 0,
                "error_rate": 0.0, "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
                "inputs": [{"name": n, "values": 10, "missing_share": s, "outside_share": None,
                            "mean": None, "std": None} for n, s in shares.items()],
                "outputs": {"null_share": 0.0, "classes": None, "mean": 2.5, "std": 1.0}}

    shares = {f"f{i}": i / 10 for i in range(8)}
    page = render_monitoring_report([window(START, shares), window(START + 60, shares)],
                                    endpoint="e", window="1m")
    assert "Missing share per input (the 5 worst of 8)" in page
    assert '"name":"f7"' in page and '"name":"f2"' not in page
    assert "Mean output" in page and "Share outside the training range" not in page


def test_an_empty_period_says_so(tmp_path: Path, render_dom) -> None:  # type: ignore[no-untyped-def]
    page = render_monitoring_report([], endpoint="churn", window="5m", period="last 1d")
    assert "No data in this period" in page and "in the last 1d" in page
    assert 'class="plotly-graph-div"' not in page
    seen = open_in_chromium(render_dom, page, tmp_path / "empty.html")
    assert seen == {"errors": [], "resources": [], "figures": []}


def test_the_drift_table_and_the_drift_report(workspace: Workspace, tmp_path: Path,
                                              render_dom) -> None:  # type: ignore[no-untyped-def]
    log_predictions(workspace.metadata, traffic())
    current, capped = logged_inputs(workspace.metadata, "churn", since=START + 3600)
    assert len(current) == 120 and not capped
    assert logged_inputs(workspace.metadata, "churn", limit=50)[1]
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 500),
                              "plan": rng.choice(["basic", "pro"], 500),
                              "city": ["x"] * 10 + [None] * 490})
    report = data_drift(reference, current).to_dict()
    page = render_monitoring_report([], endpoint="churn", window="1h", drift=report)
    table = page[page.index('id="drift"'):]
    assert "No data in this period" in page
    for text in ("age", "ks", "p-value (adj.)", "Threshold", "dataset: drift",
                 "drift in 2 of 2 judged columns (100%)", "the dataset drifts at a share of 50%",
                 "no verdict", "the reference has 10 value(s); a verdict needs at least 30"):
        assert text in table, text
    assert '<td class="fail">drift</td>' in table
    drift_page = render_drift_report(report, "train.csv", "churn@last 2h")
    assert "Data drift: churn@last 2h against train.csv" in drift_page
    assert "Adjusted p-value against threshold" in drift_page
    seen = open_in_chromium(render_dom, drift_page, tmp_path / "drift.html")
    assert seen["errors"] == [] and seen["resources"] == []
    assert seen["figures"] and all(n > 0 for n in seen["figures"])


@pytest.mark.parametrize("dataset_drift", [None, False])
def test_the_dataset_verdict_words(dataset_drift: bool | None) -> None:
    report = {"columns": [], "drifted_columns": 0, "judged_columns": 0 if dataset_drift is None
              else 1, "share": 0.5, "dataset_drift": dataset_drift, "correction": "bh",
              "reference_rows": 5, "current_rows": 6, "domain_auc": None,
              "domain_drift": None, "drift_share": None if dataset_drift is None else 0.0}
    page = render_drift_report(report, "a", "b")
    expected = "no verdict (no column could be judged)" if dataset_drift is None else "no drift"
    assert f"dataset: {expected}" in page and "Deciding values" not in page

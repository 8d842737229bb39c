"""``gapless monitor``: windows over an endpoint's predictions, their performance once
feedback labels arrive (concept drift), drift between two samples (files or dataset
versions), and alert rules judged on the prediction log."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import typer

from gapless.cli.monitor_tables import (
    show_alerts,
    show_drift,
    show_performance,
    show_skew,
    show_windows,
)
from gapless.cli.render import console, open_workspace
from gapless.core.errors import GaplessError, ValidationError

# --drift-against compares at most this many of the period's logged inputs (the newest).
INPUT_ROWS = 200_000

app = typer.Typer(help="Monitoring: windows over an endpoint's predictions, data drift, alerts.",
                  no_args_is_help=True)


@app.command("report")
def report(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint whose predictions to read."),
    window: str = typer.Option("5m", "--window", help="Bucket length: 30s, 5m, 1h, 1d."),
    last: str = typer.Option("1d", "--last", help="How far back to read, e.g. 6h, 7d."),
    inputs: bool = typer.Option(True, "--inputs/--no-inputs",
                                help="Also read the logged inputs (slower)."),
    json_out: Path = typer.Option(None, "--json", help="Write every window as JSON."),
    html_out: Path = typer.Option(None, "--html", help="Write an offline HTML report of the "
                                  "windows (charts over time)."),
    drift_against: str = typer.Option(None, "--drift-against", help="With --html: add a "
                                      "drift table of the period's logged inputs (newest "
                                      f"{INPUT_ROWS:,} at most) against this reference, a "
                                      "CSV/Parquet file or NAME@VERSION."),
) -> None:
    """Service, input and output metrics of ENDPOINT per window, per version and variant;
    inputs are judged against the signature of the model deployed now."""
    import time

    from gapless.monitoring.windows import parse_window
    from gapless.serving.deployments import DeploymentStore

    if drift_against is not None and html_out is None:
        raise ValidationError("--drift-against: the drift table goes into the HTML report; "
                              "add --html PATH")
    reference = _sample(drift_against, "--drift-against") if drift_against else None
    drift_dict = None
    with open_workspace(ctx) as ws:
        try:
            spec = DeploymentStore(ws.metadata).get(endpoint).spec
            model = next(v.model for v in spec.variants if v.role == "primary")
        except GaplessError:
            model = None  # an endpoint no longer deployed: its log is still there
        since = time.time() - parse_window(last)
        found = ws.monitor.windows(endpoint, window=window, model=model, inputs=inputs,
                                   since=since)
        if reference is not None:
            drift_dict = _period_drift(ws, endpoint, since, reference)
        performance = (ws.monitor.performance(endpoint, window=window, since=since,
                                              model=model).windows
                       if html_out is not None else [])
    if html_out is not None:
        from gapless.reports.monitoring import render_monitoring_report
        from gapless.reports.render import write_html

        write_html(html_out, render_monitoring_report(
            [w.to_dict() for w in found], endpoint=endpoint, window=window,
            drift=drift_dict, performance=[w.to_dict() for w in performance],
            period=f"last {last}"))
    if not found:
        console().print(f"no predictions of endpoint {endpoint!r} in the last {last}")
        if html_out is not None:
            console().print(f"report written to {html_out}")
        return
    show_windows([w.to_dict() for w in found], endpoint, window, model)
    if json_out is not None:
        json_out.write_text(json.dumps([w.to_dict() for w in found], indent=2),
                            encoding="utf-8")
        console().print(f"windows written to {json_out}")
    if html_out is not None:
        console().print(f"report written to {html_out}")


def _period_drift(ws: Any, endpoint: str, since: float, reference: Any) -> dict[str, Any]:
    """Drift of the inputs ENDPOINT logged since SINCE (newest INPUT_ROWS at most) against
    REFERENCE, on the columns both have (all the reference's when none is shared, so
    each says why it has no verdict)."""
    from gapless.monitoring.inputs import logged_inputs

    current, capped = logged_inputs(ws.metadata, endpoint, since=since, limit=INPUT_ROWS)
    if capped:
        console().print(f"drift: the period's newest {INPUT_ROWS:,} logged inputs are compared")
    frame = ws.data.load(reference) if isinstance(reference, str) else reference
    shared = [str(c) for c in frame.columns if c in current.columns]
    return ws.monitor.drift(frame, current, columns=shared or None).to_dict()


@app.command("performance")
def performance(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint whose labelled predictions to read."),
    window: str = typer.Option("1h", "--window", help="Bucket length: 30m, 1h, 1d."),
    last: str = typer.Option("7d", "--last", help="How far back to read, e.g. 1d, 30d."),
    metric: str = typer.Option(None, "--metric", help="accuracy, precision, recall, f1, mae, "
                               "rmse, mean_error, hit_rate or mrr (default: accuracy; mae for "
                               "regression, hit_rate for recommenders)."),
    max_drop: float = typer.Option(None, "--max-drop", help="Drift when worse than the "
                                   "deployed model's test metric by more than this."),
    min_value: float = typer.Option(None, "--min-value", help="Drift when a score falls "
                                    "below this."),
    max_value: float = typer.Option(None, "--max-value", help="Drift when an error rises "
                                    "above this."),
    min_labelled: int = typer.Option(30, "--min-labelled", help="Labels a window needs for "
                                     "a verdict (with --estimated: rows with probabilities)."),
    estimated: bool = typer.Option(False, "--estimated", help="Judge the performance "
                                   "estimated from the model's confidence (no labels needed)."),
    calibrate_until: str = typer.Option(None, "--calibrate-until", help="Calibrate the "
                                        "estimate on the labelled predictions logged before "
                                        "this UTC time (ISO 8601, e.g. 2026-11-20T12:00)."),
    json_out: Path = typer.Option(None, "--json", help="Write the windows and verdicts as JSON."),
) -> None:
    """Concept drift: ENDPOINT's accuracy (or errors) per window, per version and variant,
    on the predictions that have feedback labels, judged against the test metrics of the
    model deployed now; for classifiers, beside it the performance estimated from the
    model's confidence on every prediction, labelled or not."""
    import time

    from gapless.monitoring.windows import parse_window

    until = _utc_time(calibrate_until, "--calibrate-until") if calibrate_until else None
    with open_workspace(ctx) as ws:
        model = _deployed(ws, {endpoint}).get(endpoint)
        found = ws.monitor.performance(
            endpoint, window=window, since=time.time() - parse_window(last), model=model,
            metric=metric, max_drop=max_drop, min_value=min_value, max_value=max_value,
            min_labelled=min_labelled, calibrate_until=until, estimated=estimated)
    if json_out is not None:
        json_out.write_text(json.dumps(found.to_dict(), indent=2), encoding="utf-8")
    if not found.windows:
        console().print(f"no answered predictions of endpoint {endpoint!r} in the last {last}")
    else:
        show_performance(found, window)
    if json_out is not None:
        console().print(f"windows written to {json_out}")


@app.command("skew")
def skew(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="The endpoint whose logged inputs to compare."),
    offline: str = typer.Argument(..., help="The offline values: a CSV/Parquet file or "
                                  "NAME@VERSION."),
    key: list[str] = typer.Option(..., "--key", help="Entity column both sides carry "
                                  "(repeat for a compound key)."),
    timestamp: str = typer.Option(None, "--timestamp", help="The offline event-time column: "
                                  "compare each served row with its entity's newest offline "
                                  "row at or before the time it was served."),
    last: str = typer.Option("1d", "--last", help="How far back to read the log, e.g. 6h."),
    rtol: float = typer.Option(1e-6, "--rtol", help="Relative tolerance for numbers."),
    json_out: Path = typer.Option(None, "--json", help="Write the report as JSON."),
) -> None:
    """Training-serving skew: per feature, the share of ENDPOINT's served rows whose value
    differs from the offline value of the same entity (and time)."""
    import time

    from gapless.monitoring.windows import parse_window

    (frame,) = load_frames(ctx, offline)
    with open_workspace(ctx) as ws:
        found = ws.monitor.skew(endpoint, frame, key=key, timestamp=timestamp,
                                since=time.time() - parse_window(last), rtol=rtol)
    show_skew(found, endpoint, offline)
    if json_out is not None:
        json_out.write_text(json.dumps(found.to_dict(), indent=2, default=str),
                            encoding="utf-8")
        console().print(f"report written to {json_out}")


@app.command("drift")
def drift(
    ctx: typer.Context,
    reference: str = typer.Argument(..., help="Reference: a CSV/Parquet file or NAME@VERSION."),
    current: str = typer.Argument(..., help="Current: a CSV/Parquet file or NAME@VERSION."),
    columns: str = typer.Option(None, "--columns", help="Compare only these, e.g. age,plan."),
    test: list[str] = typer.Option([], "--test", help="COLUMN=TEST, e.g. price=psi "
                                   "(tests: ks, chi2, psi, wasserstein, jensen_shannon)."),
    threshold: list[str] = typer.Option([], "--threshold", help="COLUMN=VALUE, e.g. price=0.2."),
    target: str = typer.Option(None, "--target", help="The label column (label drift)."),
    prediction: str = typer.Option(None, "--prediction",
                                   help="The prediction column (prediction drift)."),
    correction: str = typer.Option("bh", "--correction", help="bh (Benjamini-Hochberg) or none."),
    share: float = typer.Option(0.5, "--share", help="Drifted share of columns that makes the "
                                "dataset drift."),
    min_rows: int = typer.Option(30, "--min-rows", help="Values a column needs on each side "
                                 "for a verdict."),
    multivariate: bool = typer.Option(False, "--multivariate",
                                      help="Also train a domain classifier (ROC AUC)."),
    json_out: Path = typer.Option(None, "--json", help="Write the report as JSON."),
    html_out: Path = typer.Option(None, "--html", help="Write an offline HTML report."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift",
                                       help="Exit with code 1 when the dataset drifts."),
) -> None:
    """Compare CURRENT with REFERENCE column by column (like Evidently's data drift):
    the deciding test per column, its companions, and the dataset's verdict."""
    from gapless.monitoring.drift import data_drift

    frames = load_frames(ctx, reference, current)
    roles = {name: role for name, role in ((target, "target"), (prediction, "prediction"))
             if name}
    report = data_drift(
        *frames, columns=columns.split(",") if columns else None,
        tests=_pairs(test, "--test", str), thresholds=_pairs(threshold, "--threshold", float),
        roles=roles, correction=correction, share=share, min_rows=min_rows,
        multivariate=multivariate)
    show_drift(report, reference, current)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        console().print(f"report written to {json_out}")
    if html_out is not None:
        from gapless.reports.drift import render_drift_report
        from gapless.reports.render import write_html

        write_html(html_out, render_drift_report(report.to_dict(), reference, current))
        console().print(f"HTML report written to {html_out}")
    if fail_on_drift and report.dataset_drift:
        raise typer.Exit(1)


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    rules_file: Path = typer.Argument(..., help="The alert rules, a YAML file."),
    once: bool = typer.Option(False, "--once", help="Evaluate once, print the table, exit."),
    every: float = typer.Option(60.0, "--every", help="Seconds between evaluations (without "
                                "--once)."),
    reference: list[str] = typer.Option([], "--reference", help="ENDPOINT=SOURCE, the "
                                        "reference of drift rules: a CSV/Parquet file or "
                                        "NAME@VERSION."),
) -> None:
    """Judge RULES_FILE on each endpoint's latest complete window: fire (and act on) the
    rules whose condition holds, unless inside their cooldown. Without --once, evaluate
    every --every seconds until Ctrl-C."""
    import time

    from gapless.monitoring.alert_rules import AlertRules

    rules = AlertRules.load(rules_file)
    if every <= 0:
        raise ValidationError(f"--every {every}: expected seconds > 0")
    references = {endpoint: _sample(source)
                  for endpoint, source in _pairs(reference, "--reference", str).items()}
    with open_workspace(ctx) as ws:
        models = _deployed(ws, {r.endpoint for r in rules})

        def check() -> None:
            show_alerts(ws.monitor.alerts(rules, reference=references, models=models))

        if once:
            check()
            return
        console().print(f"evaluating {len(rules)} rule(s) every {every:g}s; Ctrl-C stops")
        try:
            while True:
                check()
                time.sleep(every)
        except KeyboardInterrupt:
            console().print("stopped")


def _deployed(ws: Any, endpoints: set[str]) -> dict[str, str]:
    """The primary model each endpoint serves now, for judging inputs by its signature."""
    from gapless.serving.deployments import DeploymentStore

    found = {}
    for endpoint in sorted(endpoints):
        try:
            spec = DeploymentStore(ws.metadata).get(endpoint).spec
            found[endpoint] = next(v.model for v in spec.variants if v.role == "primary")
        except (GaplessError, StopIteration):
            continue  # an endpoint no longer deployed: its log is still judged
    return found


def _sample(source: str, option: str = "--reference") -> Any:
    """A file as a DataFrame; anything else is passed on as a dataset version."""
    import pandas as pd

    path = Path(source)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read(pd.read_parquet, path)
    if path.suffix.lower() in (".csv", ".txt"):
        return _read(pd.read_csv, path)
    if "@" not in source:
        raise ValidationError(f"{option} {source}: give a .csv or .parquet file or a "
                              "dataset version NAME@VERSION")
    return source


def load_frames(ctx: typer.Context, *sources: str) -> list[Any]:
    """Each source as a DataFrame: files directly (no workspace needed), NAME@VERSION
    from the workspace's datasets."""
    import pandas as pd

    frames: list[Any] = []
    workspace = None
    try:
        for source in sources:
            path = Path(source)
            if path.suffix.lower() in (".parquet", ".pq") or path.is_dir():
                frames.append(_read(pd.read_parquet, path))
            elif path.suffix.lower() in (".csv", ".txt"):
                frames.append(_read(pd.read_csv, path))
            elif "@" in source:
                workspace = workspace or open_workspace(ctx)
                frames.append(workspace.data.load(source))
            else:
                raise ValidationError(f"{source}: give a .csv or .parquet file or a dataset "
                                      "version NAME@VERSION")
    finally:
        if workspace is not None:
            workspace.close()
    return frames


def _read(reader: Any, path: Path) -> Any:
    if not path.exists():
        raise ValidationError(f"{path}: no such file")
    try:
        return reader(path)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path}: cannot be read ({exc})") from exc


def _pairs(items: list[str], option: str, cast: Any) -> dict[str, Any]:
    pairs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValidationError(f"{option} {item!r}: expected COLUMN=VALUE")
        try:
            pairs[name] = cast(value)
        except ValueError as exc:
            raise ValidationError(f"{option} {item!r}: {value!r} is not a number") from exc
    return pairs



def _utc_time(text: str, option: str) -> float:
    """Seconds since the epoch of an ISO 8601 time, UTC unless it names its zone."""
    from datetime import datetime

    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option} {text!r}: expected an ISO 8601 time such as "
                              "2026-11-20T12:00") from None
    if found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found.timestamp()

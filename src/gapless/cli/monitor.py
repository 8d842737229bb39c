"""``gapless monitor``: windows over an endpoint's predictions, drift between two samples
(files or dataset versions), and alert rules judged on the prediction log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

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
    if html_out is not None:
        from gapless.reports.monitoring import render_monitoring_report
        from gapless.reports.render import write_html

        write_html(html_out, render_monitoring_report(
            [w.to_dict() for w in found], endpoint=endpoint, window=window,
            drift=drift_dict, period=f"last {last}"))
    if not found:
        console().print(f"no predictions of endpoint {endpoint!r} in the last {last}")
        if html_out is not None:
            console().print(f"report written to {html_out}")
        return
    _show_windows([w.to_dict() for w in found], endpoint, window, model)
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


def _show_windows(rows: list[dict[str, Any]], endpoint: str, window: str,
                  model: str | None) -> None:
    from datetime import UTC, datetime

    from rich.table import Table

    from gapless.cli.render import number

    table = Table("window (UTC)", "version", "variant", "requests", "req/s", "errors",
                  "p50 ms", "p95 ms", "p99 ms", "outputs", "inputs off (missing / outside)",
                  title=f"{endpoint}, windows of {window}"
                  + (f"; inputs judged against {model}" if model else ""))
    for row in rows:
        start = datetime.fromtimestamp(row["start"], tz=UTC).strftime("%m-%d %H:%M")
        outputs = row["outputs"]
        shown = (", ".join(f"{k}: {v:.0%}" for k, v in sorted(outputs["classes"].items()))
                 if outputs["classes"] else f"mean {number(outputs['mean'])}")
        worst = sorted(row["inputs"], key=lambda f: -((f["missing_share"] or 0)
                                                      + (f["outside_share"] or 0)))[:2]
        table.add_row(start, str(row["version"]), row["variant"], str(row["requests"]),
                      f"{row['rate_per_s']:.2f}", f"{row['error_rate']:.1%}",
                      number(row["latency_ms"]["p50"]), number(row["latency_ms"]["p95"]),
                      number(row["latency_ms"]["p99"]), shown,
                      ", ".join(f"{f['name']} {f['missing_share']:.0%}/"
                                f"{(f['outside_share'] or 0):.0%}" for f in worst))
    console().print(table)


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

    frames = _load(ctx, reference, current)
    roles = {name: role for name, role in ((target, "target"), (prediction, "prediction"))
             if name}
    report = data_drift(
        *frames, columns=columns.split(",") if columns else None,
        tests=_pairs(test, "--test", str), thresholds=_pairs(threshold, "--threshold", float),
        roles=roles, correction=correction, share=share, min_rows=min_rows,
        multivariate=multivariate)
    show(report, reference, current)
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


def show(report: Any, reference: str, current: str) -> None:
    from rich.table import Table

    from gapless.cli.render import number

    table = Table("column", "type", "test", "statistic", "p (adj.)", "threshold", "drift",
                  "also", title=f"drift of {current} against {reference} "
                  f"({report.current_rows:,} vs {report.reference_rows:,} rows)")
    for c in report.columns:
        verdict = ("-" if c.drifted is None else "[red]yes[/]" if c.drifted else "no")
        name = c.column if c.role == "feature" else f"{c.column} ({c.role})"
        also = ", ".join(f"{k} {number(v)}" for k, v in c.measures.items()
                         if k != c.test and v is not None)
        table.add_row(name, c.kind or "-", c.test or "-", number(c.statistic),
                      number(c.p_value), number(c.threshold), verdict,
                      also if c.drifted is not None else c.reason or "")
    out = console()
    out.print(table)
    share = report.drift_share
    out.print(f"drift in {report.drifted_columns} of {report.judged_columns} judged columns"
              + (f" ({share:.0%})" if share is not None else "")
              + f"; dataset drift: {_word(report.dataset_drift)} (at a share of "
              f"{report.share:.0%}; p-values corrected: {report.correction})")
    if report.domain_auc is not None:
        out.print(f"domain classifier ROC AUC {report.domain_auc:.3f}: "
                  f"{'the samples can be told apart' if report.domain_drift else 'no joint drift'}")


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
            _show_alerts(ws.monitor.alerts(rules, reference=references, models=models))

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


def _show_alerts(results: Any) -> None:
    from rich.table import Table

    from gapless.cli.render import number

    styles = {"fired": "[red]fired[/]", "suppressed": "[yellow]suppressed[/]"}
    table = Table("rule", "endpoint", "metric", "window (UTC)", "value", "condition",
                  "status", "detail", title=f"alerts at {_utc(results.evaluated_at, True)}")
    for o in results.outcomes:
        failed = [f"{a['action']} failed: {a['message']}" for a in o.actions if not a["ok"]]
        event = [f"event {o.event_id}"] if o.event_id is not None else []
        detail = "; ".join([o.reason, *event, *failed])
        end = _utc(o.window_end)
        if end[:5] == _utc(o.window_start)[:5]:
            end = end[6:]  # the same day: the time is enough
        table.add_row(o.rule, o.endpoint, o.metric, f"{_utc(o.window_start)} to {end}",
                      number(o.value),
                      o.condition, styles.get(o.status, o.status), detail)
    out = console()
    out.print(table)
    out.print(f"{len(results.fired)} fired, {len(results.suppressed)} suppressed, "
              f"{len(results.quiet)} quiet, {len(results.skipped)} skipped")


def _utc(epoch: float, seconds: bool = False) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")


def _load(ctx: typer.Context, *sources: str) -> list[Any]:
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


def _word(verdict: bool | None) -> str:
    return "no verdict" if verdict is None else "[red]yes[/]" if verdict else "no"

"""Tables of ``gapless monitor``: windows, performance, drift and alerts, printed with Rich."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from gapless.cli.render import console, number


def show_windows(rows: list[dict[str, Any]], endpoint: str, window: str,
                 model: str | None) -> None:
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


def show_performance(report: Any, window: str) -> None:
    verdicts = {(v.window.start, v.window.version, v.window.variant): v
                for v in report.verdicts}
    base = report.reference.get(report.metric)
    table = Table("window (UTC)", "version", "variant", "predictions", "labelled",
                  "metrics", "estimated (no labels)", "verdict",
                  title=f"{report.endpoint}, performance per {window}"
                  + (f"; reference {report.model} {report.metric} {number(base)}"
                     if report.model else ""))
    for w in report.windows:
        verdict = verdicts.get((w.start, w.version, w.variant))
        shown = ("-" if verdict is None else f"[red]drift[/]: {verdict.reason}"
                 if verdict.drifted else f"no drift ({verdict.reason})"
                 if verdict.drifted is False else f"no verdict: {verdict.reason}")
        table.add_row(_utc(w.start), str(w.version), w.variant, str(w.predictions),
                      f"{w.labelled} ({w.coverage:.0%})",
                      ", ".join(f"{k} {number(v)}" for k, v in w.metrics.items()) or "-",
                      ", ".join(f"{k} {number(v)}" for k, v in w.estimated.items()) or "-",
                      shown)
    out = console()
    out.print(table)
    if report.verdicts:
        judged = [v for v in report.verdicts if v.drifted is not None]
        out.print(f"{report.metric}: drift in {len(report.drifted)} of {len(judged)} judged "
                  "windows")


def show_skew(report: Any, endpoint: str, offline: str) -> None:
    table = Table("feature", "compared", "mismatches", "rate", "missing served/offline",
                  "example", title=f"skew of {endpoint}'s served inputs against {offline} "
                  f"by {', '.join(report.key)}")
    for f in sorted(report.features, key=lambda f: -(f.mismatch_rate or 0.0)):
        rate = f.mismatch_rate
        shown = "-" if rate is None else f"[red]{rate:.1%}[/]" if rate else "0%"
        example = (f"served {f.examples[0]['served']!r}, offline {f.examples[0]['offline']!r}"
                   if f.examples else "")
        table.add_row(f.name, f"{f.compared:,}", f"{f.mismatches:,}", shown,
                      f"{f.served_missing}/{f.offline_missing}", example)
    for name, why in report.not_compared.items():
        table.add_row(name, "-", "-", "-", "-", f"not compared: {why}")
    out = console()
    out.print(table)
    out.print(f"{report.matched_rows:,} of {report.served_rows:,} served rows found an "
              "offline row" + (f"; {report.unmatched_rows:,} did not" if report.unmatched_rows
                               else ""))


def show_drift(report: Any, reference: str, current: str) -> None:
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


def show_alerts(results: Any) -> None:
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
    return datetime.fromtimestamp(epoch, tz=UTC).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")


def _word(verdict: bool | None) -> str:
    return "no verdict" if verdict is None else "[red]yes[/]" if verdict else "no"

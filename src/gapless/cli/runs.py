"""``gapless runs list|show|compare``: tracked runs as Rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from gapless.cli.render import console, duration, number, open_workspace, when

if TYPE_CHECKING:
    from rich.table import Table

    from gapless.core.records import RunRecord

app = typer.Typer(help="List, inspect and compare tracked runs.", no_args_is_help=True)

_STATUS_STYLE = {"FINISHED": "green", "RUNNING": "yellow", "FAILED": "red", "KILLED": "magenta"}


@app.command("list")
def list_runs(
    ctx: typer.Context,
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Only these experiments."
    ),
    filter: str = typer.Option(
        None, "--filter", "-f",
        help="e.g. \"metrics.auc > 0.8 and params.model = 'rf'\" (grammar: README).",
    ),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'metrics.auc DESC'."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many runs."),
    max_columns: int = typer.Option(6, help="At most this many metric and param columns each."),
) -> None:
    """List runs, newest first unless --order-by says otherwise."""
    with open_workspace(ctx) as ws:
        found = ws.runs.search(filter, experiment=experiment or None, order_by=order_by,
                               limit=limit)
    console().print(runs_table(found, max_columns=max_columns))


@app.command("show")
def show(ctx: typer.Context, run_id: str = typer.Argument(..., help="Run id or 6+ char prefix.")
         ) -> None:
    """Show one run: attributes, params, metrics, tags, environment, artifacts, children."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        run = ws.runs.get(run_id)
        artifacts = ws.runs.artifacts(run.id)
        children = ws.runs.search(f"parent_id = '{run.id}'", limit=None)
    out = console()
    out.print(f"[bold]{run.experiment} / {run.name}[/]  [dim]{run.id}[/]")
    out.print(f"status {_status(run.status)}  user {run.user}  started {when(run.start_time)}  "
              f"duration {duration(run.duration)}"
              + (f"  parent {run.parent_id}" if run.parent_id else ""))
    out.print(_key_values("params", run.params))
    out.print(_key_values("metrics (latest)", {k: number(v) for k, v in run.metrics.items()}))
    env = dict(run.environment or {})
    if isinstance(env.get("packages"), dict):
        env["packages"] = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    out.print(_key_values("tags", dict(run.tags)))
    out.print(_key_values("environment", env))
    table = Table(title="artifacts", title_justify="left")
    for column in ("path", "size", "sha256"):
        table.add_column(column)
    for item in artifacts:
        table.add_row(item.path, f"{item.size:,} B", item.digest[:16])
    out.print(table)
    if children:
        out.print(runs_table(children, title="child runs"))


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or prefixes)."),
) -> None:
    """Params and metrics of runs side by side; differing params and best metrics stand out."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        found = [ws.runs.get(run_id) for run_id in run_ids]
    table = Table(title="run comparison", title_justify="left")
    table.add_column("")
    for run in found:
        table.add_column(f"{run.name}\n[dim]{run.id[:8]}[/]", justify="right")
    for key in sorted({k for run in found for k in run.params}):
        values = [run.params.get(key, "-") for run in found]
        style = "bold yellow" if len(set(values)) > 1 else ""
        table.add_row(f"params.{key}", *[f"[{style}]{v}[/]" if style else v for v in values])
    table.add_section()
    for key in sorted({k for run in found for k in run.metrics}):
        values = [run.metrics.get(key) for run in found]
        present = [v for v in values if v is not None and v == v]
        best = max(present) if present else None
        cells = [
            f"[bold green]{number(v)}[/]" if v is not None and v == best and len(present) > 1
            else number(v)
            for v in values
        ]
        table.add_row(f"metrics.{key}", *cells)
    console().print(table)


def runs_table(
    found: list[RunRecord],
    *,
    title: str = "runs",
    max_columns: int = 6,
    metric_keys: list[str] | None = None,
    param_keys: list[str] | None = None,
) -> Table:
    """One row per run; metric and param columns are the given keys, else the most common."""
    from rich.table import Table

    if metric_keys is None:
        metric_keys = _common_keys([run.metrics for run in found], max_columns)
    if param_keys is None:
        param_keys = _common_keys([run.params for run in found], max_columns)
    table = Table(title=f"{title} ({len(found)})", title_justify="left")
    show_experiment = len({run.experiment for run in found}) > 1
    table.add_column("run", no_wrap=True)
    if show_experiment:
        table.add_column("experiment")
    for column in ("name", "status", "started", "duration"):
        table.add_column(column, no_wrap=column != "name")
    for key in metric_keys:
        table.add_column(key, justify="right", style="cyan")
    for key in param_keys:
        table.add_column(key, style="magenta")
    for run in found:
        table.add_row(
            run.id[:8], *([run.experiment] if show_experiment else []), run.name,
            _status(run.status), when(run.start_time),
            duration(run.duration),
            *[number(run.metrics.get(k)) for k in metric_keys],
            *[run.params.get(k, "-") for k in param_keys],
        )
    return table


def _common_keys(mappings: list, limit: int) -> list[str]:
    counts: dict[str, int] = {}
    for mapping in mappings:
        for key in mapping:
            counts[key] = counts.get(key, 0) + 1
    return sorted(sorted(counts), key=lambda k: -counts[k])[:limit]


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _key_values(title: str, values: dict) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key in sorted(values):
        table.add_row(key, str(values[key]))
    return table

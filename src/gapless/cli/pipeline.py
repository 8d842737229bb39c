"""``gapless pipeline``: run a pipeline spec, list runs, show one run's steps."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from gapless.cli.render import console, duration, open_workspace, when

app = typer.Typer(help="Pipelines: steps as a DAG, cached, resumable, recorded.",
                  no_args_is_help=True)

COLOURS = {"succeeded": "green", "cached": "cyan", "failed": "red", "skipped": "yellow",
           "running": "blue", "pending": "white"}


@app.command("run")
def run(
    ctx: typer.Context,
    spec: Path = typer.Argument(None, help="The pipeline spec (YAML); with --resume, "
                                "leave it out to rerun that run's spec."),
    executor: str = typer.Option(None, "--executor", help="local, local:N, dask-local or "
                                 "dask://HOST:PORT (default: the workspace's compute_uri)."),
    resume: str = typer.Option(None, "--resume", help="A failed run to resume: what "
                               "succeeded there is reused, the rest runs."),
    json_out: Path = typer.Option(None, "--json", help="Write the run record as JSON."),
) -> None:
    """Run every step of SPEC whose inputs changed; exit 1 when a step failed."""
    from gapless.core.errors import ValidationError

    if spec is None and resume is None:
        raise ValidationError("give a pipeline spec, or --resume RUN_ID")
    out = console()

    def heard(step: str, status: str, detail: str) -> None:
        colour = COLOURS.get(status, "white")
        out.print(f"  [{colour}]{status:>9}[/] {step}" + (f"  [dim]{detail}[/]" if detail
                                                           else ""))

    spinner = out.status("running the pipeline") if out.is_terminal else nullcontext()
    with open_workspace(ctx) as ws, spinner:
        done = ws.pipelines.run(spec, executor=executor, resume=resume, on_step=heard)
    show_run(done)
    if json_out is not None:
        json_out.write_text(json.dumps(done.to_dict(), indent=2, default=str),
                            encoding="utf-8")
    if done.status != "succeeded":
        raise typer.Exit(1)


@app.command("backfill")
def backfill(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="The pipeline spec (YAML)."),
    start: str = typer.Option(..., "--from", help="First day (or time), ISO 8601."),
    end: str = typer.Option(..., "--to", help="End, excluded, ISO 8601."),
    every: str = typer.Option("daily", "--partition", help="hourly, daily, weekly or "
                              "monthly."),
    executor: str = typer.Option(None, "--executor", help="Where the steps run."),
) -> None:
    """Run SPEC once per partition with ${params.partition}, ${params.partition_start}
    and ${params.partition_end} set; running it again changes nothing (steps cached).
    Exit 1 when a partition failed."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        found = ws.pipelines.backfill(spec, start=start, end=end, every=every,
                                      executor=executor)
    table = Table("partition", "run", "status", "steps", title=f"backfill of {spec}")
    for r in found:
        counts: dict[str, int] = {}
        for s in r.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        table.add_row(r.trigger.removeprefix("backfill:"), r.id[:8], _status(r.status),
                      ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    console().print(table)
    if any(r.status != "succeeded" for r in found):
        raise typer.Exit(1)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: str = typer.Option(None, "--pipeline", "-p", help="Only this pipeline's runs."),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
) -> None:
    """The latest pipeline runs, newest first."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        found = ws.pipelines.runs(pipeline, limit=limit)
    table = Table("run", "pipeline", "status", "trigger", "started", "took", "steps")
    for r in found:
        counts: dict[str, int] = {}
        for s in r.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        took = (r.finished_at - r.started_at) if r.finished_at else None
        table.add_row(r.id[:8], r.pipeline, _status(r.status), r.trigger, when(r.started_at),
                      duration(took), ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    console().print(table if found else "no pipeline runs yet: gapless pipeline run SPEC")


@app.command("show")
def show(ctx: typer.Context, run_id: str = typer.Argument(..., help="A run id (or a "
                                                          "unique prefix)."),
         logs: bool = typer.Option(False, "--logs", help="Also print each step's log.")) -> None:
    """One run: each step's status, duration, outputs and error."""
    with open_workspace(ctx) as ws:
        found = ws.pipelines.get(run_id)
    show_run(found, logs=logs)


def show_run(run: Any, *, logs: bool = False) -> None:
    from rich.table import Table

    table = Table("step", "status", "took", "outputs / error",
                  title=f"pipeline {run.pipeline}, run {run.id[:8]}: {run.status}"
                  + (f" (resumes {run.resumed_from[:8]})" if run.resumed_from else ""))
    for s in run.steps:
        detail = s.error or ", ".join(f"{k}={_short(v)}" for k, v in (s.outputs or {}).items())
        if s.status == "cached" and s.cached_from:
            detail = f"from run {s.cached_from[:8]}: {detail}"
        table.add_row(s.step, _status(s.status),
                      "-" if s.seconds is None else duration(s.seconds), detail)
    out = console()
    out.print(table)
    if logs:
        for s in run.steps:
            if s.log:
                out.print(f"[bold]{s.step}[/]\n{s.log}")


def _status(status: str) -> str:
    return f"[{COLOURS.get(status, 'white')}]{status}[/]"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."

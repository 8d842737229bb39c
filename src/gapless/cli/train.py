"""``gapless train SPEC.yaml`` and ``gapless train --reproduce RUN_ID``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gapless.cli.render import console, number, open_workspace

if TYPE_CHECKING:
    from gapless.training.trainer import TrainResult


def train(
    ctx: typer.Context,
    spec: Path = typer.Argument(None, help="Task spec YAML (dataset, target, candidates, ...)."),
    executor: str = typer.Option(
        None, "--executor", "-x",
        help="Where trials run: local, local:N, dask-local, dask://HOST:PORT.",
    ),
    reproduce: str = typer.Option(None, "--reproduce", help="Retrain this training run."),
    card: Path = typer.Option(None, "--card", help="Also write the model card HTML here."),
    register: str = typer.Option(None, "--register",
                                 help="Register the model as the next version of NAME."),
) -> None:
    """Train baseline + candidates with cross-validated Optuna search; track everything."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gapless.core.errors import ValidationError

    if (spec is None) == (reproduce is None):
        raise ValidationError("give a task spec file or --reproduce RUN_ID (one of them)")
    out = console()
    with open_workspace(ctx) as ws, Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("best {task.fields[best]}"), TextColumn("left {task.fields[left]}"),
        TimeElapsedColumn(), console=out, transient=True,
    ) as progress:
        task = progress.add_task("searching", total=None, best="-", left="-")

        def on_progress(p: Any) -> None:
            progress.update(task, completed=p.done, total=p.total,
                            best="-" if p.best is None else number(p.best),
                            left="-" if p.remaining is None else f"{p.remaining:.0f}s")

        if reproduce is not None and register is not None:
            raise ValidationError("--register goes with a task spec, not --reproduce")
        if reproduce is not None:
            result, comparison = ws.reproduce(reproduce, executor=executor,
                                              on_progress=on_progress)
        else:
            result, comparison = ws.train(str(spec), executor=executor,
                                          on_progress=on_progress, register=register), None
        card_text = ws.runs.read_artifact(result.run_id, "model_card.html")
        card_path = card or ws.settings.state_dir / "reports" / f"model-card-{result.run_id}.html"
    card_path.parent.mkdir(parents=True, exist_ok=True)
    card_path.write_bytes(card_text)
    show_result(result, card_path)
    if comparison is not None:
        show_comparison(reproduce, result.run_id, comparison)


def show_result(result: TrainResult, card_path: Path) -> None:
    from rich.table import Table

    out = console()
    out.print(f"[bold]{result.experiment}[/] on {result.dataset} ({result.problem}): best "
              f"[bold]{result.best_family}[/] {result.metric}={number(result.cv_score)} "
              f"(cross-validated); trials {result.trials}")
    table = Table(title="test split, scored once", title_justify="left")
    for column in ("metric", "model", "baseline"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    from gapless.evaluation import scalar_metrics

    ours = scalar_metrics(result.test_metrics)
    theirs = scalar_metrics(result.baseline_test_metrics) if result.baseline_test_metrics else {}
    for key, value in ours.items():
        table.add_row(key, number(value), number(theirs.get(key)))
    out.print(table)
    evaluation = result.evaluation
    if evaluation.get("behavioural"):
        verdict = "passed" if evaluation["behavioural_passed"] else "[red]failed[/]"
        out.print(f"behavioural tests: {verdict}")
    if evaluation.get("fairness") is not None:
        verdict = "passed" if evaluation["fairness_passed"] else "[red]failed[/]"
        out.print(f"fairness checks: {verdict}")
    out.print(f"run {result.run_id}; model card: {card_path}")
    if result.registered:
        out.print(f"registered as [bold]{result.registered}[/]")


def show_comparison(original: str, again: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"reproduction of {original} as {again[:8]}", title_justify="left")
    for column in ("metric", "original", "reproduced", "equal"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["metric"], number(row["original"]), number(row["reproduced"]),
                      "[green]yes[/]" if row["equal"] else "[red]no[/]")
    console().print(table)
    same = all(row["equal"] for row in rows)
    console().print("reproduced exactly" if same else "[yellow]metrics differ[/] (see above)")

"""``gapless recommend train|for|batch``: recommenders from a spec to top-k lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gapless.cli.render import console, number, open_workspace

app = typer.Typer(help="Train recommenders and ask them for top-k items.",
                  no_args_is_help=True)
SHOWN = ("precision", "recall", "map", "mrr", "ndcg", "coverage")


@app.command("train")
def train(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Recommender spec YAML (dataset, items, "
                                "candidates, k, metric, budget)."),
    register: str = typer.Option(None, "--register",
                                 help="Register the model as the next version of NAME."),
) -> None:
    """The popularity baseline, a search over the candidate families on a temporal
    split, every family's best against the baseline on the test events; all tracked."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    out = console()
    with open_workspace(ctx) as ws, Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), console=out,
        transient=True,
    ) as progress:
        task = progress.add_task("searching", total=None, best="-")

        def on_progress(p: Any) -> None:
            progress.update(task, completed=p.done, total=p.total,
                            best="-" if p.best is None else number(p.best))

        result = ws.train_recommender(str(spec), register=register, on_progress=on_progress)
    show_table(result)


def show_table(result: Any) -> None:
    from rich.table import Table

    out = console()
    out.print(f"[bold]{result.experiment}[/] on {result.dataset}: best "
              f"[bold]{result.best_family}[/] {result.metric}={number(result.best_score)} on "
              f"the validation events (baseline {number(result.baseline_score)}); "
              f"trials {result.trials}")
    table = Table(title="test events (each user's last), scored once", title_justify="left")
    metrics = [m for m in result.table[0]["test"] if m.split("@")[0] in SHOWN]
    for column in ("model", *metrics, "beats the baseline on"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in result.table:
        table.add_row(f"{row['model']} ({row['role']})",
                      *[number(row["test"].get(m)) for m in metrics], row["beats_baseline"])
    out.print(table)
    out.print(f"run {result.run_id}" + (f"; registered as [bold]{result.registered}[/]"
                                        if result.registered else ""))


@app.command("for")
def recommend_for(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME@VERSION or NAME@ALIAS."),
    users: list[str] = typer.Argument(..., help="User ids."),
    k: int = typer.Option(10, "-k", help="Items per user."),
) -> None:
    """Top-k items for a few users, as serving answers them."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        loaded = ws.models.load(model)
        if not hasattr(loaded, "recommend_many"):
            from gapless.core.errors import ValidationError

            raise ValidationError(f"{model} is not a recommender")
        answers = loaded.recommend_many(users, k)
    table = Table(title=f"top {k} of {model}", title_justify="left")
    for column in ("user", "items, best first", "how"):
        table.add_column(column)
    for answer in answers:
        table.add_row(answer.user, ", ".join(answer.items), answer.strategy)
    console().print(table)


@app.command("batch")
def batch(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME@VERSION or NAME@ALIAS."),
    k: int = typer.Option(10, "-k", help="Items per user."),
    record: str = typer.Option(..., "--record", help="Store the lists as the next version "
                               "of this dataset."),
) -> None:
    """Top-k for every user the model knows, stored as a dataset version."""
    from gapless.serving.batch_recommend import recommend_batch

    with open_workspace(ctx) as ws:
        frame, ref = recommend_batch(ws, model, k=k, record_as=record)
    console().print(f"{frame['user_id'].nunique():,} users x top {k}: {len(frame):,} rows "
                    f"stored as {ref}", highlight=False)

"""``gapless predict``: batch scoring of a file or dataset version into a Parquet file."""

from __future__ import annotations

import typer

from gapless.cli.render import console, open_workspace


def predict(
    ctx: typer.Context,
    input: str = typer.Option(..., "--input", "-i",
                              help="Parquet or CSV file, or a dataset reference NAME@VERSION."),
    output: str = typer.Option(..., "--output", "-o", help="Parquet file to write."),
    model: str = typer.Option(None, "--model", "-m", help="Model reference NAME@VERSION|ALIAS."),
    endpoint: str = typer.Option(None, "--endpoint", "-e",
                                 help="Score with this endpoint's (first) primary variant."),
    executor: str = typer.Option(
        None, "--executor", "-x",
        help="Where scoring runs: local:1 (in this process, the default), local:N, "
             "dask-local, dask://HOST:PORT.",
    ),
    record: str = typer.Option(None, "--record",
                               help="Record the output as the next version of dataset NAME."),
    keep: list[str] = typer.Option([], "--keep", help="Input column to copy to the output "
                                                      "(repeatable), e.g. an id."),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1,
                                   help="Rows scored at a time (memory stays constant)."),
    proba: bool = typer.Option(True, "--proba/--no-proba",
                               help="Also write class probabilities (classifiers)."),
) -> None:
    """Score a file or dataset version in chunks; write predictions (and class
    probabilities) to Parquet, optionally recorded as a dataset version."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from gapless.serving.batch import predict_batch

    out = console()
    with open_workspace(ctx) as ws, Progress(
        TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
        TimeElapsedColumn(), console=out, transient=True,
    ) as progress:
        task = progress.add_task("scoring", total=None)

        def on_progress(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        result = predict_batch(ws, model=model, endpoint=endpoint, input=input, output=output,
                               executor=executor, record_as=record, keep=keep,
                               chunk_rows=chunk_rows, on_progress=on_progress,
                               probabilities=proba)
    out.print(f"scored {result.rows:,} rows with {result.model} in {result.seconds:.2f}s "
              f"({result.rows_per_second:,.0f} rows/s) -> {result.output}")
    if result.dataset is not None:
        out.print(f"recorded as {result.dataset}")

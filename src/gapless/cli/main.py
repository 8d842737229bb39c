"""The ``gapless`` command: a thin Typer skin over :class:`gapless.Workspace`.

Every GaplessError is caught here, once, and printed as one line with exit code 2;
``--debug`` (or GAPLESS_DEBUG=1) shows the traceback instead. Command modules import
heavy libraries inside their functions so ``gapless --help`` stays fast.
"""

from __future__ import annotations

import os
import sys

import typer

from gapless.cli import (
    data,
    db,
    demo,
    features,
    keys,
    models,
    monitor,
    pipeline,
    predict,
    recommend,
    runs,
    scheduler,
    serving,
    train,
    workspace_cmds,
)
from gapless.core.errors import GaplessError

app = typer.Typer(
    name="gapless",
    help="The production-ML lifecycle in one tool: data, training, tracking, registry, "
    "serving, monitoring, retraining.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    workspace: str = typer.Option(
        None, "--workspace", "-w", envvar="GAPLESS_WORKSPACE",
        help="Workspace folder (default: nearest gapless.yaml above the current folder).",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
) -> None:
    ctx.obj = {"workspace": workspace, "debug": debug}


app.command("init")(workspace_cmds.init)
app.command("demo")(demo.demo)
app.command("train")(train.train)
app.command("serve")(serving.serve)
app.command("deploy")(serving.deploy)
app.command("predict")(predict.predict)
app.command("scheduler")(scheduler.scheduler)
app.add_typer(data.app, name="data")
app.add_typer(db.app, name="db")
app.add_typer(features.app, name="features")
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(monitor.app, name="monitor")
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(recommend.app, name="recommend")
app.add_typer(runs.app, name="runs")


def run() -> None:
    """Console-script entry point."""
    debug = "--debug" in sys.argv or os.environ.get("GAPLESS_DEBUG") == "1"
    try:
        app()
    except GaplessError as exc:
        if debug:
            raise
        from gapless.cli.render import error_console

        error_console().print(f"[bold red]error:[/] {exc}", markup=True, highlight=False,
                              soft_wrap=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    run()

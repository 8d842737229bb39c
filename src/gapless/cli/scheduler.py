"""``gapless scheduler``: run the workspace's pipelines on their schedules and triggers.

Any number of schedulers may run against one metadata store (on one machine or many);
each firing is launched by exactly one of them. ``gapless serve --scheduler`` runs the
same loop in a background thread of the server.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gapless.cli.render import console, open_workspace
from gapless.core.errors import NotFoundError

if TYPE_CHECKING:
    from gapless.pipelines.scheduler import Action, Launch, Scheduler

STYLES = {"started": "green", "failed": "red", "error": "red", "abandoned": "yellow",
          "skipped": "dim", "baseline": "dim"}


def scheduler(
    ctx: typer.Context,
    pipelines: Path = typer.Option(
        None, "--pipelines", help="Folder of pipeline specs (*.yaml); default: the "
        "workspace's pipelines/ folder."),
    once: bool = typer.Option(False, "--once", help="Tick once and exit (exit code 1 if "
                              "a launch failed or a spec is wrong)."),
    poll: float = typer.Option(30.0, "--poll", min=0.1, help="Seconds between ticks."),
    abandon_after: float = typer.Option(
        None, "--abandon-after", min=1.0, help="Also mark failed runs still running this "
        "many seconds after they started (runs of a stopped scheduler on this host are "
        "marked failed regardless)."),
) -> None:
    """Start pipelines on their cron schedules, alert triggers and new dataset versions."""
    with open_workspace(ctx) as ws:
        folder = pipelines_folder(ws, pipelines)
        ticker = build_scheduler(ws, folder, abandon_after=abandon_after)
        out = console()
        if once:
            actions = ticker.tick()
            for action in actions:
                show(action)
            if not actions:
                out.print(f"nothing due ({len(spec_paths(folder))} pipeline spec(s) in "
                          f"{folder})", highlight=False)
            if any(a.outcome in ("failed", "error") for a in actions):
                raise typer.Exit(1)
            return
        out.print(f"scheduling the pipelines in {folder} every {poll:g}s as {ticker.owner} "
                  "(Ctrl-C stops)", highlight=False)
        stop = threading.Event()
        try:
            ticker.run(stop, poll, on_action=show)
        except KeyboardInterrupt:
            stop.set()


def pipelines_folder(ws: Any, given: Path | None) -> Path:
    """The folder of pipeline specs: ``given``, or the workspace's ``pipelines/``."""
    folder = Path(given) if given is not None else Path(ws.root) / "pipelines"
    if not folder.is_dir():
        raise NotFoundError(f"pipeline folder {folder} does not exist; put pipeline specs "
                            "(*.yaml) there or pass --pipelines DIR")
    return folder


def spec_paths(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def launcher(ws: Any) -> Launch:
    """Launch a pipeline run through the workspace's runner; returns the run id."""

    def launch(path: str, trigger: str) -> str | None:
        return str(ws.pipelines.run(path, trigger=trigger).id)

    return launch


def build_scheduler(ws: Any, folder: Path, *, abandon_after: float | None = None
                    ) -> Scheduler:
    from gapless.pipelines.scheduler import Scheduler

    return Scheduler(ws.metadata, lambda: spec_paths(folder), launcher(ws),
                     abandon_after=abandon_after)


def start_background(root: str, poll: float = 30.0) -> threading.Event:
    """Run a scheduler on workspace ``root`` in a daemon thread; set the event to stop."""
    from gapless.workspace import Workspace

    ws = Workspace(root)
    ticker = build_scheduler(ws, pipelines_folder(ws, None))
    stop = threading.Event()
    threading.Thread(target=ticker.run, args=(stop, poll), kwargs={"on_action": show},
                     name="gapless-scheduler", daemon=True).start()
    return stop


def show(action: Action) -> None:
    console().print(str(action), style=STYLES.get(action.outcome), markup=False,
                    highlight=False)

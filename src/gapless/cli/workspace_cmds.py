"""``gapless init``: create a workspace."""

from __future__ import annotations

from pathlib import Path

import typer

from gapless.cli.render import console


def init(
    directory: Path = typer.Argument(Path("."), help="Folder to create the workspace in."),
) -> None:
    """Create gapless.yaml and .gapless/ in DIRECTORY (existing files are kept)."""
    from gapless.workspace import Workspace

    with Workspace.init(directory) as ws:
        out = console()
        out.print(f"Workspace ready at [bold]{ws.root}[/]")
        out.print(f"  settings   {ws.root / 'gapless.yaml'}")
        out.print(f"  metadata   {ws.metadata.display_uri}")
        out.print(f"  artifacts  {ws.artifacts.location}")

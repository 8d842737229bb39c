"""Rich output shared by the command modules: consoles, workspace opening, time formats."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from gapless.workspace import Workspace


def console() -> Console:
    """Stdout console; when piped, wide enough that tables are not squeezed into 80 columns."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


def error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def open_workspace(ctx: typer.Context) -> Workspace:
    """The workspace named by ``--workspace`` (or found from the current folder)."""
    from gapless.workspace import Workspace

    return Workspace((ctx.obj or {}).get("workspace"))


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"

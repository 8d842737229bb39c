"""Rich output shared by the command modules: consoles, workspace opening, time formats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

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


def variant_table(windows: Mapping[str, Any], *, models: Mapping[str, str] | None = None,
                  title: str | None = None) -> Table:
    """Each variant's window (:func:`gapless.serving.canary.variant_windows`): rows, error
    rate, p50/p95 latency and the share of each prediction; ``models`` adds a model column
    (and rows for variants with no traffic)."""
    from collections import Counter

    from rich.table import Table

    columns = ["variant", *(["model"] if models else []), "rows", "error rate", "p50 ms",
               "p95 ms", "predictions (share)"]
    table = Table(*columns, title=title)
    for name in models or windows:
        model = [models[name]] if models else []
        window = windows.get(name)
        if window is None or not window.requests:
            table.add_row(name, *model, "0", "-", "-", "-", "-")
            continue
        latencies = sorted(window.latencies_ms)
        shares = Counter(window.predictions)
        table.add_row(name, *model, str(window.requests), f"{window.error_rate:.1%}",
                      f"{latencies[len(latencies) // 2]:.1f}" if latencies else "-",
                      f"{window.p95_ms:.1f}" if window.p95_ms is not None else "-",
                      ", ".join(f"{k}: {v / len(window.predictions):.0%}"
                                for k, v in sorted(shares.items(), key=lambda kv: str(kv[0]))))
    return table

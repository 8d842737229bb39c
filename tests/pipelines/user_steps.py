"""Steps the pipeline tests run (importable by worker processes as pipelines.user_steps)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gapless.pipelines import StepContext, step


@step(outputs=["value"])
def constant(ctx: StepContext, value: Any) -> dict[str, Any]:
    ctx.log(f"constant {value!r}")
    return {"value": value}


@step(outputs=["total"])
def add(ctx: StepContext, a: float, b: float) -> dict[str, Any]:
    return {"total": a + b}


@step(outputs=["at", "pid"])
def stamp(ctx: StepContext, seconds: float, tag: str) -> dict[str, Any]:
    """Sleeps, then says when it ended and in which process (for parallelism tests)."""
    started = time.time()
    time.sleep(seconds)
    return {"at": [started, time.time()], "pid": os.getpid(), "tag": tag}


@step(outputs=["ok"])
def fail_unless_file(ctx: StepContext, path: str) -> dict[str, Any]:
    """Fails until ``path`` exists: a fault that a later run no longer meets."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} is not there yet")
    return {"ok": True}


@step(outputs=["count"])
def count_calls(ctx: StepContext, path: str) -> dict[str, Any]:
    """Appends a line to ``path`` each time it really runs."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("ran\n")
    return {"count": len(Path(path).read_text(encoding="utf-8").splitlines())}


@step(outputs=["rows"])
def dataset_rows(ctx: StepContext, dataset: str) -> dict[str, Any]:
    return {"rows": ctx.workspace.data.get(dataset).row_count}


@step(outputs=["value"])
def die(ctx: StepContext) -> dict[str, Any]:
    os._exit(1)  # the worker process dies mid-step


def not_a_step(ctx: StepContext) -> dict[str, Any]:
    return {}


@step(outputs=["missing"])
def forgets_output(ctx: StepContext) -> dict[str, Any]:
    return {"other": 1}


@step(outputs=["waited"])
def wait_unless_file(ctx: StepContext, path: str, seconds: float = 120.0) -> dict[str, Any]:
    """Hangs (as a long training would) unless ``path`` exists."""
    if not Path(path).exists():
        time.sleep(seconds)
    return {"waited": not Path(path).exists()}

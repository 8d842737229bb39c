"""Batch scoring spread over an executor: the input cut into runs of whole row groups,
each scored by a worker into a part file, the parts joined in order into one output.

Workers receive the model's plain skops bytes, never the workspace, so they need no
access to the stores; a remote Dask cluster needs a filesystem its workers share for the
part files.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapless.registry.packaging import unpack
from gapless.serving.batch import (
    Progress,
    check_columns,
    input_schema,
    is_csv,
    model_classes,
    read_batches,
    stream_scores,
    temp_beside,
    write_atomically,
)


@dataclass(frozen=True)
class PartTask:
    """One slice of a Parquet input scored by a worker into ``part``."""

    model: bytes  # the plain model file (skops, or a pickle trusted at import)
    format: str
    what: str
    trusted_pickle: bool
    source: str
    row_groups: tuple[int, ...]
    first_row: int
    part: str
    columns: tuple[str, ...] | None
    keep: tuple[str, ...]
    chunk_rows: int
    probabilities: bool


def score_part(task: PartTask) -> int:
    """Executor task: load the model from its bytes, score the task's row groups into
    its part file, return the rows scored."""
    model = unpack(task.model, cipher=None, what=task.what, format=task.format,
                   trusted_pickle=task.trusted_pickle)
    found = model_classes(model, task.probabilities, None)
    return stream_scores(model, Path(task.source), Path(task.part),
                   columns=list(task.columns) if task.columns else None, keep=task.keep,
                   chunk_rows=task.chunk_rows, classes=found, row_groups=task.row_groups,
                   first_row=task.first_row)


def _plan(source: Path, tasks: int) -> list[tuple[tuple[int, ...], int, int]]:
    """Contiguous runs of row groups, about equal in rows: (groups, first row, rows)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(source).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    target = max(1, -(-sum(sizes) // max(1, tasks)))
    plan: list[tuple[tuple[int, ...], int, int]] = []
    groups: list[int] = []
    first = held = 0
    for index, size in enumerate(sizes):
        groups.append(index)
        held += size
        if held >= target:
            plan.append((tuple(groups), first, held))
            first, groups, held = first + held, [], 0
    if groups:
        plan.append((tuple(groups), first, held))
    return plan


def _csv_to_parquet(source: Path, target: Path, chunk_rows: int) -> None:
    import pyarrow.parquet as pq

    writer = None
    try:
        for batch in read_batches(source, chunk_rows, None):
            if writer is None:
                writer = pq.ParquetWriter(target, batch.schema)
            writer.write_batch(batch, row_group_size=chunk_rows)
    finally:
        if writer is not None:
            writer.close()


def score_distributed(executor: Any, model_bytes: bytes, *, format: str, what: str,
                      trusted_pickle: bool, source: str | Path, output: str | Path,
                      columns: list[str] | None, keep: Sequence[str] = (),
                      chunk_rows: int = 100_000, probabilities: bool = True,
                      on_progress: Progress | None = None) -> int:
    """Score ``source`` with tasks on ``executor`` (see the module docstring); one output."""

    import pyarrow.parquet as pq

    source, output = Path(source), Path(output)
    available, total = input_schema(source)
    check_columns(available, [*(columns or []), *keep], source=source, what=what)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = temp_beside(output, "parts")
    scratch.mkdir()
    try:
        if is_csv(source):
            converted = scratch / "input.parquet"
            _csv_to_parquet(source, converted, chunk_rows)
            source, total = converted, pq.ParquetFile(converted).metadata.num_rows
        plan = _plan(source, executor.workers * 2)
        futures = [executor.submit(score_part, PartTask(
            model_bytes, format, what, trusted_pickle, str(source), groups, first,
            str(scratch / f"part-{i:05d}.parquet"),
            tuple(columns) if columns else None, tuple(keep), chunk_rows, probabilities))
            for i, (groups, first, _) in enumerate(plan)]
        done = 0
        try:
            for future in executor.as_completed(futures):
                done += future.result()
                if on_progress is not None:
                    on_progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        parts = [scratch / f"part-{i:05d}.parquet" for i in range(len(plan))]
        return write_atomically(output, lambda temp: _concat(parts, temp))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _concat(parts: Sequence[Path], target: Path) -> int:
    """Stream the part files, in order, into one Parquet file (empty parts skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    opened = [pq.ParquetFile(part) for part in parts]
    try:
        scored = [p for p in opened if p.metadata.num_rows] or opened[:1]
        writer = pq.ParquetWriter(target, scored[0].schema_arrow)
        rows = 0
        try:
            for parquet in scored:
                for batch in parquet.iter_batches():
                    writer.write_table(pa.Table.from_batches([batch]).cast(writer.schema))
                    rows += batch.num_rows
        finally:
            writer.close()
    finally:
        for parquet in opened:
            parquet.close()
    return rows

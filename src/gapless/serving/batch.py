"""Batch scoring: a registered model over a Parquet file, a CSV file or a dataset version.

:func:`score_file` streams the input in chunks of at most ``chunk_rows`` rows (Parquet
through ``ParquetFile.iter_batches``, CSV through pyarrow's streaming ``open_csv``), so
memory stays constant whatever the file size (the next chunk is read and the previous one
written while one is scored), and writes one Parquet output with:

- ``row``: the 0-based position of the row in the input, so predictions join back;
- any ``keep`` columns copied from the input (ids, keys);
- ``prediction``: ``model.predict``;
- ``proba_<class>``: one probability column per class, for classifiers (unless
  ``probabilities=False``).

The output is written to a hidden temporary file beside it and renamed into place only
when complete, so a failure never leaves a partial output (its folder is created).

:func:`predict_batch` is the shell over a workspace: it resolves the model (``--model``) or
an endpoint's first primary variant (``--endpoint``), checks the input's columns before
writing anything, optionally spreads the work over an executor and records the output as
a derived dataset version with lineage to the input version and the model.

With an executor other than ``local:1`` the Parquet input is split into contiguous runs of
row groups (a CSV is first streamed into a temporary Parquet file); each task receives the
model as its plain skops bytes (not the workspace: workers need no access to the metadata
or artifact store, and the serving layer does not import :mod:`gapless.workspace`), scores
its slice into a part file, and the parts are then streamed, in input order, into the one
output file. Part files are written beside the output, so a remote Dask cluster needs the
input and output on a filesystem its workers share. A file with a single row group is one
task.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapless.core.errors import NotFoundError, ValidationError
from gapless.registry.packaging import plain_bytes, unpack
from gapless.serving.predictor import scorer

Progress = Callable[[int, int | None], None]
FILE_SUFFIXES = (".parquet", ".pq", ".csv")
CSV_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class BatchResult:
    """What a batch scoring produced: rows scored, the output file, the model, the record."""

    rows: int
    output: str
    seconds: float
    model: str  # NAME@VERSION
    dataset: str | None  # the recorded output version, when recorded

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


# -- reading -----------------------------------------------------------------------------
def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def input_schema(source: str | Path) -> tuple[list[str], int | None]:
    """Column names of a Parquet or CSV file and its row count (None for CSV)."""
    import pyarrow.parquet as pq

    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"input file {path} does not exist; give a Parquet or CSV file "
                            "or a dataset reference like sales@3")
    if is_csv(path):
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES))
        try:
            return list(reader.schema.names), None
        finally:
            reader.close()
    meta = pq.ParquetFile(path)
    try:
        return list(meta.schema_arrow.names), meta.metadata.num_rows
    finally:
        meta.close()


def read_batches(source: Path, chunk_rows: int, columns: list[str] | None,
             row_groups: Sequence[int] | None = None) -> Iterator[Any]:
    """Record batches of at most ``chunk_rows`` rows, read lazily."""
    if is_csv(source):
        import pyarrow.csv as pcsv

        options = pcsv.ConvertOptions(include_columns=columns) if columns else None
        reader = pcsv.open_csv(source, convert_options=options,
                               read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES))
        try:
            yield from _rebatch(reader, chunk_rows)
        finally:
            reader.close()
        return
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    try:
        yield from parquet.iter_batches(batch_size=chunk_rows, row_groups=row_groups,
                                        columns=columns)
    finally:
        parquet.close()


def _rebatch(batches: Any, chunk_rows: int) -> Iterator[Any]:
    """Cut or join batches into batches of at most ``chunk_rows`` rows."""
    import pyarrow as pa

    pending: list[Any] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield from table.slice(0, chunk_rows).to_batches(max_chunksize=chunk_rows)
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches(
            max_chunksize=chunk_rows)


def check_columns(available: Sequence[str], needed: Sequence[str], *, source: str | Path,
                  what: str) -> None:
    """Raise ValidationError naming the columns ``needed`` that ``available`` lacks."""
    missing = [c for c in needed if c not in set(available)]
    if missing:
        raise ValidationError(
            f"input {source}: {what} needs column(s) {missing}, which the input lacks "
            f"(it has {list(available)[:20]}); add them or score another file")


# -- scoring -----------------------------------------------------------------------------
def _score_chunk(score: Callable[[Any], tuple[Any, Any]], batch: Any, first_row: int,
                 columns: Sequence[str] | None, keep: Sequence[str],
                 classes: Sequence[Any] | None) -> Any:
    import numpy as np
    import pyarrow as pa

    frame = (batch.select(list(columns)) if columns else batch).to_pandas()
    arrays = {"row": pa.array(np.arange(first_row, first_row + batch.num_rows,
                                        dtype=np.int64))}
    for name in keep:
        arrays[name] = batch.column(name)
    predictions, probabilities = score(frame)
    arrays["prediction"] = pa.array(np.asarray(predictions))
    if classes is not None:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        for i, label in enumerate(classes):
            arrays[f"proba_{label}"] = pa.array(probabilities[:, i])
    return pa.table(arrays)


def model_classes(model: Any, probabilities: bool, classes: Sequence[Any] | None
                   ) -> Sequence[Any] | None:
    if not probabilities or not hasattr(model, "predict_proba"):
        return None
    found = classes if classes is not None else getattr(model, "classes_", None)
    return None if found is None else list(found)


def temp_beside(output: Path, tag: str) -> Path:
    return output.parent / f".{output.name}.{tag}-{uuid.uuid4().hex[:8]}"


def write_atomically(output: Path, write: Callable[[Path], int]) -> int:
    """Run ``write(temp)`` then rename the temp file onto ``output``; never leave a part."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_beside(output, "tmp")
    try:
        rows = write(temp)
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return rows


def stream_scores(model: Any, source: Path, target: Path, *, columns: Sequence[str] | None,
            keep: Sequence[str], chunk_rows: int, classes: Sequence[Any] | None,
            row_groups: Sequence[int] | None = None, first_row: int = 0,
            on_rows: Callable[[int], None] | None = None) -> int:
    """Score ``source`` chunk by chunk into the Parquet file ``target``; returns rows.

    Two helper threads overlap the I/O with the model: the next chunk is read while this
    one is scored, and the previous one is written meanwhile (pyarrow releases the GIL), so
    at most three chunks are held at once.
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    import pyarrow as pa
    import pyarrow.parquet as pq

    read = None if columns is None else list(dict.fromkeys([*columns, *keep]))
    score = scorer(model, classes)
    proba = {f"proba_{label}" for label in classes or ()}
    batches = read_batches(source, chunk_rows, read, row_groups)
    writer = None
    rows = 0
    with ThreadPoolExecutor(2, thread_name_prefix="gapless-batch") as pool:
        ahead = pool.submit(next, batches, None)
        written = None
        try:
            while (batch := ahead.result()) is not None:
                ahead = pool.submit(next, batches, None)
                if not batch.num_rows:
                    continue
                table = _score_chunk(score, batch, first_row + rows, columns, keep, classes)
                if writer is None:  # no dictionary for unique ids and probabilities
                    writer = pq.ParquetWriter(target, table.schema, use_dictionary=[
                        n for n in table.column_names if n != "row" and n not in proba])
                if written is not None:
                    written.result()
                written = pool.submit(writer.write_table, table.cast(writer.schema))
                rows += batch.num_rows
                if on_rows is not None:
                    on_rows(rows)
            if written is not None:
                written.result()
            if writer is None:  # an empty input still gives a readable (empty) output
                pq.write_table(pa.table({"row": pa.array([], pa.int64()),
                                         "prediction": pa.array([], pa.float64())}), target)
        finally:
            wait([f for f in (ahead, written) if f is not None])
            batches.close()
            if writer is not None:
                writer.close()
    return rows


def score_file(model: Any, source: str | Path, output: str | Path, *,
               columns: list[str] | None, chunk_rows: int = 100_000,
               probabilities: bool = True, classes: Sequence[Any] | None = None,
               keep: Sequence[str] = (), on_progress: Progress | None = None) -> int:
    """Score a Parquet or CSV file in this process, streaming, into one Parquet file.

    ``columns`` are the model's input columns (None: every column of the file); ``keep``
    names input columns copied to the output. ``on_progress(done, total)`` is called
    after each chunk; ``total`` is None for CSV (unknown without reading it). Returns the
    number of rows scored. See the module docstring for the output's columns.
    """
    if chunk_rows < 1:
        raise ValidationError(f"chunk_rows must be >= 1, got {chunk_rows}")
    source, output = Path(source), Path(output)
    available, total = input_schema(source)
    check_columns(available, [*(columns or []), *keep], source=source, what="scoring")
    found = model_classes(model, probabilities, classes)
    progress = None if on_progress is None else (lambda done: on_progress(done, total))
    return write_atomically(output, lambda temp: stream_scores(
        model, source, temp, columns=columns, keep=keep, chunk_rows=chunk_rows,
        classes=found, on_rows=progress))


# -- the workspace shell -----------------------------------------------------------------
def predict_batch(workspace: Any, *, model: str | None = None, endpoint: str | None = None,
                  input: str, output: str, executor: str | None = None,
                  record_as: str | None = None, keep: Sequence[str] = (),
                  chunk_rows: int = 100_000, probabilities: bool = True,
                  on_progress: Progress | None = None) -> BatchResult:
    """Score ``input`` (a Parquet/CSV path or a dataset reference ``NAME@v``) with a
    registered model (``model``) or the first primary variant of ``endpoint``, into the
    Parquet file ``output``.

    ``executor`` None (or ``local:1``) streams in this process; any other compute URI
    spreads row groups over that executor. ``record_as`` records the output as the next
    version of that dataset, kind "derived", with the input version as parent and the
    model in its spec. ``probabilities`` False leaves out the ``proba_<class>`` columns
    (and the model's ``predict_proba``). Columns are checked before anything is written.
    """
    from gapless.serving.batch_parts import score_distributed

    started = time.perf_counter()
    if (model is None) == (endpoint is None):
        raise ValidationError("give a model (--model NAME@VERSION) or an endpoint "
                              "(--endpoint NAME), exactly one of them")
    version = workspace.models.get(model if model is not None
                                   else _primary_model(workspace, endpoint))
    source, parent = _resolve_input(workspace, input)
    what = f"model {version.ref}"
    plain = plain_bytes(workspace.models.artifacts.get_bytes(version.digest),
                        workspace.models.cipher, what=what)
    loaded = unpack(plain, cipher=None, what=what, format=version.format,
                    model_digest=version.model_digest,
                    trusted_pickle=version.trusted_by is not None)
    columns = _input_columns(version, loaded)
    available, _ = input_schema(source)
    try:
        check_columns(available, [*(columns or []), *keep], source=input, what=what)
    except ValidationError as exc:
        plan = workspace.feature_plan(version)
        if plan is None or all(name in available for name in plan.features):
            raise
        views = " ".join(f"-f {lookup.ref}" for lookup in plan.lookups)
        raise ValidationError(f"{exc}. {version.ref} was trained on feature views: join "
                              f"their features to the input as of each row's time first, "
                              f"e.g. `gapless features training-set {input} {views} "
                              f"--timestamp TIME_COLUMN --save-as NAME`, then score NAME"
                              ) from None
    target = Path(output)
    if executor is None or executor.strip() == "local:1":
        rows = score_file(loaded, source, target, columns=columns, chunk_rows=chunk_rows,
                          probabilities=probabilities, keep=keep, on_progress=on_progress)
    else:
        from gapless.compute import open_executor

        with open_executor(executor) as pool:
            rows = score_distributed(
                pool, plain, format=version.format, what=what,
                trusted_pickle=version.trusted_by is not None, source=source, output=target,
                columns=columns, keep=keep, chunk_rows=chunk_rows,
                probabilities=probabilities, on_progress=on_progress)
    recorded = None
    if record_as is not None:
        recorded = workspace.data.add(
            record_as, str(target), parents=[parent] if parent else [], kind="derived",
            spec={"model": version.ref, "model_digest": version.model_digest,
                  "input": parent or str(source), "endpoint": endpoint},
            description=f"predictions of {version.ref} on {parent or source}",
        ).version.ref
    return BatchResult(rows, str(target), time.perf_counter() - started, version.ref, recorded)


def _primary_model(workspace: Any, endpoint: str) -> str:
    """The model reference of the endpoint's first primary variant."""
    from gapless.serving.deployments import DeploymentStore

    spec = DeploymentStore(workspace.metadata).get(endpoint).spec
    return next(v.model for v in spec.variants if v.role == "primary")


def _resolve_input(workspace: Any, text: str) -> tuple[Path, str | None]:
    """(local file to read, dataset version ref or None) for a path or ``NAME@v``."""
    path = Path(text).expanduser()
    if path.is_file():
        return path, None
    if path.suffix.lower() in FILE_SUFFIXES or os.sep in text or "/" in text:
        raise NotFoundError(f"input file {text} does not exist; give a Parquet or CSV file "
                            "or a dataset reference like sales@3")
    version = workspace.data.get(text)
    return workspace.data.path(version), version.ref


def _input_columns(version: Any, model: Any) -> list[str] | None:
    """The columns the model reads: its signature's, else ``feature_names_in_``, else all."""
    signature = version.signature or {}
    names = [c["name"] for c in signature.get("inputs", ())]
    if names:
        return names
    fitted = getattr(model, "feature_names_in_", None)
    return [str(n) for n in fitted] if fitted is not None else None


__all__ = ["BatchResult", "predict_batch", "score_file"]

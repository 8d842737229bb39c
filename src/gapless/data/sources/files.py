"""Parquet (file, folder, glob, hive partitions) and JSON Lines, local or on any fsspec store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gapless.core.config import redact_uri
from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.sources.base import OpenedSource, arrow_types, open_binary


def open_parquet(
    path: str,
    *,
    storage_options: Mapping[str, Any],
    partitioning: str | None = "hive",
    columns: list[str] | None = None,
) -> OpenedSource:
    """A Parquet file, a folder of them (hive partitions become columns) or a glob."""
    import fsspec
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    shown = redact_uri(path)
    fs, root = fsspec.core.url_to_fs(path, **storage_options)
    if any(ch in root for ch in "*?["):
        files = sorted(fs.glob(root))
        if not files:
            raise NotFoundError(f"no files match {shown}; check the pattern")
        target: Any = files
    elif fs.exists(root):
        target = root
    else:
        raise NotFoundError(f"no such file or folder: {shown}; check the path")
    filesystem = PyFileSystem(FSSpecHandler(fs))
    try:
        dataset = ds.dataset(target, format="parquet", filesystem=filesystem,
                             partitioning=partitioning if fs.isdir(root) else None,
                             exclude_invalid_files=False)
        reader = dataset.scanner(columns=columns, batch_size=128_000).to_reader()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"{shown} is not readable as Parquet: {exc}") from exc
    return OpenedSource(reader=reader, uri=shown, explain_error=lambda exc: ValidationError(
        f"{shown}: cannot read Parquet data: {exc}"))


def open_jsonl(
    path: str,
    *,
    storage_options: Mapping[str, Any],
    column_types: Mapping[str, str] | None = None,
) -> OpenedSource:
    """JSON Lines: one object per line; a broken line is reported with its number."""
    import pyarrow as pa
    import pyarrow.json as pajson

    shown = redact_uri(path)
    with open_binary(path, storage_options) as handle:
        if not handle.read(4096).strip():
            raise ValidationError(f"file {shown} is empty; there is nothing to ingest")
    handle = open_binary(path, storage_options)
    schema = pa.schema(list(arrow_types(column_types).items())) if column_types else None

    def explain(exc: Exception) -> Exception:
        line = _first_bad_json_line(path, storage_options)
        where = f", line {line[0]}: {line[1]}" if line else ""
        return ValidationError(f"file {shown}{where}; JSON Lines needs one JSON object per "
                               f"line ({str(exc).splitlines()[0]})")

    try:
        reader = pajson.open_json(
            handle,
            read_options=pajson.ReadOptions(block_size=8 << 20),
            parse_options=pajson.ParseOptions(explicit_schema=schema,
                                               unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        handle.close()
        raise explain(exc) from exc
    return OpenedSource(reader=reader, uri=shown, explain_error=explain, close=handle.close)


def _first_bad_json_line(path: str, storage_options: Mapping[str, Any]) -> tuple[int, str] | None:
    with open_binary(path, storage_options) as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return number, f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
            if not isinstance(value, dict):
                return number, f"expected an object, got {type(value).__name__}"
    return None

"""Where data comes from: every source opens as a stream of Arrow record batches.

:func:`open_source` picks a reader from what it is given (a DataFrame, an Arrow
object, a SQL URL, or a path/fsspec URI whose suffix or ``format`` names CSV,
Parquet or JSON Lines) through :data:`READERS`, a table of lazily imported dotted
paths. Readers never hold more than a few batches in memory, so ingesting a file
larger than RAM works.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from gapless.core.errors import ValidationError
from gapless.data.sources.base import OpenedSource

READERS: dict[str, str] = {
    "csv": "gapless.data.sources.csv:open_csv",
    "parquet": "gapless.data.sources.files:open_parquet",
    "jsonl": "gapless.data.sources.files:open_jsonl",
    "sql": "gapless.data.sources.sql:open_sql",
    "memory": "gapless.data.sources.memory:open_memory",
}
_SUFFIXES = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".csv.gz": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".jsonl.gz": "jsonl",
}
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql", "oracle", "duckdb")


def detect_format(source: Any, *, query: str | None = None) -> str:
    """The reader for ``source``: from its Python type, URI scheme or file suffix."""
    if not isinstance(source, str | bytes) and not hasattr(source, "__fspath__"):
        return "memory"
    text = str(source)
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    if scheme in _SQL_SCHEMES or query is not None:
        return "sql"
    lowered = text.lower().rstrip("/")
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return _SUFFIXES[suffix]
    if any(ch in text for ch in "*?[") or lowered.endswith(("/", "parquet")):
        return "parquet"
    return "directory"


def open_source(
    source: Any,
    *,
    format: str | None = None,
    query: str | None = None,
    table: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> OpenedSource:
    """Open ``source`` as a stream of record batches.

    ``format`` forces a reader (csv, parquet, jsonl, sql, memory); ``query``/``table``
    apply to SQL URLs; ``storage_options`` go to fsspec for remote paths; other
    ``options`` go to the reader (e.g. ``delimiter``, ``encoding``, ``column_types``).
    """
    kind = format or detect_format(source, query=query)
    if kind == "directory":
        kind = "parquet"  # a folder of Parquet files, possibly hive-partitioned
    if kind not in READERS:
        raise ValidationError(
            f"unknown data format {kind!r} for {source!r}; known formats: {', '.join(READERS)}"
        )
    module_name, function = READERS[kind].split(":")
    reader = getattr(importlib.import_module(module_name), function)
    if kind == "sql":
        return reader(str(source), query=query, table=table, **options)
    if kind == "memory":
        return reader(source, **options)
    return reader(str(source), storage_options=dict(storage_options or {}), **options)


__all__ = ["READERS", "OpenedSource", "detect_format", "open_source"]

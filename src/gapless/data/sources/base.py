"""What every source reader returns, and helpers all readers share."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gapless.core.config import redact_uri
from gapless.core.errors import NotFoundError, StoreUnavailableError, ValidationError


@dataclass
class OpenedSource:
    """An open stream of record batches plus what to record about where it came from.

    ``explain_error`` turns a reader's low-level failure (an Arrow parse error) into a
    GaplessError naming the file, line and column, by re-reading only as far as needed.
    """

    reader: Any  # pyarrow.RecordBatchReader
    uri: str  # where it came from, credentials removed
    query: str | None = None
    explain_error: Callable[[Exception], Exception] = field(default=lambda exc: exc)
    close: Callable[[], None] = field(default=lambda: None)


def open_binary(path: str, storage_options: Mapping[str, Any]) -> BinaryIO:
    """Open a local path or fsspec URI for reading, decompressing by suffix (.gz, .zst, ...)."""
    import fsspec

    shown = redact_uri(path)
    try:
        return fsspec.open(path, "rb", compression="infer", **storage_options).open()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such file: {shown}; check the path") from exc
    except IsADirectoryError as exc:
        raise ValidationError(f"{shown} is a folder; give a file or a Parquet folder") from exc
    except ImportError as exc:
        scheme = path.split("://", 1)[0]
        raise ValidationError(
            f"reading {shown} needs a driver that is not installed ({exc.name or exc}); "
            f"pip install 'gapless[{scheme}]'"
        ) from exc
    except OSError as exc:
        raise StoreUnavailableError(f"cannot open {shown}: {exc}") from exc


def check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ValidationError(
            f"unknown encoding {encoding!r}; use a Python codec name such as utf-8, latin-1, "
            "cp1252 or utf-16"
        ) from exc


# Type names users may give for a column, mapped to Arrow types.
COLUMN_TYPES = {
    "string": "string", "text": "string", "str": "string", "categorical": "string",
    "integer": "int64", "int": "int64", "int64": "int64",
    "float": "float64", "double": "float64", "float64": "float64",
    "boolean": "bool", "bool": "bool",
    "datetime": "timestamp[us]", "timestamp": "timestamp[us]", "date": "date32",
}


def arrow_types(column_types: Mapping[str, str] | None) -> dict[str, Any]:
    """Arrow types for user-declared column types such as ``{"age": "float"}``."""
    import pyarrow as pa

    resolved = {}
    for column, name in (column_types or {}).items():
        key = str(name).lower()
        if key not in COLUMN_TYPES:
            raise ValidationError(
                f"column {column!r}: unknown type {name!r}; known types: "
                f"{', '.join(sorted(COLUMN_TYPES))}"
            )
        target = COLUMN_TYPES[key]
        resolved[column] = pa.timestamp("us") if target == "timestamp[us]" else pa.type_for_alias(
            target
        )
    return resolved

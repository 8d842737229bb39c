"""Python objects: pandas and polars DataFrames, Arrow tables, batches and readers."""

from __future__ import annotations

from typing import Any

from gapless.core.errors import ValidationError
from gapless.data.sources.base import OpenedSource


def open_memory(obj: Any) -> OpenedSource:
    import pyarrow as pa

    kind = f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}"
    if isinstance(obj, pa.RecordBatchReader):
        reader = obj
    elif isinstance(obj, pa.Table):
        reader = pa.RecordBatchReader.from_batches(obj.schema, obj.to_batches())
    elif isinstance(obj, pa.RecordBatch):
        reader = pa.RecordBatchReader.from_batches(obj.schema, [obj])
    elif kind == "pandas.DataFrame":
        _check_pandas_columns(obj)
        try:
            table = pa.Table.from_pandas(obj, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(
                f"the DataFrame cannot be stored: {exc}; a column probably mixes types "
                "(e.g. numbers and text): convert it with .astype(str) or clean it"
            ) from exc
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    elif kind == "polars.DataFrame":
        table = obj.to_arrow()
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    else:
        raise ValidationError(
            f"cannot read data from a {kind}; give a path, a URI, a SQL URL, a pandas or "
            "polars DataFrame, or a pyarrow Table"
        )
    return OpenedSource(reader=reader, uri=f"python:{kind}")


def _check_pandas_columns(frame: Any) -> None:
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"the DataFrame has duplicate column names {duplicated}; rename them")

"""Open what ``profile()`` is given as one DuckDB relation named ``t``.

A Parquet path becomes a view over ``read_parquet`` (nothing is loaded; DuckDB streams
the file); a pandas DataFrame is converted to Arrow once and, like a pyarrow Table, is
registered zero-copy. Either way the profile code sees the same relation, the Arrow
schema, the row count and a seeded sampler that picks the same rows from a frame and
from its Parquet file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gapless.core.errors import NotFoundError, ValidationError
from gapless.data.profiling_columns import quote


@dataclass
class Input:
    """A source opened for profiling: a DuckDB relation ``t`` plus what we know up front."""

    con: Any
    schema: Any
    rows: int
    description: dict[str, Any]
    table: Any = None  # the Arrow table, for in-memory sources
    path: str | None = None

    def sample(self, names: list[str], size: int, seed: int) -> Any:
        """The seeded sample of ``names``: the same rows for a frame and its Parquet file."""
        import pyarrow as pa

        if not names:
            return pa.table({})
        wanted = ", ".join(quote(n) for n in names)
        if size >= self.rows:
            if self.table is not None:
                return self.table.select(names)
            return self.con.sql(f"SELECT {wanted} FROM t").to_arrow_table()
        rows = np.sort(np.random.default_rng(seed).choice(self.rows, size=size, replace=False))
        if self.table is not None:
            return self.table.select(names).take(pa.array(rows))
        self.con.register("_sample_rows", pa.table({"i": rows}))
        return self.con.sql(
            f"SELECT {wanted} FROM read_parquet({_literal(self.path)}, file_row_number = true) "
            "WHERE file_row_number IN (SELECT i FROM _sample_rows) ORDER BY file_row_number"
        ).to_arrow_table()


@contextmanager
def open_source(source: Any) -> Iterator[Input]:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:
        if isinstance(source, str | os.PathLike):
            yield _open_parquet(con, Path(source))
            return
        if isinstance(source, pa.Table):
            table, description = source, {"kind": "arrow", "memory_bytes": source.nbytes}
        elif _is_dataframe(source):
            table = _from_pandas(source)
            memory = int(source.memory_usage(deep=True, index=False).sum())
            description = {"kind": "dataframe", "memory_bytes": memory}
        else:
            raise ValidationError(
                f"profile: cannot profile a {type(source).__name__}; pass a Parquet file path, "
                "a pandas DataFrame or a pyarrow Table"
            )
        _check_names(table.schema.names)
        con.register("t", table)
        yield Input(con, table.schema, table.num_rows, description, table=table)
    finally:
        con.close()


def _open_parquet(con: Any, path: Path) -> Input:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise NotFoundError(f"profile: Parquet file {str(path)!r} does not exist")
    try:
        meta = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            f"profile: {str(path)!r} is not a readable Parquet file ({exc}); "
            "convert it to Parquet or pass a DataFrame"
        ) from exc
    schema = meta.schema_arrow
    _check_names(schema.names)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({_literal(str(path))})")
    memory = sum(meta.metadata.row_group(i).total_byte_size
                 for i in range(meta.metadata.num_row_groups))
    description = {"kind": "parquet", "path": str(path), "file_bytes": path.stat().st_size,
                   "memory_bytes": memory}
    return Input(con, schema, meta.metadata.num_rows, description, path=str(path))


def _from_pandas(frame: Any) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"profile: the DataFrame cannot be converted to Arrow ({exc}); "
            "give each column values of one type"
        ) from exc


def _check_names(names: list[str]) -> None:
    if not names:
        raise ValidationError("profile: the data has no columns; there is nothing to profile")
    seen: set[str] = set()
    repeated = sorted({n for n in names if n in seen or seen.add(n)})
    if repeated:
        raise ValidationError(
            f"profile: column names must be unique, but {', '.join(map(repr, repeated))} "
            "appear more than once; rename them"
        )


def _is_dataframe(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _literal(text: str | None) -> str:
    return "'" + str(text).replace("'", "''") + "'"

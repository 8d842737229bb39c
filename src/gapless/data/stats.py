"""Per-column statistics of a Parquet snapshot, computed by DuckDB in one scan.

They are stored with each version so listing, diffing and choosing a drift
reference never re-read the data.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

from gapless.data.types import classify

# Above this many rows, distinct counts are HyperLogLog estimates (exact counts of every
# column at once need a hash table per column; at 2M rows x 20 columns that was 1.2 GB).
EXACT_DISTINCT_ROWS = 1_000_000
# Estimates within this fraction of the non-null count mean "every value distinct".
ALL_DISTINCT_TOLERANCE = 0.97
# DuckDB spills to disk beyond this, keeping ingestion's memory bounded.
MEMORY_LIMIT = "768MB"


def quote(name: str) -> str:
    """A column name as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def column_stats(path: Path, schema: Any, rows: int) -> list[dict[str, Any]]:
    """One record per column: types, null count, distinct, min/max, mean/std, text length."""
    import duckdb
    import pyarrow.types as pat

    parts: list[str] = []
    plan: list[tuple[str, list[str]]] = []
    exact = rows <= EXACT_DISTINCT_ROWS
    distinct = "count(DISTINCT {c})" if exact else "approx_count_distinct({c})"
    for index, field in enumerate(schema):
        c = quote(field.name)
        wanted = {"non_null": f"count({c})", "distinct": distinct.format(c=c)}
        numeric = pat.is_integer(field.type) or pat.is_floating(field.type) or pat.is_decimal(
            field.type
        )
        if numeric or pat.is_temporal(field.type) or pat.is_string(field.type) or (
            pat.is_large_string(field.type)
        ):
            wanted["min"] = f"min({c})"
            wanted["max"] = f"max({c})"
        if numeric:
            wanted["mean"] = f"avg({c}::DOUBLE)"
            wanted["std"] = f"stddev_samp({c}::DOUBLE)"
        if pat.is_string(field.type) or pat.is_large_string(field.type):
            wanted["avg_length"] = f"avg(length({c}))"
        keys = []
        for key, expression in wanted.items():
            parts.append(f"{expression} AS s{index}_{key}")
            keys.append(key)
        plan.append((field.name, keys))
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT,
                                 "preserve_insertion_order": False})
    try:
        values = con.execute(
            f"SELECT {', '.join(parts)} FROM read_parquet(?)", [str(path)]
        ).fetchone()
    finally:
        con.close()
    records, position = [], 0
    for field, (name, keys) in zip(schema, plan, strict=True):
        found = {key: _plain(values[position + i]) for i, key in enumerate(keys)}
        position += len(keys)
        non_null = int(found.pop("non_null"))
        distinct = min(int(found.get("distinct") or 0), non_null)
        if not exact and distinct >= ALL_DISTINCT_TOLERANCE * non_null:
            distinct = non_null
        found["distinct"] = distinct
        record = {
            "name": name,
            "type": str(field.type),
            "semantic": classify(name, field.type, non_null=non_null, distinct=distinct,
                                 avg_length=found.get("avg_length")),
            "null_count": rows - non_null,
            "null_fraction": (rows - non_null) / rows if rows else 0.0,
            **found,
        }
        records.append(record)
    return records


def _plain(value: Any) -> Any:
    """JSON-friendly scalars: dates as ISO text, decimals as floats, NaN as None."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

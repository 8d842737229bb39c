"""Semantic column types: what a column *means*, beyond its storage type.

integer, float, boolean, datetime come from the storage type. Strings become an
``identifier`` when (almost) every value is distinct and short, ``text`` when values
are long or nearly all distinct, else ``categorical``. Integers that are all distinct
and named like an id (``id``, ``*_id``, ``key``, ``rownames``) are identifiers too.
"""

from __future__ import annotations

import re
from typing import Any

SEMANTIC_TYPES = ("integer", "float", "boolean", "categorical", "datetime", "text", "identifier")

_ID_NAME = re.compile(r"(^|_)(id|uuid|key|rownames|index)$", re.IGNORECASE)
# A string column with at most this many distinct values is categorical, whatever its size.
MAX_CATEGORIES = 50
# ... or with distinct values up to this fraction of its non-null rows.
MAX_CATEGORY_FRACTION = 0.05
TEXT_MIN_AVG_LENGTH = 40


def classify(
    name: str,
    arrow_type: Any,
    *,
    non_null: int,
    distinct: int,
    avg_length: float | None = None,
) -> str:
    """The semantic type of one column from its Arrow type and a few statistics."""
    import pyarrow.types as pat

    if pat.is_dictionary(arrow_type):
        return "categorical"
    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_timestamp(arrow_type) or pat.is_date(arrow_type):
        return "datetime"
    all_distinct = non_null > 0 and distinct >= non_null
    if pat.is_integer(arrow_type):
        return "identifier" if all_distinct and _ID_NAME.search(name) else "integer"
    if pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "float"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type) or pat.is_string_view(
        arrow_type
    ):
        if avg_length is not None and avg_length >= TEXT_MIN_AVG_LENGTH:
            return "text"
        if distinct <= MAX_CATEGORIES or distinct <= MAX_CATEGORY_FRACTION * non_null:
            return "categorical"
        if all_distinct or _ID_NAME.search(name):
            return "identifier"
        return "text"
    return "text"


def infer_types(frame: Any) -> dict[str, str]:
    """Semantic types of every column of an in-memory pandas DataFrame or Arrow table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(frame, pa.Table):
        table = frame
    else:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    types = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        non_null = len(column) - column.null_count
        distinct = pc.count_distinct(column, mode="only_valid").as_py() if non_null else 0
        avg_length = None
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            lengths = pc.utf8_length(column)
            avg_length = pc.mean(lengths).as_py() if non_null else 0.0
        types[name] = classify(name, column.type, non_null=non_null, distinct=distinct,
                               avg_length=avg_length)
    return types

"""Profile a data set: what each column holds and how the columns relate.

``profile(source)`` returns one JSON-safe dict (format ``gapless.profile/1``)::

    format, dataset, source, target
    table         rows, columns, memory/file bytes, missing cells, duplicate rows,
                  constant and duplicate columns, semantic type counts
    columns       {name: statistics for its semantic type}, in source order
    sample        the seeded sample behind correlations, association and PCA
    correlations  pearson, spearman (numeric), cramers_v (categorical): columns + matrix
    target_association  every column's association with the target, strongest first
    pca           2-D projection of the standardised numeric columns
    alerts        findings worth a look (high missing, constant, duplicates, skew, ...)
    measures      what each named measure means

Column statistics and duplicate detection read every row through DuckDB, straight from
a Parquet file when given one, so a file larger than memory still profiles. Everything
that needs rows side by side (correlations, association, PCA) uses a seeded sample of
at most ``max_rows`` rows, recorded under ``sample``, so the cost is bounded and the same
inputs give the same profile. Two profiles diff column by column: stats are keyed by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gapless.core.errors import ValidationError
from gapless.data import profiling_relations as rel
from gapless.data.profiling_alerts import alerts as find_alerts
from gapless.data.profiling_columns import (
    CATEGORY_TYPES,
    NUMERIC_TYPES,
    column_stats,
    duplicate_columns,
)
from gapless.data.profiling_source import Input, open_source

FORMAT = "gapless.profile/1"
DEFAULT_SAMPLE_ROWS = 200_000
# Duplicate rows are counted exactly over the whole source up to this many rows, on the
# sample beyond it (counting needs a hash of every distinct row).
EXACT_DUPLICATE_ROWS = 5_000_000
# Correlation matrices and PCA use at most this many columns of each kind (in order).
MAX_MATRIX_COLUMNS = 50
# Categorical columns with more distinct values than this stay out of Cramér's V and
# target association: a contingency table that wide measures noise.
MAX_LEVELS = 100
PCA_POINTS = 1_500


def profile(source: Any, *, target: str | None = None, max_rows: int | None = None,
            seed: int = 0, dataset: str | None = None) -> dict[str, Any]:
    """Profile ``source``: a Parquet file path, a pandas DataFrame or a pyarrow Table.

    ``target`` names a column to measure every other column's association with (and to
    colour the PCA by). ``max_rows`` caps the seeded sample used for correlations,
    association, PCA (default 200,000); ``seed`` picks it. ``dataset`` is a label such as
    ``sales@3`` carried into the result for reports. The result is JSON-safe (no NaN) and
    the same for the same inputs (moments to 12 significant digits).
    """
    size = DEFAULT_SAMPLE_ROWS if max_rows is None else max_rows
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValidationError(f"profile: max_rows must be a positive integer, got {max_rows!r}")
    with open_source(source) as src:
        names = list(src.schema.names)
        if target is not None and target not in names:
            raise ValidationError(
                f"profile: target column {target!r} is not in the data; "
                f"choose one of {', '.join(names)}"
            )
        stats = column_stats(src.con, "t", src.schema, src.rows)
        duplicates = duplicate_columns(src.con, "t", src.schema, stats)
        for group in duplicates:
            for name in group[1:]:
                stats[name]["duplicate_of"] = group[0]
        if target is not None and stats[target]["type"] not in (*NUMERIC_TYPES, *CATEGORY_TYPES):
            raise ValidationError(
                f"profile: target column {target!r} is {stats[target]['type']}; "
                "choose a numeric, boolean or categorical column"
            )
        used = [n for n in names if _relational(stats[n]) or n == target]
        sample = src.sample(used, size, seed)
        dup_rows, dup_checked = _duplicate_rows(src, size, seed)

    sample_rows = min(size, src.rows)
    table = _table_summary(src, stats, duplicates, dup_rows, dup_checked)
    relations = _relations(sample, stats, target, seed)
    result = {
        "format": FORMAT,
        "dataset": dataset,
        "source": src.description,
        "target": target,
        "table": table,
        "columns": stats,
        "sample": {"rows": sample_rows, "of_rows": src.rows, "seed": seed,
                   "sampled": sample_rows < src.rows,
                   "used_for": ["correlations", "target_association", "pca"]
                   + ([] if dup_checked == src.rows else ["duplicate_rows"])},
        **relations,
        "measures": rel.MEASURES,
    }
    result = _json_ready(result)
    result["alerts"] = find_alerts(result)
    return result


def _relational(s: dict[str, Any]) -> bool:
    """Whether a column takes part in correlations, association and PCA."""
    if s["constant"]:
        return False
    if s["type"] in NUMERIC_TYPES:
        return True
    return s["type"] in CATEGORY_TYPES and s["distinct"] <= MAX_LEVELS


def _duplicate_rows(src: Input, size: int, seed: int) -> tuple[int, int]:
    """Rows identical to an earlier row, and how many rows were checked.

    Exact over the whole source when affordable, else over the seeded sample (where the
    count understates the source's, since a row's twin is rarely sampled with it).
    """
    if src.rows <= EXACT_DUPLICATE_ROWS:
        return src.rows - _distinct_rows(src.con, "t"), src.rows
    sample = src.sample(list(src.schema.names), size, seed)
    src.con.register("_sample", sample)
    return sample.num_rows - _distinct_rows(src.con, "_sample"), sample.num_rows


def _distinct_rows(con: Any, relation: str) -> int:
    sql = f"SELECT count(*) FROM (SELECT DISTINCT * FROM {relation})"
    return int(con.execute(sql).fetchall()[0][0])


def _table_summary(src: Input, stats: dict[str, dict[str, Any]], duplicates: list[list[str]],
                   dup_rows: int, dup_checked: int) -> dict[str, Any]:
    rows, columns = src.rows, len(stats)
    missing = sum(s["missing"] for s in stats.values())
    types: dict[str, int] = {}
    for s in stats.values():
        types[s["type"]] = types.get(s["type"], 0) + 1
    return {
        "rows": rows, "columns": columns,
        "memory_bytes": src.description.get("memory_bytes"),
        "file_bytes": src.description.get("file_bytes"),
        "missing_cells": missing,
        "missing_cells_fraction": missing / (rows * columns) if rows and columns else 0.0,
        "duplicate_rows": dup_rows,
        "duplicate_rows_fraction": dup_rows / dup_checked if dup_checked else 0.0,
        "duplicate_rows_checked": dup_checked,
        "constant_columns": [n for n, s in stats.items() if s["constant"]],
        "duplicate_columns": duplicates,
        "types": types,
    }


def _relations(sample: Any, stats: dict[str, dict[str, Any]], target: str | None,
               seed: int) -> dict[str, Any]:
    """Correlations, target association and PCA over the sample's arrays."""
    numeric = [n for n in sample.column_names if stats[n]["type"] in NUMERIC_TYPES]
    categorical = [n for n in sample.column_names if stats[n]["type"] in CATEGORY_TYPES]
    values = {n: _floats(sample.column(n)) for n in numeric}
    codes = {n: _codes(sample.column(n)) for n in categorical}
    num_cols, cat_cols = numeric[:MAX_MATRIX_COLUMNS], categorical[:MAX_MATRIX_COLUMNS]
    x = np.column_stack([values[n] for n in num_cols]) if num_cols else np.empty((0, 0))
    correlations = {
        "pearson": _matrix(num_cols, rel.pearson_matrix(x) if num_cols else None),
        "spearman": _matrix(num_cols, rel.spearman_matrix(x) if num_cols else None),
        "cramers_v": _matrix(cat_cols, rel.cramers_v_matrix([codes[n] for n in cat_cols])),
        "omitted": [n for n in numeric + categorical if n not in num_cols + cat_cols],
    }
    return {
        "correlations": correlations,
        "target_association": _target_association(stats, target, values, codes),
        "pca": _pca(sample, [n for n in num_cols if n != target], values, stats, target, seed),
    }


def _matrix(names: list[str], values: np.ndarray | None) -> dict[str, Any]:
    return {"columns": names, "matrix": [] if values is None else values.tolist()}


def _target_association(stats: dict[str, dict[str, Any]], target: str | None,
                        values: dict[str, np.ndarray],
                        codes: dict[str, np.ndarray]) -> dict[str, Any] | None:
    if target is None:
        return None
    target_categorical = target in codes
    target_values = codes[target] if target_categorical else values[target]
    found, skipped = [], {}
    for name, s in stats.items():
        if name == target:
            continue
        if name not in values and name not in codes:
            skipped[name] = _skip_reason(s)
            continue
        categorical = name in codes
        column = codes[name] if categorical else values[name]
        measure, value = rel.association(target_values, target_categorical, column, categorical)
        strength = abs(value) if np.isfinite(value) else None
        found.append({"column": name, "type": s["type"], "measure": measure, "value": value,
                      "strength": strength})
    found.sort(key=lambda a: (a["strength"] is None, -(a["strength"] or 0.0), a["column"]))
    return {"target": target, "target_type": stats[target]["type"], "columns": found,
            "skipped": skipped}


def _skip_reason(s: dict[str, Any]) -> str:
    if s["constant"]:
        return "constant"
    if s["type"] in CATEGORY_TYPES:
        return f"more than {MAX_LEVELS} categories"
    return f"{s['type']} column"


def _pca(sample: Any, names: list[str], values: dict[str, np.ndarray],
         stats: dict[str, dict[str, Any]], target: str | None, seed: int) -> dict[str, Any] | None:
    names = [n for n in names
             if np.isfinite(values[n]).sum() > 1 and np.nanstd(values[n], ddof=1) > 0]
    if len(names) < 2 or sample.num_rows < 3:
        return None
    x = np.column_stack([values[n] for n in names])
    found = rel.pca_2d(x, PCA_POINTS, seed)
    colour = None
    if target is not None:
        picked = sample.column(target).take(found["rows"]).to_pylist()
        colour = picked if stats[target]["type"] in NUMERIC_TYPES else [
            None if v is None else str(v) for v in picked
        ]
    coords = np.round(found["coords"], 5)
    return {
        "columns": names,
        "explained_variance_ratio": found["explained_variance_ratio"],
        "loadings": {n: found["loadings"][i].tolist() for i, n in enumerate(names)},
        "rows": sample.num_rows,
        "imputed_rows": found["imputed_rows"],
        "points": {"pc1": coords[:, 0].tolist(), "pc2": coords[:, 1].tolist(), "target": colour},
    }


def _floats(column: Any) -> np.ndarray:
    """A numeric Arrow column as float64 with NaN for missing and infinite values."""
    import pyarrow as pa

    out = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


def _codes(column: Any) -> np.ndarray:
    """A categorical Arrow column as integer codes, -1 for missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    encoded = pc.dictionary_encode(column.combine_chunks())
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _json_ready(value: Any) -> Any:
    """Plain Python all the way down: numpy scalars unwrapped, NaN and infinities nulled."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value

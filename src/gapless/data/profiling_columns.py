"""Per-column statistics of a profile, computed by DuckDB over every row of the source.

Two scans do all the work, whatever the number of columns: the first gathers counts,
distinct counts, moments, exact quantiles and string lengths (enough to classify each
column); the second, which needs the first's minima and maxima, gathers histograms and
category counts. Each scan is one ``SELECT`` of many aggregates, so DuckDB reads the
Parquet file once per scan, in parallel, without materialising it in Python.

Moments are rounded to 12 significant digits, since DuckDB's parallel sums vary in the
last bits from run to run. Floating-point NaN counts as missing (as in pandas);
infinities are counted apart and left out of the moments, quantiles and histograms so
that one ``inf`` cannot hide the shape of a column.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from gapless.data.types import MAX_CATEGORIES, classify

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}
HISTOGRAM_BINS = 30
# Integer columns spanning at most this many values get one bin per value.
MAX_UNIT_BINS = 60
TOP_CATEGORIES = 20
# Above this many distinct values, category counts come from a GROUP BY ... LIMIT query
# instead of a full value-count map held in memory.
MAX_VALUE_MAP = 10_000

NUMERIC_TYPES = ("integer", "float")
CATEGORY_TYPES = ("categorical", "boolean")

_EPOCH = dt.datetime(1970, 1, 1)


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def storage_kind(arrow_type: Any) -> str:
    """The family of an Arrow type, which decides the SQL each column gets."""
    import pyarrow.types as pat

    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_floating(arrow_type):
        return "float"
    if pat.is_decimal(arrow_type):
        return "decimal"
    if pat.is_dictionary(arrow_type):
        return "dictionary"
    if pat.is_string(arrow_type) or pat.is_large_string(arrow_type) or pat.is_string_view(
        arrow_type
    ):
        return "string"
    if pat.is_timestamp(arrow_type) or pat.is_date(arrow_type):
        return "datetime"
    return "other"


class _Column:
    """SQL fragments for one column: its value, its finite numeric value, its text."""

    def __init__(self, index: int, name: str, arrow_type: Any) -> None:
        import pyarrow.types as pat

        self.index = index
        self.name = name
        self.arrow_type = arrow_type
        self.kind = storage_kind(arrow_type)
        q = quote(name)
        self.value = f"(CASE WHEN NOT isnan({q}) THEN {q} END)" if self.kind == "float" else q
        self.finite = {
            "float": f"(CASE WHEN isfinite({q}) THEN {q} END)",
            "integer": f"{q}::DOUBLE",
            "decimal": f"{q}::DOUBLE",
        }.get(self.kind)
        self.text = f"{q}::VARCHAR" if self.kind in ("dictionary", "string", "other") else None
        if self.kind == "datetime":
            self.is_date = pat.is_date(arrow_type)
            self.epoch = f"epoch_us({q}::TIMESTAMP)" if self.is_date else f"epoch_us({q})"
            self.has_tz = pat.is_timestamp(arrow_type) and arrow_type.tz is not None

    def alias(self, key: str) -> str:
        return f"c{self.index}_{key}"


def _first_scan(col: _Column) -> dict[str, str]:
    """Aggregates that need nothing but the column itself."""
    q = quote(col.name)
    distinct_of = col.text if col.kind == "other" else col.value
    aggs = {"nonnull": f"count({col.value})", "distinct": f"count(DISTINCT {distinct_of})"}
    if col.kind == "float":
        aggs["nan"] = f"count_if(isnan({q}))"
        aggs["infinite"] = f"count_if(isinf({q}))"
    if col.finite is not None:
        f = col.finite
        quantiles = ", ".join(str(p) for p in QUANTILES.values())
        aggs.update({
            "min": f"min({f})" if col.kind == "float" else f"min({q})",
            "max": f"max({f})" if col.kind == "float" else f"max({q})",
            "mean": f"avg({f})", "std": f"stddev_samp({f})",
            "skewness": f"skewness({f})", "kurtosis": f"kurtosis({f})",
            "zeros": f"count_if({f} = 0)", "negatives": f"count_if({f} < 0)",
            "quantiles": f"quantile_cont({f}, [{quantiles}])",
        })
    elif col.kind == "boolean":
        aggs["true_count"] = f"count_if({q})"
    elif col.kind == "datetime":
        aggs.update({"min": f"min({col.epoch})", "max": f"max({col.epoch})"})
    if col.kind in ("string", "dictionary"):
        aggs.update({"len_min": f"min(length({col.text}))", "len_mean": f"avg(length({col.text}))",
                     "len_max": f"max(length({col.text}))"})
    return aggs


def _select(con: Any, relation: str, aggregates: dict[str, str]) -> dict[str, Any]:
    """Run one ``SELECT`` of named aggregates over ``relation``; the single row as a dict."""
    if not aggregates:
        return {}
    sql = ", ".join(f"{expr} AS {alias}" for alias, expr in aggregates.items())
    cursor = con.execute(f"SELECT {sql} FROM {relation}")
    return dict(zip(aggregates, cursor.fetchall()[0], strict=True))


def column_stats(con: Any, relation: str, schema: Any, rows: int) -> dict[str, dict[str, Any]]:
    """Statistics of every column of ``relation``, keyed by column name, in schema order.

    ``schema`` is the source's Arrow schema (it decides each column's SQL and semantic
    type); ``rows`` its row count. Values are plain Python (JSON-safe once NaN is nulled).
    """
    columns = [_Column(i, field.name, field.type) for i, field in enumerate(schema)]
    first = _select(con, relation, {
        col.alias(key): expr for col in columns for key, expr in _first_scan(col).items()
    })
    stats = {col.name: _base_stats(col, first, rows) for col in columns}
    second: dict[str, str] = {}
    plans: dict[str, tuple[_Column, Any]] = {}
    for col in columns:
        plan = _second_scan_plan(col, stats[col.name])
        if plan is not None:
            second[col.alias("hist")] = plan[0]
            plans[col.name] = (col, plan[1])
    found = _select(con, relation, second)
    for name, (col, bins) in plans.items():
        counts = found[col.alias("hist")] or {}
        if stats[name]["type"] in CATEGORY_TYPES:
            _add_categories(stats[name], counts)
        else:
            _add_histogram(col, stats[name], bins, counts)
    for col in columns:
        s = stats[col.name]
        if s["type"] in CATEGORY_TYPES and "top" not in s:
            _add_categories(s, _top_values(con, relation, col))
        s.pop("_epoch_range", None)
    return stats


def _base_stats(col: _Column, found: dict[str, Any], rows: int) -> dict[str, Any]:
    def get(key: str) -> Any:
        return found.get(col.alias(key))

    def count(key: str) -> int:  # aggregates over no rows give NULL, not 0
        return int(get(key) or 0)

    nonnull = count("nonnull")
    distinct = count("distinct")
    missing = rows - nonnull
    len_mean = get("len_mean")
    semantic = classify(col.name, col.arrow_type, non_null=nonnull, distinct=distinct,
                        avg_length=None if len_mean is None else float(len_mean))
    out: dict[str, Any] = {
        "type": semantic, "storage": str(col.arrow_type), "count": nonnull,
        "missing": missing, "missing_fraction": missing / rows if rows else 0.0,
        "distinct": distinct, "distinct_fraction": distinct / nonnull if nonnull else 0.0,
        "constant": distinct <= 1,
    }
    if col.kind == "float":
        out["nan"] = count("nan")
        out["infinite"] = count("infinite")
    if col.finite is not None:
        quantiles = get("quantiles") or [None] * len(QUANTILES)
        out.update({
            "min": _number(get("min")), "max": _number(get("max")), "mean": _moment(get("mean")),
            "std": _moment(get("std")), "skewness": _moment(get("skewness")),
            "kurtosis": _moment(get("kurtosis")), "zeros": count("zeros"),
            "negatives": count("negatives"),
            "quantiles": {key: _number(v) for key, v in zip(QUANTILES, quantiles, strict=True)},
        })
    elif col.kind == "boolean":
        out["true_count"] = count("true_count")
    elif col.kind == "datetime":
        out["min"] = _timestamp(col, get("min"))
        out["max"] = _timestamp(col, get("max"))
        out["_epoch_range"] = (get("min"), get("max"))
    if col.kind in ("string", "dictionary"):
        out["length"] = {"min": get("len_min"), "mean": _number(len_mean), "max": get("len_max")}
    return out


def _second_scan_plan(col: _Column, s: dict[str, Any]) -> tuple[str, Any] | None:
    """The histogram aggregate for one column and the bin edges it refers to."""
    semantic = s["type"]
    if semantic in CATEGORY_TYPES:
        if s["distinct"] > MAX_VALUE_MAP:
            return None
        return f"histogram({col.value})", None
    if semantic in NUMERIC_TYPES and s.get("min") is not None:
        integral = col.kind == "integer"
        edges = _edges(float(s["min"]), float(s["max"]), integral=integral)
        return _binned(col.finite or "", edges), edges
    if semantic == "datetime" and s["_epoch_range"][0] is not None:
        low, high = s["_epoch_range"]
        edges = _edges(float(low), float(high), integral=False)
        return _binned(f"{col.epoch}::DOUBLE", edges), edges
    if semantic == "text" and col.kind in ("string", "dictionary") and s["count"]:
        length = s["length"]
        edges = _edges(float(length["min"]), float(length["max"]), integral=True)
        return _binned(f"length({col.text})::DOUBLE", edges), edges
    return None


def _edges(low: float, high: float, *, integral: bool) -> list[float]:
    """Histogram bin edges: one bin per value for narrow integer ranges, else equal width."""
    if integral and high - low + 1 <= MAX_UNIT_BINS:
        return [low - 0.5 + i for i in range(int(high - low) + 2)]
    if high == low:
        return [low - 0.5, high + 0.5]
    width = (high - low) / HISTOGRAM_BINS
    return [low + i * width for i in range(HISTOGRAM_BINS)] + [high]


def _binned(expr: str, edges: list[float]) -> str:
    low, bins = edges[0], len(edges) - 1
    width = (edges[-1] - edges[0]) / bins
    # FILTER, not a NULL check inside: greatest() ignores NULL and would bin missing as 0.
    return (f"histogram(least(greatest(floor(({expr} - {low!r}) / {width!r}), 0), {bins - 1})"
            f"::INTEGER) FILTER (WHERE {expr} IS NOT NULL)")


def _add_histogram(col: _Column, s: dict[str, Any], edges: list[float], counts: dict) -> None:
    bins = [int(counts.get(i, 0)) for i in range(len(edges) - 1)]
    if s["type"] == "datetime":
        s["histogram"] = {"edges": [_timestamp(col, e) for e in edges], "counts": bins}
    elif s["type"] == "text":
        s["length"]["histogram"] = {"edges": edges, "counts": bins}
    else:
        s["histogram"] = {"edges": edges, "counts": bins}


def _add_categories(s: dict[str, Any], counts: dict[Any, int] | Iterable[tuple[Any, int]]) -> None:
    """The most frequent values (ties broken by value, so profiles are reproducible)."""
    pairs = counts.items() if isinstance(counts, dict) else counts
    ranked = sorted(((v, int(c)) for v, c in pairs), key=lambda vc: (-vc[1], str(vc[0])))
    top = ranked[:TOP_CATEGORIES]
    s["top"] = [{"value": _category(v), "count": c} for v, c in top]
    s["other_count"] = s["count"] - sum(c for _, c in top)
    s["high_cardinality"] = s["type"] == "categorical" and s["distinct"] > MAX_CATEGORIES


def _top_values(con: Any, relation: str, col: _Column) -> list[tuple[Any, int]]:
    sql = (f"SELECT {col.value} AS v, count(*) AS n FROM {relation} WHERE {col.value} IS NOT NULL "
           f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_CATEGORIES}")
    return [(v, n) for v, n in con.execute(sql).fetchall()]


def duplicate_columns(con: Any, relation: str, schema: Any,
                      stats: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Groups of columns whose contents are identical, row by row, over the whole source.

    Candidates must agree on family, count, distinct count and extremes; only those pairs
    are compared, in one scan, so wide tables do not pay for every pair.
    """
    families = {"integer": "number", "float": "number", "decimal": "number",
                "string": "text", "dictionary": "text"}
    cols = {f.name: _Column(i, f.name, f.type) for i, f in enumerate(schema)}
    groups: dict[tuple, list[str]] = {}
    for name, col in cols.items():
        s = stats[name]
        family = families.get(col.kind, str(col.arrow_type) if col.kind != "other" else None)
        if family is None:
            continue
        key = (family, s["count"], s["distinct"], str(s.get("min")), str(s.get("max")))
        groups.setdefault(key, []).append(name)
    pairs = [(a, b) for names in groups.values()
             for i, a in enumerate(names) for b in names[i + 1:]]
    if not pairs:
        return []

    def expr(col: _Column) -> str:
        return col.text if col.kind in ("string", "dictionary") else col.value

    differing = _select(con, relation, {
        f"p{i}": f"count_if({expr(cols[a])} IS DISTINCT FROM {expr(cols[b])})"
        for i, (a, b) in enumerate(pairs)
    })
    same = [pair for i, pair in enumerate(pairs) if differing[f"p{i}"] == 0]
    merged: list[list[str]] = []
    for a, b in same:
        group = next((g for g in merged if a in g or b in g), None)
        if group is None:
            merged.append([a, b])
        else:
            group.extend(n for n in (a, b) if n not in group)
    order = list(cols)
    return [sorted(g, key=order.index) for g in merged]


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def _moment(value: Any) -> float | None:
    """A moment to 12 significant digits: parallel sums differ run to run in the last bits,
    and a profile of unchanged data should not diff."""
    number = _number(value)
    return None if number is None else float(f"{number:.12g}")


def _timestamp(col: _Column, epoch_us: Any) -> str | None:
    if epoch_us is None:
        return None
    moment = _EPOCH + dt.timedelta(microseconds=round(float(epoch_us)))
    if col.is_date:
        return moment.date().isoformat()
    return moment.isoformat() + ("+00:00" if col.has_tz else "")


def _category(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)

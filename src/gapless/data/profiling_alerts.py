"""Findings in a profile worth a reader's attention, derived from its numbers alone.

A pure function of the profile dict, so thresholds can be tested without data and a
stored profile can be re-alerted. Each alert names its kind, severity, the columns it is
about, the value that tripped it, and a message saying what to consider doing.
"""

from __future__ import annotations

from typing import Any

HIGH_MISSING = 0.2
SKEWNESS = 2.0
HIGH_CORRELATION = 0.95
MANY_ZEROS = 0.5

SEVERITY_ORDER = {"warning": 0, "info": 1}


def alerts(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Alerts for one profile, warnings first, then in column order."""
    found: list[dict[str, Any]] = []

    def add(kind: str, severity: str, columns: list[str], value: Any, message: str) -> None:
        found.append({"kind": kind, "severity": severity, "columns": columns, "value": value,
                      "message": message})

    table = profile["table"]
    if table["duplicate_rows"]:
        where = "" if table["duplicate_rows_checked"] == table["rows"] else " in the sample"
        add("duplicate_rows", "warning", [], table["duplicate_rows"],
            f"{table['duplicate_rows']:,} rows repeat an earlier row{where} "
            f"({100 * table['duplicate_rows_fraction']:.1f}%); drop them if they are not real")
    for group in table["duplicate_columns"]:
        add("duplicate_columns", "warning", group, None,
            f"columns {', '.join(group)} hold identical values; keep one")
    for name, s in profile["columns"].items():
        if s["count"] == 0:
            add("empty", "warning", [name], 0, f"column {name} has no values; drop it")
        elif s["constant"]:
            add("constant", "warning", [name], s["distinct"],
                f"column {name} has a single value; it carries no information")
        if s["count"] and s["missing_fraction"] >= HIGH_MISSING:
            add("high_missing", "warning", [name], s["missing_fraction"],
                f"column {name} is {100 * s['missing_fraction']:.1f}% missing; impute it, "
                "add a missing indicator or drop it")
        if s.get("high_cardinality"):
            add("high_cardinality", "warning", [name], s["distinct"],
                f"categorical column {name} has {s['distinct']:,} distinct values; group rare "
                "ones or use a target/hash encoding")
        skewness = s.get("skewness")
        if s["type"] in ("integer", "float") and skewness is not None and abs(skewness) > SKEWNESS:
            add("skewed", "info", [name], skewness,
                f"column {name} is skewed (skewness {skewness:.2f}); consider a log or rank "
                "transform for linear models")
        if s.get("infinite"):
            add("infinite", "warning", [name], s["infinite"],
                f"column {name} holds {s['infinite']:,} infinite values")
        if s["type"] in ("integer", "float") and s["count"] and not s["constant"]:
            zeros = s["zeros"] / s["count"]
            if zeros >= MANY_ZEROS:
                add("many_zeros", "info", [name], zeros,
                    f"column {name} is {100 * zeros:.1f}% zeros")
    _correlation_alerts(profile, add)
    order = list(profile["columns"])
    found.sort(key=lambda a: (SEVERITY_ORDER[a["severity"]],
                              order.index(a["columns"][0]) if a["columns"] else -1))
    return found


def _correlation_alerts(profile: dict[str, Any], add: Any) -> None:
    pearson = profile["correlations"]["pearson"]
    duplicated = {frozenset(g) for g in profile["table"]["duplicate_columns"]}
    names = pearson["columns"]
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            r = pearson["matrix"][i][j]
            b = names[j]
            if r is None or abs(r) < HIGH_CORRELATION:
                continue
            if any({a, b} <= group for group in duplicated):
                continue
            add("high_correlation", "info", [a, b], r,
                f"columns {a} and {b} are highly correlated (Pearson r = {r:.3f}); "
                "one may be redundant")

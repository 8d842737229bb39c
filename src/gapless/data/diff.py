"""Compare two dataset versions from their stored schemas and statistics (no data read)."""

from __future__ import annotations

from typing import Any

from gapless.core.records import DatasetVersion

# Statistics compared per column, and the relative change worth reporting.
COMPARED = ("null_fraction", "distinct", "min", "max", "mean", "std", "avg_length")


def diff_versions(old: DatasetVersion, new: DatasetVersion) -> dict[str, Any]:
    """Schema changes, row-count change and per-column statistic changes from ``old`` to ``new``.

    Columns are matched by name; a column whose type changed is reported under
    ``type_changes`` and still compared on the statistics both sides have.
    """
    old_cols = {c["name"]: c for c in old.columns}
    new_cols = {c["name"]: c for c in new.columns}
    added = [n for n in new_cols if n not in old_cols]
    removed = [n for n in old_cols if n not in new_cols]
    type_changes = [
        {"column": n, "old": old_cols[n]["type"], "new": new_cols[n]["type"],
         "old_semantic": old_cols[n]["semantic"], "new_semantic": new_cols[n]["semantic"]}
        for n in new_cols if n in old_cols and (
            old_cols[n]["type"] != new_cols[n]["type"]
            or old_cols[n]["semantic"] != new_cols[n]["semantic"])
    ]
    stats = []
    for name in (n for n in new_cols if n in old_cols):
        for key in COMPARED:
            before, after = old_cols[name].get(key), new_cols[name].get(key)
            if before == after or (before is None and after is None):
                continue
            stats.append({"column": name, "statistic": key, "old": before, "new": after,
                          "change": _relative(before, after)})
    return {
        "old": old.ref,
        "new": new.ref,
        "identical": old.digest == new.digest,
        "rows": {"old": old.row_count, "new": new.row_count,
                 "change": new.row_count - old.row_count,
                 "relative": _relative(old.row_count, new.row_count)},
        "added_columns": added,
        "removed_columns": removed,
        "type_changes": type_changes,
        "statistics": stats,
    }


def _relative(before: Any, after: Any) -> float | None:
    if isinstance(before, bool) or not isinstance(before, int | float):
        return None
    if not isinstance(after, int | float) or before == 0:
        return None
    return (after - before) / abs(before)

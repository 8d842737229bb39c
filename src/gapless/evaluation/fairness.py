"""Group fairness of a binary classifier's decisions for declared sensitive attributes.

Per group of a sensitive attribute: selection rate (share predicted positive), true
positive rate and false positive rate. Across groups:

* demographic parity difference = max - min selection rate,
* equalized odds difference = the larger of the TPR gap and the FPR gap (max - min),
* disparate impact ratio = min / max selection rate (1.0 when every rate is 0).

Groups with fewer than ``min_group_rows`` rows are listed but left out of these, since a
handful of rows says little. A numeric attribute with more than ``max_groups`` distinct
values (an age, say) is grouped into ``bins`` quantile bins, named by their range.

Thresholds turn the metrics into checks: the differences must be at most their limit,
the ratio at least its limit (the "four-fifths rule" is 0.8). A check whose metric
cannot be measured (fewer than two groups large enough) has ``passed: None``; a report
passes when no check failed and none was unmeasured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    MISSING,
    all_passed,
    check_columns,
    config_field,
    is_categorical,
    is_missing,
    json_safe,
    label_text,
    sort_labels,
)

DEFAULT_THRESHOLDS = {"demographic_parity_difference": 0.1, "equalized_odds_difference": 0.1,
                      "disparate_impact_ratio": 0.8}
# "<=": the metric must not exceed the limit; ">=": it must reach it.
MAX_GROUPS = 10
RULES = {"demographic_parity_difference": "<=", "equalized_odds_difference": "<=",
         "disparate_impact_ratio": ">="}


def _hits(values: np.ndarray, positive_label: Any) -> np.ndarray:
    text = label_text(positive_label)
    return np.array([value == positive_label or label_text(value) == text
                     for value in values.tolist()], dtype=bool)


def _positive(truth: np.ndarray, predicted: np.ndarray, positive_label: Any) -> Any:
    """The favourable outcome: as given, else 1 when a label is 1, else the larger of two
    labels (scikit-learn's order of ``classes_``)."""
    seen = sort_labels(truth.tolist() + predicted.tolist())
    texts = [label_text(label) for label in seen]
    if positive_label is None:
        if "1" in texts:
            return seen[texts.index("1")]
        if len(seen) == 2:
            return seen[-1]
        raise ValidationError(f"fairness needs the favourable outcome among {len(seen)} labels "
                              f"({', '.join(texts[:10])}); pass positive_label=")
    if label_text(positive_label) not in texts:
        raise ValidationError(f"positive label {positive_label!r} occurs in neither y_true nor "
                              f"y_pred (labels seen: {', '.join(texts[:10])}); pass "
                              "positive_label= the favourable outcome")
    return positive_label


def _spread(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) - min(known) if len(known) >= 2 else None


def group_names(sensitive: Any, *, bins: int = 4, max_groups: int = MAX_GROUPS) -> np.ndarray:
    """The group of each row as text: the value, a quantile bin of a many-valued number,
    or "(missing)"."""
    series = pd.Series(np.asarray(sensitive, dtype=object)).infer_objects()
    if not is_categorical(series) and series.nunique() > max_groups:
        series = pd.qcut(series.astype(float), q=bins, duplicates="drop")
        return np.array([MISSING if is_missing(v) else f"{v.left:.4g} to {v.right:.4g}"
                         for v in series], dtype=object)
    return np.array([label_text(value) for value in series.tolist()], dtype=object)


def fairness_report(y_true: Any, y_pred: Any, sensitive: pd.Series, *,
                    thresholds: Mapping[str, float] | None = None, positive_label: Any = None,
                    min_group_rows: int = 20, bins: int = 4,
                    max_groups: int = MAX_GROUPS) -> dict[str, Any]:
    """Fairness of predicted labels ``y_pred`` across the groups of ``sensitive`` (one
    value per row, aligned by position; missing values form the group "(missing)").
    ``positive_label`` is the favourable outcome; by default 1 when a label is 1, else the
    larger of the two labels.

    Returns ``{"attribute", "positive_label", "rows", "min_group_rows", "groups": [{"group",
    "count", "selection_rate", "tpr", "fpr", "positives", "negatives", "included"}],
    "metrics": {"demographic_parity_difference", "equalized_odds_difference",
    "disparate_impact_ratio", "tpr_difference", "fpr_difference"}, "checks": [{"metric",
    "value", "threshold", "rule", "passed"}], "passed"}``; groups are largest first, a
    rate is None when its group has no row to compute it on.
    """
    limits = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    unknown = sorted(set(limits) - set(RULES))
    if unknown:
        raise ValidationError(f"fairness threshold {', '.join(map(repr, unknown))} is not "
                              f"known; use {', '.join(RULES)}")
    truth = np.asarray(y_true, dtype=object)
    predicted = np.asarray(y_pred, dtype=object)
    groups = np.asarray(sensitive, dtype=object)
    if not len(truth) == len(predicted) == len(groups):
        raise ValidationError(f"y_true, y_pred and the sensitive attribute must have one value "
                              f"per row; got {len(truth)}, {len(predicted)} and {len(groups)}")
    positive_label = _positive(truth, predicted, positive_label)
    actual, chosen = _hits(truth, positive_label), _hits(predicted, positive_label)
    names = group_names(groups, bins=bins, max_groups=max_groups)
    rows = []
    for name in pd.Series(names).value_counts(sort=True).index:
        member = names == name
        positives, negatives = member & actual, member & ~actual
        rows.append({
            "group": name, "count": int(member.sum()),
            "selection_rate": float(chosen[member].mean()),
            "tpr": float(chosen[positives].mean()) if positives.any() else None,
            "fpr": float(chosen[negatives].mean()) if negatives.any() else None,
            "positives": int(positives.sum()), "negatives": int(negatives.sum()),
            "included": bool(member.sum() >= min_group_rows),
        })
    measured = [row for row in rows if row["included"]]
    metrics = _metrics(measured)
    checks = [{"metric": metric, "value": metrics[metric], "threshold": limit,
               "rule": RULES[metric], "passed": _judge(metrics[metric], RULES[metric], limit)}
              for metric, limit in limits.items()]
    return json_safe({
        "attribute": getattr(sensitive, "name", None), "positive_label": positive_label,
        "rows": len(truth), "min_group_rows": min_group_rows, "groups": rows,
        "metrics": metrics, "checks": checks,
        "passed": all_passed([check["passed"] for check in checks]),
    })


def _metrics(groups: list[dict[str, Any]]) -> dict[str, float | None]:
    rates = [group["selection_rate"] for group in groups]
    tpr_gap = _spread([group["tpr"] for group in groups])
    fpr_gap = _spread([group["fpr"] for group in groups])
    gaps = [gap for gap in (tpr_gap, fpr_gap) if gap is not None]
    ratio = None
    if len(rates) >= 2:
        ratio = min(rates) / max(rates) if max(rates) > 0 else 1.0
    return {"demographic_parity_difference": _spread(rates),
            "equalized_odds_difference": max(gaps) if gaps else None,
            "disparate_impact_ratio": ratio, "tpr_difference": tpr_gap,
            "fpr_difference": fpr_gap}


def _judge(value: float | None, rule: str, limit: float) -> bool | None:
    if value is None or is_missing(value):
        return None
    return bool(value <= limit + 1e-12) if rule == "<=" else bool(value >= limit - 1e-12)


def fairness_reports(y_true: Any, y_pred: Any, sensitive: pd.DataFrame, *,
                     thresholds: Mapping[str, float] | None = None, positive_label: Any = None,
                     min_group_rows: int = 20) -> dict[str, Any]:
    """One :func:`fairness_report` per column of ``sensitive``: ``{"passed", "reports":
    [report, ...]}``, passed as for one report (False if any failed)."""
    if not isinstance(sensitive, pd.DataFrame) or sensitive.shape[1] == 0:
        raise ValidationError("fairness_reports needs a DataFrame of one or more sensitive "
                              "columns")
    reports = [fairness_report(y_true, y_pred, sensitive[column], thresholds=thresholds,
                               positive_label=positive_label, min_group_rows=min_group_rows)
               for column in sensitive.columns]
    return {"passed": all_passed([report["passed"] for report in reports]),
            "reports": reports}


def fairness_from_config(y_true: Any, y_pred: Any, X: pd.DataFrame, config: Any, *,
                         positive_label: Any = None, min_group_rows: int = 20) -> dict[str, Any]:
    """:func:`fairness_reports` for a spec's ``fairness`` section (an object or mapping with
    ``sensitive``, a list of columns of ``X``, and optional ``thresholds``)."""
    columns = list(config_field(config, "sensitive") or [])
    if not columns:
        raise ValidationError("fairness: `sensitive` names no column; list the sensitive "
                              "attributes, e.g. sensitive: [gender]")
    check_columns(X, columns, "fairness `sensitive`")
    return fairness_reports(y_true, y_pred, X[columns],
                            thresholds=config_field(config, "thresholds"),
                            positive_label=positive_label, min_group_rows=min_group_rows)

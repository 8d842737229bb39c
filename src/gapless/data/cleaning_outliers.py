"""The outliers step of a cleaning spec: learn bounds (or a forest), then clip, drop or flag.

Bounds are learned once at fit and reused at transform, so new data is judged by the
standard of the data the cleaner was fitted on:

* ``iqr``: ``[Q1 - factor*IQR, Q3 + factor*IQR]``, quantiles interpolated linearly (pandas'
  default), missing values ignored.
* ``zscore``: ``mean +/- threshold*std`` with the sample standard deviation (ddof=1).
* ``isolation_forest``: one seeded forest over all columns that name it; a row is an outlier
  when the forest says so. "Clip" then moves that row's values into the range the fit's
  inliers spanned. Missing values are scored as the column median and never changed.

All detections are made on the step's input before any action, so one column's drops do
not change another column's verdicts; dropped rows are removed last. Integer columns are
clipped to whole numbers inside the bounds so they keep their dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.data.cleaning_spec import CleaningSpec

FOREST_FLAG = "isolation_forest_outlier"
FOREST_MAX_FIT_ROWS = 100_000


@dataclass
class ForestFit:
    """The fitted isolation forest and what clipping needs from the fit data."""

    columns: tuple[str, ...]
    model: Any
    fill: np.ndarray
    ranges: dict[str, tuple[float, float]]
    fit_rows: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FittedOutliers:
    """Learned bounds per column (iqr, zscore) and the forest, if any column uses one."""

    bounds: dict[str, dict[str, float]]
    forest: ForestFit | None


def flag_name(column: str) -> str:
    return f"{column}_outlier"


def fit_outliers(frame: pd.DataFrame, spec: CleaningSpec) -> FittedOutliers:
    """Learn each column's bounds and fit the forest on ``frame`` (the step's input)."""
    _check_columns(frame, spec)
    bounds: dict[str, dict[str, float]] = {}
    forest_cols: list[str] = []
    for col, rule in spec.outliers.items():
        values = frame[col].dropna().astype(float)
        if values.empty:
            raise ValidationError(f"cleaning spec, outliers.{col}: the column has no values "
                                  f"to learn {rule.method} bounds from; remove the rule")
        if rule.method == "iqr":
            q1, q3 = (float(v) for v in values.quantile([0.25, 0.75]))
            spread = q3 - q1
            bounds[col] = {"q1": q1, "q3": q3, "factor": rule.factor,
                           "lower": q1 - rule.factor * spread, "upper": q3 + rule.factor * spread}
        elif rule.method == "zscore":
            mean = float(values.mean())
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            bounds[col] = {"mean": mean, "std": std, "threshold": rule.threshold,
                           "lower": mean - rule.threshold * std,
                           "upper": mean + rule.threshold * std}
        else:
            forest_cols.append(col)
    forest = _fit_forest(frame, spec, tuple(forest_cols)) if forest_cols else None
    return FittedOutliers(bounds=bounds, forest=forest)


def apply_outliers(frame: pd.DataFrame, spec: CleaningSpec, fitted: FittedOutliers
                   ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply the step; return the new frame and its report section."""
    _check_columns(frame, spec)
    source = frame
    frame = source.copy()
    drop = np.zeros(len(source), dtype=bool)
    columns: dict[str, Any] = {}
    forest_rows = _forest_outliers(source, fitted.forest)
    for col, rule in spec.outliers.items():
        series = source[col]
        if rule.method == "isolation_forest":
            assert fitted.forest is not None
            lower, upper = fitted.forest.ranges[col]
            detected = forest_rows
        else:
            lower, upper = fitted.bounds[col]["lower"], fitted.bounds[col]["upper"]
            detected = ((series < lower) | (series > upper)).to_numpy(dtype=bool, na_value=False)
        entry: dict[str, Any] = {"method": rule.method, "action": rule.action,
                                 "detected": int(detected.sum()), "clipped": 0, "flagged": 0,
                                 "rows_dropped": 0, "lower": lower, "upper": upper}
        if rule.action == "clip":
            clipped = _clip(series, lower, upper)
            if rule.method == "isolation_forest":
                clipped = series.mask(detected, clipped.to_numpy())
            changed = (clipped != series) & series.notna()
            entry["clipped"] = int(changed.sum())
            frame[col] = clipped
        elif rule.action == "drop":
            drop |= detected
            entry["rows_dropped"] = int(detected.sum())
        else:
            entry["flagged"] = int(detected.sum())
            if rule.method != "isolation_forest":
                frame.insert(frame.columns.get_loc(col) + 1, flag_name(col), detected)
        columns[col] = entry
    forest_flags = [c for c, r in spec.outliers.items()
                    if r.method == "isolation_forest" and r.action == "flag"]
    if forest_flags:
        frame[FOREST_FLAG] = forest_rows
    frame = frame.loc[~drop]
    return frame, {"rows_dropped": int(drop.sum()), "columns": columns}


def outlier_params(spec: CleaningSpec, fitted: FittedOutliers) -> dict[str, Any]:
    """JSON-safe description of the learned bounds and forest, per column."""
    out: dict[str, Any] = {}
    for col, rule in spec.outliers.items():
        entry: dict[str, Any] = {"method": rule.method, "action": rule.action}
        if col in fitted.bounds:
            entry.update(fitted.bounds[col])
        elif fitted.forest is not None:
            lower, upper = fitted.forest.ranges[col]
            entry.update(lower=lower, upper=upper, columns=list(fitted.forest.columns),
                         fit_rows=fitted.forest.fit_rows, seed=spec.seed,
                         **fitted.forest.params)
        out[col] = entry
    return out


def _check_columns(frame: pd.DataFrame, spec: CleaningSpec) -> None:
    for col, rule in spec.outliers.items():
        dtype = frame[col].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise ValidationError(f"cleaning spec, outliers.{col}: method {rule.method!r} needs "
                                  f"a numeric column, got dtype {dtype}; remove the rule")
        if rule.action == "flag" and rule.method != "isolation_forest" and (
                flag_name(col) in frame.columns):
            raise ValidationError(f"cleaning spec, outliers.{col}: flag column "
                                  f"{flag_name(col)!r} already exists in the data; rename "
                                  f"that column or choose another action")
    if FOREST_FLAG in frame.columns and any(
            r.method == "isolation_forest" and r.action == "flag"
            for r in spec.outliers.values()):
        raise ValidationError(f"cleaning spec, outliers: flag column {FOREST_FLAG!r} already "
                              f"exists in the data; rename it or choose another action")


def _clip(series: pd.Series, lower: float, upper: float) -> pd.Series:
    if pd.api.types.is_integer_dtype(series.dtype):
        lo, hi = math.ceil(lower), math.floor(upper)
        return series.clip(lo, max(lo, hi))
    return series.clip(lower, upper)


def _forest_matrix(frame: pd.DataFrame, forest: ForestFit) -> np.ndarray:
    x = frame[list(forest.columns)].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(x), forest.fill, x)


def _forest_outliers(frame: pd.DataFrame, forest: ForestFit | None) -> np.ndarray:
    if forest is None or len(frame) == 0:
        return np.zeros(len(frame), dtype=bool)
    return forest.model.predict(_forest_matrix(frame, forest)) == -1


def _fit_forest(frame: pd.DataFrame, spec: CleaningSpec, columns: tuple[str, ...]) -> ForestFit:
    from sklearn.ensemble import IsolationForest

    rule = spec.outliers[columns[0]]
    x = frame[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    fill = np.nan_to_num(np.nanmedian(x, axis=0), nan=0.0)
    x = np.where(np.isnan(x), fill, x)
    sample = x
    if len(x) > FOREST_MAX_FIT_ROWS:
        rows = np.random.default_rng(spec.seed).choice(len(x), FOREST_MAX_FIT_ROWS, replace=False)
        sample = x[np.sort(rows)]
    model = IsolationForest(n_estimators=rule.n_estimators, contamination=rule.contamination,
                            random_state=spec.seed)
    model.fit(sample)
    inliers = x[model.predict(x) == 1]
    if len(inliers) == 0:
        inliers = x
    ranges = {col: (float(inliers[:, i].min()), float(inliers[:, i].max()))
              for i, col in enumerate(columns)}
    return ForestFit(columns=columns, model=model, fill=fill, ranges=ranges, fit_rows=len(sample),
                     params={"contamination": rule.contamination,
                             "n_estimators": rule.n_estimators,
                             "threshold": float(model.offset_)})

"""The missing-values step of a cleaning spec: learn fill values or models, then apply them.

Every rule of the step sees the same input: rows named by ``drop_rows`` rules are removed
first, then each column's fill is computed from that frame as it entered the step, so the
order of columns in the spec never changes the result (a kNN model reads its features
before any of them was imputed). ``ffill``/``bfill`` learn nothing: they fill from earlier
(later) rows of the frame being transformed, ordered by the time column and grouped by the
``by`` columns, and leave a value missing when no such row exists.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.data.cleaning_spec import CleaningSpec, MissingRule

# Model-based imputers learn from a seeded sample so fitting stays bounded on large versions;
# kNN's cost grows with (rows to impute) x (reference rows), hence the smaller cap.
KNN_MAX_FIT_ROWS = 20_000
ITERATIVE_MAX_FIT_ROWS = 100_000
_STATISTICS = ("mean", "median", "mode", "constant")


@dataclass
class ModelFill:
    """One fitted kNN or iterative imputer shared by the columns whose rules match."""

    strategy: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    model: Any
    center: np.ndarray
    scale: np.ndarray
    fit_rows: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FittedMissing:
    """What the missing step learned: fill values per column and the model groups."""

    values: dict[str, Any]
    models: list[ModelFill]


def flag_name(column: str) -> str:
    return f"{column}_missing"


def drop_missing_rows(frame: pd.DataFrame, spec: CleaningSpec
                      ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove rows missing a ``drop_rows`` column; also return the count per column."""
    columns = [c for c, r in spec.missing.items() if r.strategy == "drop_rows"]
    if not columns:
        return frame, {}
    na = frame[columns].isna()
    counts = {c: int(na[c].sum()) for c in columns}
    return frame.loc[~na.any(axis=1).to_numpy()], counts


def fit_missing(frame: pd.DataFrame, spec: CleaningSpec) -> FittedMissing:
    """Learn fill values (and kNN/iterative models) from ``frame`` as the step will see it."""
    frame, _ = drop_missing_rows(frame, spec)
    _check_flag_columns(frame, spec)
    values = {col: _learn_value(frame, col, rule) for col, rule in spec.missing.items()
              if rule.strategy in _STATISTICS}
    groups: dict[tuple[Any, ...], list[str]] = {}
    for col, rule in spec.missing.items():
        if rule.strategy in ("knn", "iterative"):
            param = rule.n_neighbors if rule.strategy == "knn" else rule.max_iter
            groups.setdefault((rule.strategy, param, rule.features), []).append(col)
    models = [_fit_model(frame, spec, key, tuple(cols)) for key, cols in groups.items()]
    return FittedMissing(values=values, models=models)


def apply_missing(frame: pd.DataFrame, spec: CleaningSpec, fitted: FittedMissing
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Apply the step; return the new frame and its report section."""
    rows_in = len(frame)
    frame, dropped = drop_missing_rows(frame, spec)
    _check_flag_columns(frame, spec)
    source = frame
    before = {col: source[col].isna() for col in spec.missing}
    filled: dict[str, pd.Series] = {}
    for col, rule in spec.missing.items():
        if rule.strategy in _STATISTICS:
            filled[col] = _fill_scalar(source[col], fitted.values[col])
        elif rule.strategy in ("ffill", "bfill"):
            filled[col] = _fill_along_time(source, col, rule, spec.time_column)
    for group in fitted.models:
        filled.update(_apply_model(source, group))
    frame = source.copy()
    for col, series in filled.items():
        frame[col] = series
    columns: dict[str, Any] = {}
    for col, rule in spec.missing.items():
        missing = int(before[col].sum())
        remaining = int(frame[col].isna().sum())
        entry: dict[str, Any] = {"strategy": rule.strategy, "missing": missing,
                                 "imputed": missing - remaining, "remaining": remaining,
                                 "flagged": missing if rule.flag else 0}
        if rule.strategy == "drop_rows":
            entry.update(missing=dropped[col], rows_dropped=dropped[col], remaining=0)
        if rule.flag:
            frame.insert(frame.columns.get_loc(col) + 1, flag_name(col),
                         before[col].to_numpy(dtype=bool))
        columns[col] = entry
    return frame, {"rows_dropped": rows_in - len(source), "columns": columns}


def missing_params(spec: CleaningSpec, fitted: FittedMissing) -> dict[str, Any]:
    """JSON-safe description of what was learned, per column."""
    out: dict[str, Any] = {}
    for col, rule in spec.missing.items():
        entry: dict[str, Any] = {"strategy": rule.strategy}
        if col in fitted.values:
            entry["value"] = json_scalar(fitted.values[col])
        if rule.strategy in ("ffill", "bfill"):
            entry.update(time_column=spec.time_column, by=list(rule.by))
        out[col] = entry
    for group in fitted.models:
        for col in group.targets:
            out[col].update(features=list(group.features), fit_rows=group.fit_rows,
                            seed=spec.seed, **group.params)
    return out


def json_scalar(value: Any) -> Any:
    """A plain Python value for JSON: numpy scalars unwrapped, NaN as None, times as ISO."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# -- learning -------------------------------------------------------------------------------
def _check_flag_columns(frame: pd.DataFrame, spec: CleaningSpec) -> None:
    for col, rule in spec.missing.items():
        if rule.flag and flag_name(col) in frame.columns:
            raise ValidationError(
                f"cleaning spec, missing.{col}: flag column {flag_name(col)!r} already exists "
                f"in the data; rename that column or set `flag: false`")


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype)


def _learn_value(frame: pd.DataFrame, col: str, rule: MissingRule) -> Any:
    series = frame[col]
    where = f"cleaning spec, missing.{col}"
    if rule.strategy == "constant":
        if _is_number(series) and (isinstance(rule.value, bool | str)):
            raise ValidationError(f"{where}: constant {rule.value!r} does not fit numeric "
                                  f"column of dtype {series.dtype}; give a number")
        return rule.value
    if rule.strategy in ("mean", "median") and not _is_number(series):
        raise ValidationError(f"{where}: strategy {rule.strategy!r} needs a numeric column, "
                              f"got dtype {series.dtype}; use 'mode' or 'constant'")
    if series.notna().sum() == 0:
        raise ValidationError(f"{where}: the column has no values to learn a "
                              f"{rule.strategy} from; use 'constant' or 'drop_rows'")
    if rule.strategy == "mean":
        return float(series.mean())
    if rule.strategy == "median":
        return float(series.median())
    # Ties go to the smallest value (pandas sorts the modes) so the choice is reproducible.
    return series.mode(dropna=True).iloc[0]


def _default_features(frame: pd.DataFrame, spec: CleaningSpec) -> list[str]:
    from gapless.data.types import infer_types

    numeric = [c for c in frame.columns if _is_number(frame[c]) and c != spec.time_column
               and frame[c].notna().any()]
    kinds = infer_types(frame[numeric]) if numeric else {}
    return [c for c in numeric if kinds.get(c) != "identifier"]


def _fit_model(frame: pd.DataFrame, spec: CleaningSpec, key: tuple[Any, ...],
               targets: tuple[str, ...]) -> ModelFill:
    strategy, param, features = key
    chosen = list(features) if features is not None else _default_features(frame, spec)
    columns = tuple(dict.fromkeys([*targets, *chosen]))
    for col in columns:
        if not _is_number(frame[col]):
            raise ValidationError(f"cleaning spec, missing.{targets[0]}: strategy {strategy!r} "
                                  f"reads numeric columns only, but {col!r} has dtype "
                                  f"{frame[col].dtype}; list numeric `features:`")
    x = frame[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    cap = KNN_MAX_FIT_ROWS if strategy == "knn" else ITERATIVE_MAX_FIT_ROWS
    if len(x) > cap:
        rows = np.sort(np.random.default_rng(spec.seed).choice(len(x), cap, replace=False))
        x = x[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: handled below
        center = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
        scale = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
    center = np.nan_to_num(center, nan=0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    scaled = (x - center) / scale
    if strategy == "knn":
        from sklearn.impute import KNNImputer

        model = KNNImputer(n_neighbors=max(1, min(param, len(x))), keep_empty_features=True)
        model.fit(scaled)
        params = {"n_neighbors": param}
    else:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer

        model = IterativeImputer(max_iter=param, random_state=spec.seed,
                                 keep_empty_features=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(scaled)
        params = {"max_iter": param, "n_iter": int(model.n_iter_)}
    return ModelFill(strategy=strategy, targets=targets, features=columns, model=model,
                     center=center, scale=scale, fit_rows=len(x), params=params)


# -- applying -------------------------------------------------------------------------------
def _fill_scalar(series: pd.Series, value: Any) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype) and value not in series.cat.categories:
        series = series.cat.add_categories([value])
    try:
        return series.fillna(value)
    except (TypeError, ValueError):
        # A nullable integer column cannot hold a fractional median; widen it to float.
        return series.astype("Float64").fillna(value)


def _fill_along_time(frame: pd.DataFrame, col: str, rule: MissingRule,
                     time_column: str | None) -> pd.Series:
    keys = [*rule.by, time_column]
    table = frame[keys].reset_index(drop=True)
    order = table.sort_values(keys, kind="stable", na_position="last").index
    values = frame[col].reset_index(drop=True).loc[order]
    if rule.by:
        grouped = values.groupby([table[b].loc[order] for b in rule.by], sort=False,
                                 dropna=False)
        values = grouped.ffill() if rule.strategy == "ffill" else grouped.bfill()
    else:
        values = values.ffill() if rule.strategy == "ffill" else values.bfill()
    values = values.sort_index()
    values.index = frame.index
    return values.astype(frame[col].dtype)


def _apply_model(frame: pd.DataFrame, group: ModelFill) -> dict[str, pd.Series]:
    if len(frame) == 0:
        return {}
    x = frame[list(group.features)].to_numpy(dtype=float, na_value=np.nan)
    needs = np.isnan(x[:, : len(group.targets)]).any(axis=1)
    out: dict[str, pd.Series] = {}
    if not needs.any():
        return out
    scaled = (x[needs] - group.center) / group.scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        imputed = group.model.transform(scaled) * group.scale + group.center
    for i, col in enumerate(group.targets):
        full = x[:, i].copy()
        full[needs] = np.where(np.isnan(full[needs]), imputed[:, i], full[needs])
        series = frame[col]
        gaps = series.isna().to_numpy()
        try:
            out[col] = series.mask(gaps, full)
        except (TypeError, ValueError):
            out[col] = series.astype("Float64").mask(gaps, full)
    return out

"""The held-out test split and the cross-validation folds of a task spec.

Both are decided before anything is trained, and every way they could fail later (a
missing group or time column, a class too rare to stratify, fewer groups than folds) is
refused here with a :class:`~gapless.core.errors.ValidationError` naming the fix.

Defaults: ``stratified`` for classification, ``random`` otherwise (test split);
``stratified`` folds for classification, shuffled ``kfold`` otherwise (cross-validation).
Indices are positions (use ``frame.iloc``). When ``split.time_column`` is set both index
arrays are in time order, so ``timeseries`` folds over the training rows respect time;
otherwise they are ascending positions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.training.problem import check_target

if TYPE_CHECKING:
    from gapless.training.specs import TaskSpec

CLASSIFICATION = ("binary", "multiclass")


def split_method(spec: TaskSpec, problem: str) -> str:
    """The test-split method the spec asks for, or the default for ``problem``."""
    method = spec.split.method or ("stratified" if problem in CLASSIFICATION else "random")
    if method == "stratified" and problem not in CLASSIFICATION:
        raise ValidationError(f"split.method 'stratified' needs a classification problem, "
                              f"this one is {problem}; use random, time or group")
    return method


def cv_method(spec: TaskSpec, problem: str) -> str:
    """The cross-validation method the spec asks for, or the default for ``problem``."""
    method = spec.cv.method or ("stratified" if problem in CLASSIFICATION else "kfold")
    if method == "stratified" and problem not in CLASSIFICATION:
        raise ValidationError(f"cv.method 'stratified' needs a classification problem, "
                              f"this one is {problem}; use kfold, group or timeseries")
    return method


def _column(frame: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in frame.columns:
        import difflib

        columns = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValidationError(f"{what} `{name}` is not a column of the data{hint}; "
                              f"the columns are {columns}")
    values = frame[name]
    missing = int(values.isna().sum())
    if missing:
        raise ValidationError(f"{what} `{name}` is missing in {missing} of {len(values)} rows; "
                              "fill or drop those rows first")
    return values


def _times(frame: pd.DataFrame, name: str) -> np.ndarray:
    values = _column(frame, name, "split.time_column")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy()
    try:
        return pd.to_datetime(values).to_numpy()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"split.time_column `{name}` holds {values.dtype} values that "
                              f"are not dates ({exc}); give a datetime or numeric column") from exc


def _counts(y: Any) -> pd.Series:
    return pd.Series(np.asarray(y)).value_counts()


def _check_classes(y: Any, needed: int, what: str, fix: str) -> None:
    counts = _counts(y)
    rare = counts[counts < needed]
    if len(rare):
        listing = ", ".join(f"{label!r}={count}" for label, count in counts.items())
        named = ", ".join(f"{label!r} has {count} row(s)" for label, count in rare.items())
        raise ValidationError(f"class {named}{what}, fewer than the {needed} needed "
                              f"(class counts: {listing}); {fix}")


def train_test(frame: pd.DataFrame, spec: TaskSpec, *, target: str | None, problem: str,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and the held-out test rows of ``frame``.

    ``random`` and ``stratified`` shuffle with ``seed``; ``time`` puts the latest
    ``test_size`` fraction of rows in the test set (rows tied with the cut-off time go
    with it, so every test row is strictly later than every training row); ``group``
    holds out whole groups (GroupShuffleSplit, ``test_size`` of the groups). Also checks
    that the cross-validation the spec asks for can run on the training rows.
    """
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    check_target(frame, target, problem)
    method = split_method(spec, problem)
    n_rows = len(frame)
    if n_rows < 2:
        raise ValidationError(f"the data has {n_rows} row(s); a test split needs at least 2")
    positions = np.arange(n_rows)
    test_size = spec.split.test_size
    y = frame[target].to_numpy() if target is not None and problem != "clustering" else None
    times = _times(frame, spec.split.time_column) if spec.split.time_column else None
    if method == "time":
        order = np.argsort(times, kind="stable")
        n_test = max(1, math.ceil(test_size * n_rows))
        cutoff = times[order[n_rows - n_test]]
        in_test = times >= cutoff
        if in_test.all():
            raise ValidationError(f"split.time_column `{spec.split.time_column}`: every row "
                                  f"has the same time {cutoff}; a time split needs later rows")
        train_idx, test_idx = positions[~in_test], positions[in_test]
    elif method == "group":
        groups = _column(frame, spec.split.group_column, "split.group_column").to_numpy()
        n_groups = len(pd.unique(groups))
        if n_groups < 2:
            raise ValidationError(f"split.group_column `{spec.split.group_column}` has "
                                  f"{n_groups} group; a group split needs at least 2")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_idx, test_idx = next(splitter.split(positions, groups=groups))
    else:
        stratify = None
        if method == "stratified":
            _check_classes(y, 2, "", "a stratified split needs 2 per class; drop or merge "
                           "rare classes, or use split.method: random")
            n_classes = len(_counts(y))
            if math.floor(test_size * n_rows) < n_classes:
                raise ValidationError(f"a test split of {test_size:g} x {n_rows} rows cannot "
                                      f"hold one row of each of the {n_classes} classes; "
                                      "raise split.test_size")
            stratify = y
        train_idx, test_idx = train_test_split(positions, test_size=test_size,
                                               random_state=seed, stratify=stratify)
    train_idx, test_idx = _ordered(train_idx, times), _ordered(test_idx, times)
    _check_cv(frame, spec, problem, train_idx, y)
    return train_idx, test_idx


def _ordered(idx: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    idx = np.sort(np.asarray(idx, dtype=np.intp))
    if times is None:
        return idx
    return idx[np.argsort(times[idx], kind="stable")]


def _check_cv(frame: pd.DataFrame, spec: TaskSpec, problem: str, train_idx: np.ndarray,
              y: np.ndarray | None) -> None:
    method, folds = cv_method(spec, problem), spec.cv.folds
    if len(train_idx) < folds:
        raise ValidationError(f"{len(train_idx)} training rows cannot make {folds} "
                              "cross-validation folds; lower cv.folds or add data")
    if method == "stratified" and y is not None:
        _check_y_for_folds(y[train_idx], folds)
    if method == "group":
        groups = _column(frame, spec.cv.group_column, "cv.group_column").to_numpy()
        _check_groups(groups[train_idx], folds, spec.cv.group_column)


def _check_y_for_folds(y: Any, folds: int) -> None:
    _check_classes(y, folds, " in the training rows",
                   f"stratified {folds}-fold cross-validation needs {folds} per class; "
                   "lower cv.folds, or drop or merge the rare classes")


def _check_groups(groups: Any, folds: int, name: str | None) -> None:
    n_groups = len(pd.unique(np.asarray(groups)))
    if n_groups < folds:
        raise ValidationError(f"cv.group_column `{name}` has {n_groups} distinct groups in "
                              f"the training rows, fewer than the {folds} folds; lower "
                              "cv.folds")


def cv_groups(frame: pd.DataFrame, spec: TaskSpec) -> np.ndarray | None:
    """The ``cv.group_column`` values of ``frame`` for group folds, else None."""
    if spec.cv.group_column is None:
        return None
    return _column(frame, spec.cv.group_column, "cv.group_column").to_numpy()


def cv_splitter(spec: TaskSpec, *, problem: str, seed: int, groups: Any = None,
                y: Any = None) -> Any:
    """The scikit-learn splitter for ``spec.cv``: KFold, StratifiedKFold, GroupKFold or
    TimeSeriesSplit (shuffled with ``seed`` where shuffling applies).

    Give the training rows' ``groups`` for group folds (and pass the same array to
    ``split`` / ``cross_validate``); ``y`` lets stratified folds check class counts now.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    method, folds = cv_method(spec, problem), spec.cv.folds
    if method == "stratified":
        if y is not None:
            _check_y_for_folds(y, folds)
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    if method == "group":
        if groups is None:
            raise ValidationError(f"group cross-validation needs the values of "
                                  f"cv.group_column `{spec.cv.group_column}` as groups")
        _check_groups(groups, folds, spec.cv.group_column)
        return GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    if method == "timeseries":
        return TimeSeriesSplit(n_splits=folds)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


__all__ = ["cv_groups", "cv_method", "cv_splitter", "split_method", "train_test"]

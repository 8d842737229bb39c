"""Helpers every evaluation module shares: JSON-safe values, model outputs, column kinds.

Evaluation works on any fitted scikit-learn-compatible estimator or pipeline that takes a
pandas DataFrame of raw columns. "Score" below means the one number per row that the
behavioural tests, partial dependence and what-if follow: the probability of the positive
class for a binary classifier (its predicted label when it has no ``predict_proba``), the
prediction of a regressor, and the predicted label for multiclass and clustering models.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError

PROBLEMS = ("binary", "multiclass", "regression", "clustering")
MISSING = "(missing)"


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: NaN and infinities become None, NumPy scalars and
    arrays become Python numbers and lists, mapping keys become strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {label_text(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return json_safe(value.item())
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return str(value)


def label_text(value: Any) -> str:
    """A class label, group or slice value as a JSON object key."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return MISSING
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sort_labels(values: Any) -> list[Any]:
    """Distinct labels in a stable order: numbers ascending, then the rest by their text."""
    def key(value: Any) -> tuple[int, Any]:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            return (1, label_text(value))
        return (0, value)

    return sorted(set(values), key=key)


def is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-likes are never "missing" as a whole
        return False


def check_problem(problem: str, allowed: Sequence[str] = PROBLEMS) -> str:
    if problem not in allowed:
        raise ValidationError(f"problem {problem!r} is not one of {', '.join(allowed)}; "
                              "pass the problem type the model was trained for")
    return problem


def as_frame(X: Any, what: str = "X") -> pd.DataFrame:
    """``X`` as a DataFrame with at least one row (models here take raw named columns)."""
    if not isinstance(X, pd.DataFrame):
        raise ValidationError(f"{what}: expected a pandas DataFrame of the model's raw "
                              f"columns, got {type(X).__name__}")
    if len(X) == 0:
        raise ValidationError(f"{what} has no rows; evaluation needs at least one")
    return X


def check_columns(X: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise naming ``what`` and each column that ``X`` lacks, listing the columns it has."""
    unknown = [column for column in columns if column not in X.columns]
    if unknown:
        names = ", ".join(f"`{column}`" for column in unknown)
        known = ", ".join(str(column) for column in X.columns)
        raise ValidationError(f"{what}: column {names} is not in the data; "
                              f"the columns are: {known}")


def is_categorical(series: pd.Series) -> bool:
    """True for columns compared by value (text, categories, booleans), False for numbers."""
    return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)


def classes_of(model: Any) -> list[Any] | None:
    """The class labels of a fitted classifier in ``predict_proba`` column order."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else list(classes)


def has_proba(model: Any) -> bool:
    return classes_of(model) is not None and hasattr(model, "predict_proba")


def positive_label_of(classes: Sequence[Any], positive_label: Any = None) -> Any:
    """The positive class among ``classes``: the one given, else the last (scikit-learn's
    convention, e.g. 1 of {0, 1}, or "yes" of {"no", "yes"})."""
    if positive_label is None:
        return classes[-1]
    for label in classes:
        if label == positive_label or label_text(label) == label_text(positive_label):
            return label
    raise ValidationError(f"positive label {positive_label!r} is not a class of the model; "
                          f"the classes are: {', '.join(map(label_text, classes))}")


def model_scores(model: Any, X: pd.DataFrame, problem: str,
                 positive_label: Any = None) -> np.ndarray:
    """The score of each row of ``X`` (see the module docstring)."""
    if problem == "binary" and has_proba(model):
        classes = classes_of(model)
        column = classes.index(positive_label_of(classes, positive_label))
        return np.asarray(model.predict_proba(X))[:, column].astype(float)
    predictions = np.asarray(model.predict(X))
    if problem == "regression":
        return predictions.astype(float)
    if problem == "binary":
        classes = classes_of(model) or sorted(pd.unique(predictions).tolist())
        positive = positive_label_of(classes, positive_label)
        return (predictions == positive).astype(float)
    return predictions


def seeded_sample(X: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows of ``X`` drawn without replacement, the same for the same seed."""
    if len(X) <= rows:
        return X
    return X.sample(n=rows, random_state=np.random.RandomState(seed))


def set_column(frame: pd.DataFrame, column: str, value: Any) -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` set to ``value`` (a scalar or one per row)."""
    changed = frame.copy()
    if np.ndim(value) == 0 and is_missing(value):
        value = np.nan
    changed[column] = value
    return changed


def config_field(config: Any, name: str, default: Any = None) -> Any:
    """A field of a spec section given as a pydantic model, any object or a mapping."""
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def all_passed(verdicts: Sequence[bool | None]) -> bool | None:
    """False if any verdict failed, else None if any could not be judged, else True."""
    if any(verdict is False for verdict in verdicts):
        return False
    return None if any(verdict is None for verdict in verdicts) else True

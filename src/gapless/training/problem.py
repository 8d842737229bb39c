"""What kind of problem a target poses, and whether the target can be learned at all.

:func:`detect_problem` applies one rule, in this order (``spec.problem`` overrides it):

1. exactly two distinct values (any type)                     -> ``binary``
2. strings, categories or booleans with three or more values  -> ``multiclass``
3. numbers with a non-integer value                           -> ``regression``
4. whole numbers with at most :data:`MAX_CLASSES` distinct values, each class
   averaging at least :data:`MIN_ROWS_PER_CLASS` rows          -> ``multiclass``
5. any other whole numbers (counts, amounts)                   -> ``regression``
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError

MAX_CLASSES = 20
MIN_ROWS_PER_CLASS = 5
PROBLEMS = ("binary", "multiclass", "regression", "clustering")


def detect_problem(y: pd.Series) -> str:
    """``binary``, ``multiclass`` or ``regression`` for target values ``y`` (see above).

    Missing values are ignored; a target with fewer than two distinct values raises
    :class:`ValidationError`.
    """
    values = pd.Series(y).dropna()
    distinct = values.nunique()
    name = getattr(y, "name", None) or "target"
    if distinct < 2:
        raise ValidationError(f"target `{name}` has {distinct} distinct value(s) "
                              f"({_sample(values)}); a model needs at least two")
    if distinct == 2:
        return "binary"
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "multiclass"
    numbers = values.to_numpy(dtype=float)
    if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
        return "regression"
    if distinct <= MAX_CLASSES and len(values) >= MIN_ROWS_PER_CLASS * distinct:
        return "multiclass"
    return "regression"


def _sample(values: pd.Series) -> str:
    unique = [v.item() if hasattr(v, "item") else v for v in pd.unique(values)[:5]]
    return ", ".join(repr(value) for value in unique) if unique else "no values"


def check_target(frame: pd.DataFrame, target: str | None, problem: str) -> None:
    """Refuse a target that cannot be learned, with what to do about it.

    Checks that the column exists, has no missing values, is not constant, is numeric
    for regression and has exactly two classes for ``binary``. ``clustering`` needs no
    target (one given is not checked).
    """
    if problem not in PROBLEMS:
        raise ValidationError(f"problem must be one of {list(PROBLEMS)}, got {problem!r}")
    if problem == "clustering":
        return
    if target is None:
        raise ValidationError(f"a {problem} task needs a target column; set `target`")
    if target not in frame.columns:
        columns = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(str(target), columns, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValidationError(f"target `{target}` is not a column of the data{hint}; "
                              f"the columns are {columns}")
    y = frame[target]
    missing = int(y.isna().sum())
    if missing:
        raise ValidationError(
            f"target `{target}` is missing in {missing} of {len(y)} rows; drop those rows "
            "or fill them before training (e.g. `gapless data clean` with a drop-rows step)")
    distinct = y.nunique()
    if distinct < 2:
        raise ValidationError(f"target `{target}` is constant ({_sample(y)}) in all "
                              f"{len(y)} rows; there is nothing to learn, check the data")
    if problem == "regression":
        _check_numeric(y, target)
    elif problem == "binary" and distinct != 2:
        raise ValidationError(f"problem is binary but target `{target}` has {distinct} "
                              f"classes ({_sample(y)}, ...); set problem: multiclass")


def _check_numeric(y: pd.Series, target: str) -> None:
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        raise ValidationError(f"problem is regression but target `{target}` is {y.dtype} "
                              f"({_sample(y)}); convert it to numbers or set problem to "
                              "binary/multiclass")
    numbers: Any = y.to_numpy(dtype=float)
    infinite = int(np.isinf(numbers).sum())
    if infinite:
        raise ValidationError(f"target `{target}` has {infinite} infinite value(s); "
                              "drop or fix those rows")


__all__ = ["MAX_CLASSES", "MIN_ROWS_PER_CLASS", "PROBLEMS", "check_target", "detect_problem"]

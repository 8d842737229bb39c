"""A column made ready for the tests: numbers finite and sorted once, categories counted once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gapless.core.errors import ValidationError


@dataclass(frozen=True, eq=False)
class NumericColumn:
    """The finite values of a numeric column as float64, sorted ascending (read-only).

    ``missing`` counts what was dropped: NaN, None, pandas NA and +-inf. Infinities count
    as missing because no distance or quantile bin is defined for them; a column whose
    infinities matter should be cleaned before it is compared.
    """

    values: np.ndarray
    missing: int = 0

    def __post_init__(self) -> None:
        v = self.values
        if not isinstance(v, np.ndarray) or v.dtype != np.float64 or v.ndim != 1:
            raise ValidationError(f"NumericColumn: expected a 1-D float64 array, got "
                                  f"{type(v).__name__} {getattr(v, 'dtype', '')}; build it "
                                  "with prepare_numeric(values)")
        if v.size and (not np.isfinite(v).all() or bool((v[1:] < v[:-1]).any())):
            raise ValidationError("NumericColumn: values must be finite and sorted ascending; "
                                  "build it with prepare_numeric(values)")
        if self.missing < 0:
            raise ValidationError(f"NumericColumn: missing must be >= 0, got {self.missing}")
        if v.flags.writeable:
            v.flags.writeable = False

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass(frozen=True, eq=False)
class CategoricalColumn:
    """The distinct non-missing values of a column as str, sorted, with their counts.

    ``categories`` are unique and sorted ascending; ``counts`` (int64, every one > 0) are
    aligned with them; ``missing`` counts the None, NaN and pandas NA values dropped.
    """

    categories: np.ndarray
    counts: np.ndarray
    missing: int = 0

    def __post_init__(self) -> None:
        cats, counts = self.categories, self.counts
        if (not isinstance(cats, np.ndarray) or not isinstance(counts, np.ndarray)
                or cats.ndim != 1 or cats.shape != counts.shape or cats.dtype.kind != "U"
                or counts.dtype != np.int64):
            raise ValidationError("CategoricalColumn: expected a 1-D str array of categories "
                                  "and an int64 array of counts of the same length; build it "
                                  "with prepare_categorical(values)")
        if cats.size and (bool((cats[1:] <= cats[:-1]).any()) or bool((counts <= 0).any())):
            raise ValidationError("CategoricalColumn: categories must be unique and sorted, "
                                  "counts positive; build it with prepare_categorical(values)")
        if self.missing < 0:
            raise ValidationError(f"CategoricalColumn: missing must be >= 0, got "
                                  f"{self.missing}")
        for array in (cats, counts):
            if array.flags.writeable:
                array.flags.writeable = False

    @property
    def total(self) -> int:
        """How many non-missing values the column had."""
        return int(self.counts.sum())


def prepare_numeric(values: Any) -> NumericColumn:
    """A :class:`NumericColumn` from a NumPy array, a pandas Series (nullable dtypes
    included), a list, or anything ``np.asarray`` reads.

    Missing values (NaN, None, ``pd.NA``) and infinities are dropped and counted in
    ``missing``; the rest is sorted once. Text, dates or complex numbers raise
    :class:`ValidationError`. An all-missing column gives an empty ``values`` array (the
    tests then refuse it, saying so).
    """
    array = _float_array(values)
    finite = np.isfinite(array)
    kept = array[finite] if not finite.all() else array.copy()
    kept.sort()
    return NumericColumn(kept, int(array.size - kept.size))


def prepare_categorical(values: Any) -> CategoricalColumn:
    """A :class:`CategoricalColumn` from a NumPy array, a pandas Series (categorical,
    string, boolean or object dtype) or a list.

    Missing values (None, NaN, ``pd.NA``) are dropped and counted in ``missing``; every
    other value is counted and then named by ``str(value)``. Values of different kinds in
    one column (numbers and text, or booleans and text) raise :class:`ValidationError`,
    since ``1`` and ``"1"`` would otherwise be silently merged or silently told apart.
    """
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(_one_dimensional(values))
    if series.ndim != 1:
        raise ValidationError(f"categorical column: expected one dimension, got "
                              f"{series.ndim}")
    missing = int(series.isna().sum())
    try:
        counted = series.value_counts(dropna=True, sort=False)
    except TypeError as exc:
        raise ValidationError(f"categorical column: expected single labels (text, numbers, "
                              f"booleans), got unhashable values ({exc}); convert them to "
                              "str first") from exc
    counted = counted[counted.to_numpy() > 0]  # unused categories of a categorical dtype
    _refuse_mixed_kinds(counted.index)
    names = np.asarray([str(v) for v in counted.index], dtype=str)
    counts = counted.to_numpy(dtype=np.int64)
    if names.size == 0:
        return CategoricalColumn(np.empty(0, dtype="<U1"), np.empty(0, np.int64), missing)
    categories, inverse = np.unique(names, return_inverse=True)
    if categories.size != names.size:  # distinct values with the same str (1 and 1.0)
        counts = np.bincount(inverse, weights=counts, minlength=categories.size)
        counts = counts.astype(np.int64)
    else:
        counts = counts[np.argsort(names, kind="stable")]
    return CategoricalColumn(categories, counts, missing)


# -- helpers ---------------------------------------------------------------------------
def _one_dimensional(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValidationError(f"column: expected one dimension, got shape "
                                  f"{values.shape}; pass one column at a time")
        return values
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValidationError(f"column: expected a sequence of values, got "
                              f"{type(values).__name__}")
    return values


def _float_array(values: Any) -> np.ndarray:
    """``values`` as a 1-D float64 array, NaN where missing."""
    module = type(values).__module__
    if module.startswith("pandas"):
        if getattr(values, "ndim", 1) != 1:
            raise ValidationError("numeric column: expected one dimension; pass one column "
                                  "at a time")
        kind = getattr(getattr(values, "dtype", None), "kind", "O")
        if kind in "mMc":
            raise ValidationError(f"numeric column: expected numbers, got dtype "
                                  f"{values.dtype}; compare dates or durations as numbers "
                                  "(for example seconds) or as categories")
        try:
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise _not_numbers(exc) from exc
    array = np.asarray(_one_dimensional(values))
    if array.ndim != 1:
        raise ValidationError(f"numeric column: expected one dimension, got shape "
                              f"{array.shape}; pass one column at a time")
    if array.dtype.kind in "mMcSU":
        raise ValidationError(f"numeric column: expected numbers, got dtype {array.dtype}; "
                              "compare text as a categorical column, dates as numbers")
    if array.dtype == object and any(isinstance(v, (str, bytes)) for v in array):
        raise ValidationError("numeric column: expected numbers, got text; compare it as a "
                              "categorical column or parse it (pandas.to_numeric) first")
    try:
        if array.dtype == object:  # None, NaN and pandas NA all become NaN
            import pandas as pd

            return pd.Series(array, copy=False).to_numpy(dtype=np.float64, na_value=np.nan)
        return array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise _not_numbers(exc) from exc


def _not_numbers(exc: Exception) -> ValidationError:
    return ValidationError(f"numeric column: expected numbers (None or NaN where missing), "
                           f"got a value that is not one ({exc}); clean the column or "
                           "compare it as categorical")


def _kind_of(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.number)):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _refuse_mixed_kinds(index: Any) -> None:
    import pandas as pd

    if index.dtype != object:
        return  # one dtype, one kind
    inferred = pd.api.types.infer_dtype(index, skipna=True)
    if inferred not in ("mixed", "mixed-integer"):
        return
    kinds: dict[str, Any] = {}
    for value in index:
        kinds.setdefault(_kind_of(value), value)
    containers = sorted(set(kinds) & {"dict", "list", "ndarray", "set", "tuple"})
    if containers:
        raise ValidationError(f"categorical column: expected single labels (text, numbers, "
                              f"booleans), got {containers[0]} values such as "
                              f"{kinds[containers[0]]!r}; flatten or convert them to str")
    if len(kinds) > 1:
        shown = ", ".join(f"{k} ({v!r})" for k, v in sorted(kinds.items()))
        raise ValidationError(f"categorical column: values of different kinds in one column: "
                              f"{shown}; cast the column to one type (for example str) "
                              "before comparing")

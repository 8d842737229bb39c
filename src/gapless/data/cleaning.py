"""Cleaning as a recorded, replayable spec: the :class:`DataCleaner` estimator.

A :class:`~gapless.data.cleaning_spec.CleaningSpec` says what to do (drop duplicates,
treat missing values per column, detect and treat outliers); ``DataCleaner(spec)`` learns
what it needs from one table (fill values, bounds, fitted imputers and forests) and applies
it. Everything random is seeded by ``spec.seed``, so the same spec on the same input gives
the same output, and fitting the same spec on a new dataset version replays the recipe on it.

After a transform, ``report_`` says what happened (counts per step and column) and
``fitted_params()`` says exactly what was learned; both are JSON-safe so a dataset
version can store them next to the spec.

Steps run in the order duplicates -> missing -> outliers; see :class:`CleaningSpec` for why.
This module imports pandas and scikit-learn only when a cleaner is fitted, so parsing a
spec stays cheap for the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gapless.core.errors import ValidationError
from gapless.data.cleaning_spec import (
    CleaningSpec,
    DuplicatesSpec,
    MissingRule,
    OutlierRule,
    load_cleaning_spec,
)

if TYPE_CHECKING:
    import pandas as pd

    from gapless.data.cleaning_missing import FittedMissing
    from gapless.data.cleaning_outliers import FittedOutliers

SpecLike = CleaningSpec | Mapping[str, Any] | str | os.PathLike[str]


class DataCleaner:
    """Apply a cleaning spec to pandas DataFrames, with scikit-learn estimator manners.

    ``spec`` may be a :class:`CleaningSpec`, its dict form or the path of a YAML file; it is
    stored as given and checked when :meth:`fit` starts. Learned state:

    * ``spec_``: the parsed spec;
    * ``missing_``, ``outliers_``: what the missing and outlier steps learned;
    * ``n_rows_fit_``: rows of the fit input;
    * ``report_``: JSON-safe counts of the latest :meth:`transform` (or of the fit pass).

    The row index of surviving rows is kept as it was, so callers can see which rows went.
    """

    def __init__(self, spec: SpecLike) -> None:
        self.spec = spec

    # -- scikit-learn protocol (kept by hand so importing this module stays light) ----------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"spec": self.spec}

    def set_params(self, **params: Any) -> DataCleaner:
        for key, value in params.items():
            if key != "spec":
                raise ValidationError(f"DataCleaner has no parameter {key!r}; "
                                      f"the only parameter is 'spec'")
            self.spec = value
        return self

    def __repr__(self) -> str:
        return f"DataCleaner(spec={self.spec!r})"

    def fit(self, df: pd.DataFrame, y: Any = None) -> DataCleaner:
        """Learn fill values, bounds and models from ``df``; return self."""
        self._run(df, learn=True)
        return self

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Clean ``df`` with what :meth:`fit` learned; sets ``report_``. The input is untouched."""
        if not hasattr(self, "spec_"):
            raise ValidationError("DataCleaner is not fitted yet; call fit(df) or "
                                  "fit_transform(df) first")
        return self._run(df, learn=False)

    def fit_transform(self, df: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        """Fit on ``df`` and return it cleaned (identical to ``fit(df).transform(df)``)."""
        return self._run(df, learn=True)

    def fitted_params(self) -> dict[str, Any]:
        """JSON-safe record of what was learned: fill values, models' settings, bounds."""
        from gapless.data.cleaning_missing import missing_params
        from gapless.data.cleaning_outliers import outlier_params

        if not hasattr(self, "spec_"):
            raise ValidationError("DataCleaner is not fitted yet; call fit(df) first")
        return _json_safe({
            "spec": self.spec_.to_dict(),
            "n_rows_fit": self.n_rows_fit_,
            "missing": missing_params(self.spec_, self.missing_),
            "outliers": outlier_params(self.spec_, self.outliers_),
        })

    # -- the pipeline -----------------------------------------------------------------------
    def _run(self, df: pd.DataFrame, *, learn: bool) -> pd.DataFrame:
        import pandas as pd

        from gapless.data.cleaning_missing import apply_missing, fit_missing
        from gapless.data.cleaning_outliers import apply_outliers, fit_outliers

        if not isinstance(df, pd.DataFrame):
            raise ValidationError(f"DataCleaner expects a pandas DataFrame, "
                                  f"got {type(df).__name__}")
        spec = load_cleaning_spec(self.spec) if learn else self.spec_
        _check_columns_present(df, spec)
        frame, duplicates = _drop_duplicates(df, spec.duplicates)
        missing: FittedMissing = fit_missing(frame, spec) if learn else self.missing_
        frame, missing_report = apply_missing(frame, spec, missing)
        outliers: FittedOutliers = fit_outliers(frame, spec) if learn else self.outliers_
        frame, outlier_report = apply_outliers(frame, spec, outliers)
        if learn:
            self.spec_ = spec
            self.missing_ = missing
            self.outliers_ = outliers
            self.n_rows_fit_ = len(df)
        self.report_ = _json_safe({
            "rows_in": len(df),
            "rows_out": len(frame),
            "duplicates": duplicates,
            "missing": missing_report,
            "outliers": outlier_report,
        })
        return frame


def clean(df: pd.DataFrame, spec: SpecLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit a cleaner on ``df`` and return the cleaned frame with a record of what was done.

    The record holds the spec, the report and the fitted parameters, ready to be stored
    with the new dataset version.
    """
    cleaner = DataCleaner(spec)
    out = cleaner.fit_transform(df)
    return out, {"report": cleaner.report_, **cleaner.fitted_params()}


def _check_columns_present(df: pd.DataFrame, spec: CleaningSpec) -> None:
    absent = sorted(spec.columns() - {str(c) for c in df.columns})
    if absent:
        shown = ", ".join(map(str, list(df.columns)[:20]))
        more = ", ..." if len(df.columns) > 20 else ""
        raise ValidationError(
            f"cleaning spec names column(s) {absent} that the data does not have; "
            f"the data has: {shown}{more}; fix the names in the spec")


def _drop_duplicates(df: pd.DataFrame, dup: DuplicatesSpec) -> tuple[pd.DataFrame, dict]:
    if not dup.drop:
        return df, {"drop": False, "rows_dropped": 0}
    subset = list(dup.subset) if dup.subset is not None else None
    repeated = df.duplicated(subset=subset, keep=dup.keep).to_numpy()
    return df.loc[~repeated], {"drop": True, "subset": subset, "keep": dup.keep,
                               "rows_dropped": int(repeated.sum())}


def _json_safe(value: Any) -> Any:
    from gapless.data.cleaning_missing import json_scalar

    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return json_scalar(value)


__all__ = [
    "CleaningSpec",
    "DataCleaner",
    "DuplicatesSpec",
    "MissingRule",
    "OutlierRule",
    "clean",
    "load_cleaning_spec",
]

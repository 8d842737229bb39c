"""What a recommender training spec may say: the families and their search spaces (the
tabular trainer's candidate-params format: a value, ``{low, high, log}`` or
``{choices}``), the metric, the budget; every fault names the field."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gapless.core.errors import ValidationError
from gapless.core.search_space import Choice, Fixed, FloatRange, IntRange, Param
from gapless.core.search_space import parse_param as parse_search_param
from gapless.recsys.content import ContentRecommender
from gapless.recsys.graph_walk import GraphWalkRecommender
from gapless.recsys.item_knn import ItemKNNRecommender
from gapless.recsys.matrix_factorization import ALSRecommender, BPRRecommender
from gapless.recsys.popularity import PopularityRecommender

Family = Literal["popularity", "item_knn", "content", "als", "bpr", "graph_walk"]
FAMILIES: dict[str, type] = {
    "popularity": PopularityRecommender,
    "item_knn": ItemKNNRecommender,
    "content": ContentRecommender,
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "graph_walk": GraphWalkRecommender,
}
# Metrics where higher is better and that judge the ranking (beats_baseline looks at these).
RANKED = ("precision", "recall", "map", "mrr", "ndcg")
# Canonical column names inside the task; the spec's columns are renamed to these.
USER, ITEM, TIME, WEIGHT = "user_id", "item_id", "timestamp", "weight"


# -- search spaces (the tabular trainer's candidate-params format) -------------------------

# Default spaces, sized for catalogues of hundreds to tens of thousands of items.
DEFAULT_SPACES: dict[str, dict[str, Param]] = {
    "popularity": {},
    "item_knn": {"neighbours": IntRange(10, 200, log=True), "shrink": FloatRange(0.0, 100.0),
                 "binary": Choice((True, False))},
    "content": {"max_features": IntRange(200, 5000, log=True),
                "attribute_weight": FloatRange(0.0, 2.0),
                "popularity_weight": FloatRange(0.0, 0.5)},
    "als": {"factors": IntRange(8, 128, log=True),
            "regularization": FloatRange(1e-3, 1.0, log=True),
            "alpha": FloatRange(1.0, 50.0, log=True), "iterations": Fixed(15)},
    "bpr": {"factors": IntRange(8, 128, log=True),
            "learning_rate": FloatRange(0.01, 0.2, log=True),
            "regularization": FloatRange(1e-4, 0.1, log=True), "iterations": IntRange(10, 40)},
    "graph_walk": {"dimensions": IntRange(16, 128, log=True), "walk_length": IntRange(10, 40),
                   "window": IntRange(2, 8), "walks_per_node": Fixed(10),
                   "negative": Choice((1, 5)), "popularity_weight": FloatRange(0.0, 1.0)},
}


def accepted_params(family: str) -> list[str]:
    """The constructor arguments of ``family``'s recommender."""
    signature = inspect.signature(FAMILIES[family].__init__)
    return [name for name in signature.parameters if name != "self"]


def parse_param(family: str, name: str, value: Any, default: Param | None) -> Param:
    """One ``Candidate.params`` entry as a space (:func:`gapless.core.search_space.
    parse_param`); a list value is fixed as a tuple (column lists)."""
    if isinstance(value, list):
        value = tuple(value)
    return parse_search_param(f"candidate `{family}`, param `{name}`", value, default,
                              error=ValueError)


def resolve_space(family: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Param]:
    """``family``'s default space with ``overrides`` merged in, entry by entry."""
    space: dict[str, Param] = dict(DEFAULT_SPACES[family])
    accepted = accepted_params(family)
    for name, value in (overrides or {}).items():
        if name not in accepted:
            raise ValueError(f"candidate `{family}`: unknown param `{name}`; known: "
                             f"{sorted(accepted)}")
        space[name] = parse_param(family, name, value, space.get(name))
    return space


# -- the spec ----------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Candidate(_Strict):
    """A recommender family to try; ``params`` override its default search space, entry
    by entry (``factors: 32``, ``{low: 8, high: 128, log: true}``, ``{choices: [...]}``)."""

    family: Family
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _params_known(self) -> Candidate:
        resolve_space(self.family, self.params)  # ValueError -> pydantic names the candidate
        return self


class Budget(_Strict):
    trials: int = Field(20, ge=1)
    minutes: float | None = Field(None, gt=0)


def valid_metrics(k: int) -> list[str]:
    """The metric names a search can maximise for top-``k`` lists."""
    return [*(f"{m}@{k}" for m in ("precision", "recall", "map", "ndcg")), "mrr", "coverage"]


class RecommenderSpec(_Strict):
    """Everything :func:`train_recommender` needs; only ``dataset`` is required.

    ``dataset``: the interactions (one row per event); ``items``: the item attributes
    (content models need them; their items join the catalogue even if never visited).
    ``metric`` defaults to ``ndcg@<k>``."""

    name: str | None = None  # experiment; default "recommend-<dataset name>"
    dataset: str
    user: str = USER
    item: str = ITEM
    timestamp: str = TIME
    weight: str | None = None
    items: str | None = None
    holdout: int = Field(1, ge=1)
    k: int = Field(10, ge=1)
    metric: str | None = None
    candidates: list[Candidate] | None = Field(None, min_length=1)
    budget: Budget = Budget()
    seed: int = Field(0, ge=0)
    limitations: str | None = None

    @field_validator("dataset", "items")
    @classmethod
    def _dataset_ref(cls, value: str | None) -> str | None:
        from gapless.core.refs import parse_ref

        if value is not None:
            try:
                parse_ref(value, what="dataset reference")
            except ValidationError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None, info: Any) -> str | None:
        k = info.data.get("k")
        if value is None or k is None:
            return value
        known = valid_metrics(k)
        if value not in known:
            raise ValueError(f"unknown metric {value!r} for k={k}; use one of {known}")
        return value

    @model_validator(mode="after")
    def _content_needs_items(self) -> RecommenderSpec:
        if self.items is None and any(c.family == "content" for c in self.candidates or []):
            raise ValueError("the content family needs `items` (the item attributes dataset)")
        return self

    @property
    def experiment(self) -> str:
        return self.name or f"recommend-{self.dataset.partition('@')[0]}"

    @property
    def objective(self) -> str:
        return self.metric or f"ndcg@{self.k}"

    def lineup(self) -> list[Candidate]:
        """The candidates, or the default line-up: item_knn, als, graph_walk (+ content
        when ``items`` is given)."""
        if self.candidates is not None:
            return list(self.candidates)
        names = ["item_knn", "als", "graph_walk", *(["content"] if self.items else [])]
        return [Candidate(family=name) for name in names]  # type: ignore[arg-type]


def load_recommender_spec(source: RecommenderSpec | Mapping[str, Any] | str | os.PathLike[str]
                          ) -> RecommenderSpec:
    """Parse a spec from a YAML file, a mapping or a RecommenderSpec; faults name the field."""
    from gapless.stores.specfiles import parse_model, read_yaml

    if isinstance(source, RecommenderSpec):
        return source
    origin = "recommender spec"
    if not isinstance(source, Mapping):
        origin = f"recommender spec {source}"
        source = read_yaml(source, "recommender spec") or {}
        if not isinstance(source, Mapping):
            raise ValidationError(f"{origin}: expected a mapping, got {type(source).__name__}")
    return parse_model(RecommenderSpec, source, origin)

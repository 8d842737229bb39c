"""Interaction tables in, one sparse matrix out; temporal splits; what every recommender
shares (ids, seen items, top k, cold start), on a model scoring by a fixed table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gapless import ValidationError
from gapless.recsys.base import COLD_START, Recommender
from gapless.recsys.evaluate import compare
from gapless.recsys.interactions import load_interactions, temporal_split

EVENTS = pd.DataFrame({
    "user_id": ["u1", "u1", "u2", "u2", "u2", 3, "u1"],
    "item_id": ["a", "b", "a", "c", "c", "b", "a"],
    "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01", "2026-01-03",
                                 "2026-01-05", "2026-01-02", "2026-01-04"]),
    "rating": [5, 3, 4, 2, 4, 1, 5],
})


def test_a_table_becomes_one_matrix_with_sorted_ids_and_summed_weights() -> None:
    found = load_interactions(EVENTS, weight="rating", items=["a", "b", "c", "never"])
    assert found.users.tolist() == ["3", "u1", "u2"] and found.shape == (3, 4)
    assert found.items.tolist() == ["a", "b", "c", "never"]
    dense = found.matrix.toarray()
    assert dense[1].tolist() == [10.0, 3.0, 0.0, 0.0]  # u1 visited a twice: 5 + 5
    assert dense[2].tolist() == [4.0, 0.0, 6.0, 0.0]
    assert load_interactions(EVENTS).matrix.toarray()[1].tolist() == [2.0, 1.0, 0.0]


@pytest.mark.parametrize(("frame", "options", "message"), [
    (EVENTS.iloc[:0], {}, "the table is empty"),
    (EVENTS.drop(columns="item_id"), {}, r"no column\(s\) \['item_id'\]"),
    (EVENTS.assign(user_id=[None, *EVENTS["user_id"][1:]]), {}, "row 0 has no user_id"),
    (EVENTS.assign(rating=[5, 3, -1, 2, 4, 1, 5]), {"weight": "rating"},
     "row 2, column 'rating': -1 is not a number >= 0"),
])
def test_bad_tables_are_named(frame: pd.DataFrame, options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_interactions(frame, **options)


def test_the_temporal_split_holds_out_each_users_last_events() -> None:
    split = temporal_split(EVENTS, holdout=1, min_history=1)
    assert sorted(zip(split.test["user_id"], split.test["item_id"], strict=True)) == [
        ("u1", "a"), ("u2", "c")]  # user 3 has one event: nothing to learn from, kept
    assert len(split.train) + len(split.test) == len(EVENTS)
    latest = split.train.groupby("user_id")["timestamp"].max()
    for user, when in zip(split.test["user_id"], split.test["timestamp"], strict=True):
        assert latest[user] <= when  # never train on what came after a held-out visit
    with pytest.raises(ValidationError, match="nothing to hold out"):
        temporal_split(EVENTS, holdout=5)


class Fixed(Recommender):
    """Scores every item by a fixed vector: the base class does the rest."""

    name = "fixed"

    def _fit(self, interactions: object, items: object) -> None:
        self.weights_ = np.arange(len(self.items_), dtype=float)  # later ids score higher

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.weights_, (len(rows), 1))


def test_the_base_class_masks_seen_items_caps_k_and_says_cold_start() -> None:
    model = Fixed().fit(load_interactions(EVENTS, items=["a", "b", "c", "d"]))
    assert model.recommend("u1", 2).items == ["d", "c"]
    assert model.recommend("u1", 10).items == ["d", "c"]  # a and b seen; k over the rest
    assert model.recommend("u1", 10, exclude_seen=False).items == ["d", "c", "b", "a"]
    assert model.recommend(3, 1).items == ["d"]  # ids as text: 3 is "3"
    cold = model.recommend("stranger", 2)
    assert cold.strategy == COLD_START and cold.items == ["a", "b"]  # most visited first
    many = model.recommend_many(["u2", "stranger", "u1"], 3)
    assert [r.user for r in many] == ["u2", "stranger", "u1"]
    assert many[2] == model.recommend("u1", 3)
    with pytest.raises(ValidationError, match="k must be a whole number"):
        model.recommend("u1", 0)
    with pytest.raises(ValidationError, match="not fitted"):
        Fixed().recommend("u1")


def test_compare_puts_the_baseline_first_and_says_what_each_model_beats() -> None:
    from gapless.recsys.popularity import PopularityRecommender

    split = temporal_split(EVENTS)
    table = compare({"fixed": Fixed(), "popularity": PopularityRecommender()}, split.train,
                    split.test, k=2)
    assert table.index.tolist() == ["popularity", "fixed"]
    assert table.loc["popularity", "beats_baseline"] == "(baseline)"
    assert {"precision@2", "recall@2", "map@2", "mrr", "ndcg@2", "coverage",
            "fit_seconds"} <= set(table.columns)
    with pytest.raises(ValidationError, match="include the 'popularity' baseline"):
        compare({"fixed": Fixed()}, split.train, split.test)


def test_fitted_recommenders_load_through_gaplesss_trusted_types() -> None:
    """What the registry loads: skops with gapless's trusted types only."""
    from gapless.recsys.graph_walk import GraphWalkRecommender
    from gapless.recsys.item_knn import ItemKNNRecommender
    from gapless.recsys.matrix_factorization import ALSRecommender, BPRRecommender
    from gapless.recsys.popularity import PopularityRecommender
    from gapless.training.persist import dumps, loads

    interactions = load_interactions(EVENTS, items=["a", "b", "c", "d"])
    for model in (PopularityRecommender(), ItemKNNRecommender(), ALSRecommender(factors=4),
                  BPRRecommender(factors=4), GraphWalkRecommender(dimensions=2)):
        fitted = model.fit(interactions)
        again = loads(dumps(fitted), what=fitted.name)
        assert again.recommend_many(["u1", "u2", "x"], 3) == \
            fitted.recommend_many(["u1", "u2", "x"], 3)

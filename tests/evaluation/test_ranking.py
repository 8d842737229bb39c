"""Ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from gapless import ValidationError
from gapless.evaluation.ranking import ranking_metrics


def test_each_metric_on_a_worked_example() -> None:
    recommended = {"u1": ["a", "b", "c"], "u2": ["x", "y", "z"], "u3": []}
    relevant = {"u1": {"b", "c", "q"}, "u2": {"x"}, "u3": {"a"}, "u4": set()}
    got = ranking_metrics(recommended, relevant, k=3, catalogue_size=10,
                          popularity={"a": 0.5, "b": 0.2, "x": 0.1})
    # u1: hits at ranks 2 and 3; u2: hit at rank 1; u3: nothing returned, a miss.
    assert got["users"] == 3  # u4 has nothing held out
    assert got["precision@3"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert got["recall@3"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert got["map@3"] == pytest.approx(((1 / 2 + 2 / 3) / 3 + 1 + 0) / 3)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    d = [1 / math.log2(r + 2) for r in range(3)]
    assert got["ndcg@3"] == pytest.approx(((d[1] + d[2]) / sum(d) + 1 + 0) / 3)
    assert got["coverage"] == pytest.approx(6 / 10)
    assert got["mean_popularity"] == pytest.approx((0.5 + 0.2 + 0.1) / 6)
    assert got["catalogue_popularity"] == pytest.approx(0.8 / 10)


def test_a_perfect_ranking_scores_one_and_only_the_top_k_counts() -> None:
    got = ranking_metrics({"u": ["a", "b", "c", "d"]}, {"u": {"a", "b", "c", "d"}}, k=2)
    assert got["precision@2"] == got["map@2"] == got["ndcg@2"] == got["mrr"] == 1.0
    assert got["recall@2"] == 0.5


@pytest.mark.parametrize(("relevant", "k", "message"), [
    ({"u": {"a"}}, 0, "k must be a whole number >= 1"),
    ({"u": set()}, 5, "no user has a relevant"),
])
def test_bad_input_is_named(relevant: dict, k: int, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ranking_metrics({"u": ["a"]}, relevant, k=k)

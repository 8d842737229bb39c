"""Ranking metrics for recommendations: how well each user's top k found what they did next.

Per user, ``recommended`` is the ranked list a model returned and ``relevant`` the items
held out for that user (binary relevance). Each metric is averaged over the users that
have relevant items; a user the model returned nothing for counts as a miss, not as
absent, so a model cannot look better by answering fewer users.

* precision@k: hits in the top k / k;
* recall@k: hits in the top k / relevant items;
* MAP@k: mean over users of the average precision at each hit's rank, divided by
  min(relevant, k) (so a perfect top k scores 1 even when more items are relevant);
* MRR: mean of 1 / rank of the first hit (0 without a hit in the top k);
* NDCG@k: discounted gain 1 / log2(rank + 1) of the hits, over the best possible;
* coverage: distinct items recommended to anyone / catalogue size;
* mean popularity: the average, over every recommended item, of its popularity in
  training (the share of users who had it), next to the catalogue's average: a model
  far above it mostly recommends what everybody already visits (popularity bias).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gapless.core.errors import ValidationError

METRICS = ("precision", "recall", "map", "mrr", "ndcg")


def ranking_metrics(recommended: Mapping[Any, Sequence[Any]],
                    relevant: Mapping[Any, Iterable[Any]], *, k: int,
                    catalogue_size: int | None = None,
                    popularity: Mapping[Any, float] | None = None) -> dict[str, float]:
    """``precision@k``, ``recall@k``, ``map@k``, ``mrr``, ``ndcg@k`` over the users of
    ``relevant``; with ``catalogue_size`` also ``coverage``, with ``popularity`` (item ->
    share of training users) also ``mean_popularity`` and ``catalogue_popularity``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a whole number >= 1, got {k!r}")
    users = [u for u, items in relevant.items() if items]
    if not users:
        raise ValidationError("ranking metrics: no user has a relevant (held-out) item")
    totals = dict.fromkeys(METRICS, 0.0)
    discounts = [1.0 / math.log2(rank + 2) for rank in range(k)]
    for user in users:
        wanted = set(relevant[user])
        top = list(recommended.get(user, ()))[:k]
        hits = 0
        precision_sum = 0.0
        dcg = 0.0
        first = 0.0
        for rank, item in enumerate(top):
            if item in wanted:
                hits += 1
                precision_sum += hits / (rank + 1)
                dcg += discounts[rank]
                if not first:
                    first = 1.0 / (rank + 1)
        ideal = sum(discounts[:min(len(wanted), k)])
        totals["precision"] += hits / k
        totals["recall"] += hits / len(wanted)
        totals["map"] += precision_sum / min(len(wanted), k)
        totals["mrr"] += first
        totals["ndcg"] += dcg / ideal
    n = len(users)
    out = {("mrr" if name == "mrr" else f"{name}@{k}"): value / n
           for name, value in totals.items()}
    out["users"] = float(n)
    shown = [item for user in users for item in list(recommended.get(user, ()))[:k]]
    if catalogue_size:
        out["coverage"] = len(set(shown)) / catalogue_size
    if popularity is not None:
        out["mean_popularity"] = (sum(popularity.get(item, 0.0) for item in shown)
                                  / len(shown)) if shown else 0.0
        out["catalogue_popularity"] = (sum(popularity.values()) / catalogue_size
                                       if catalogue_size else
                                       sum(popularity.values()) / max(len(popularity), 1))
    return out

"""Judge recommenders on a temporal split, side by side with the popularity baseline.

Every model is fitted on the training events (each user's earlier visits) and asked for
its top k for the users with held-out events, seen items excluded; the held-out items
are the relevant ones (:func:`gapless.evaluation.ranking.ranking_metrics`). The table
says, per model, on which metrics it beats the popularity baseline, so a model that
beats it on none says so instead of hiding in the table.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gapless.core.errors import ValidationError
from gapless.evaluation.ranking import ranking_metrics
from gapless.recsys.interactions import load_interactions

BASELINE = "popularity"


def evaluate(model: Any, interactions: Any, test: Any, *, k: int = 10,
             user: str = "user_id", item: str = "item_id") -> dict[str, float]:
    """Ranking metrics of a fitted ``model`` for the users of ``test`` (a DataFrame of
    held-out events); ``interactions``: what it was fitted on (for the popularity and
    catalogue measures)."""
    relevant: dict[str, set[str]] = {}
    for who, what in zip(test[user].astype(str), test[item].astype(str), strict=True):
        relevant.setdefault(who, set()).add(what)
    users = list(relevant)
    answers = model.recommend_many(users, k, exclude_seen=True)
    recommended = {a.user: a.items for a in answers}
    n_users = max(interactions.shape[0], 1)
    counts = (interactions.matrix > 0).sum(axis=0).A1
    popularity = {str(i): float(c) / n_users for i, c in zip(interactions.items, counts,
                                                             strict=True)}
    out = ranking_metrics(recommended, relevant, k=k, catalogue_size=interactions.shape[1],
                          popularity=popularity)
    out["cold_start_users"] = float(sum(a.strategy != "model" for a in answers))
    return out


def compare(models: Mapping[str, Any], train: Any, test: Any, *, items: Any = None,
            k: int = 10, user: str = "user_id", item: str = "item_id",
            weight: str | None = None) -> Any:
    """Fit each model on ``train`` and evaluate it on ``test``: one row per model (the
    baseline first), the metrics, fit seconds, and ``beats_baseline`` (the metrics on
    which it is higher than ``models["popularity"]``)."""
    import pandas as pd

    if BASELINE not in models:
        raise ValidationError(f"compare: include the {BASELINE!r} baseline, so every model is "
                              "judged against it")
    catalogue = items["item_id"].tolist() if items is not None else None
    interactions = load_interactions(train, user=user, item=item, weight=weight,
                                     items=catalogue, what="training events")
    rows = []
    for name in [BASELINE, *[n for n in models if n != BASELINE]]:
        started = time.perf_counter()
        fitted = models[name].fit(interactions, items)
        seconds = time.perf_counter() - started
        rows.append({"model": name, **evaluate(fitted, interactions, test, k=k, user=user,
                                               item=item), "fit_seconds": seconds})
    table = pd.DataFrame(rows).set_index("model")
    ranked = [c for c in table.columns if c.split("@")[0] in ("precision", "recall", "map",
                                                               "mrr", "ndcg")]
    base = table.loc[BASELINE]
    table["beats_baseline"] = [
        ", ".join(c for c in ranked if table.loc[name, c] > base[c]) or "none"
        for name in table.index]
    table.loc[BASELINE, "beats_baseline"] = "(baseline)"
    return table

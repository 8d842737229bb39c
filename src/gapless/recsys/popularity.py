"""The heuristic baseline: every user gets the items most users have touched.

Scores are the number of distinct users per item, divided by the largest such count (the
same numbers :attr:`Recommender.popularity_` holds), so every user sees the same ranking
less the items they already have. Any model worth keeping must beat this one.
"""

from __future__ import annotations

from typing import Any

from gapless.recsys.base import Recommender


class PopularityRecommender(Recommender):
    """Items ranked by how many distinct users interacted with them; the same for all."""

    name = "popularity"

    def _fit(self, interactions: Any, items: Any) -> None:
        import numpy as np

        self.scores_ = np.asarray(self.popularity_, dtype=np.float64).copy()

    def _scores(self, rows: Any) -> Any:
        import numpy as np

        # a fresh array per block: the base class writes -inf over the seen items in place
        return np.tile(self.scores_, (len(rows), 1))

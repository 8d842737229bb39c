"""What every recommender shares: fit on interactions, score users, take the top k.

A model implements two things: :meth:`Recommender._fit` (learn from an
:class:`~gapless.recsys.interactions.Interactions`, and optionally the item attributes)
and :meth:`Recommender._scores` (a dense score per catalogue item for a block of known
users). Everything else is here and the same for all: ids in and out, the seen items
masked, the top k taken with ``argpartition`` over the whole block (no Python loop over
items), and unknown users answered by the popularity ranking with that said in the
answer (``strategy``). Models keep only arrays, sparse matrices and plain values, so
they save as skops files like every other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gapless.core.errors import ValidationError

MODEL = "model"
COLD_START = "popularity (unknown user)"
PRIOR_FLOOR = 1e-3  # the popularity a never-visited item counts with in log priors
DEFAULT_K = 10  # items per answer when the request names no k
BLOCK_USERS = 512  # users scored at once: a dense block of BLOCK_USERS x items floats


@dataclass(frozen=True)
class Recommendation:
    """The top items for one user, best first, and how they were chosen."""

    user: str
    items: list[str]
    scores: list[float]
    strategy: str = MODEL  # MODEL, or why another ranking answered (COLD_START, ...)
    extra: dict[str, Any] = field(default_factory=dict)


class Recommender:
    """Base class: subclasses set ``name`` and implement ``_fit`` and ``_scores``."""

    name = "recommender"

    def fit(self, interactions: Any, items: Any = None) -> Recommender:
        """Learn from ``interactions``; ``items``: the catalogue's attributes (a DataFrame
        with an ``item_id`` column), which content models need and others ignore."""
        import numpy as np

        if interactions.nnz == 0:
            raise ValidationError(f"{self.name}: the interactions are empty; nothing to learn")
        self.users_ = np.asarray(interactions.users, dtype=object)
        self.items_ = np.asarray(interactions.items, dtype=object)
        self.user_rows_ = {str(u): i for i, u in enumerate(self.users_)}
        self.seen_ = interactions.matrix.tocsr()
        popularity = np.asarray((self.seen_ > 0).sum(axis=0), dtype=float).ravel()
        self.popularity_ = popularity / max(popularity.max(), 1.0)
        self._fit(interactions, items)
        return self

    def recommend(self, user: Any, k: int = 10, *, exclude_seen: bool = True) -> Recommendation:
        """The top ``k`` items for ``user`` (all items when ``k`` exceeds the catalogue)."""
        return self.recommend_many([user], k, exclude_seen=exclude_seen)[0]

    def recommend_many(self, users: Sequence[Any], k: int = 10, *,
                       exclude_seen: bool = True) -> list[Recommendation]:
        """:meth:`recommend` for many users, scored in blocks of known users."""
        import numpy as np

        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValidationError(f"k must be a whole number >= 1, got {k!r}")
        k = min(k, len(self.items_))
        ids = [str(u) for u in users]
        rows = [self.user_rows_.get(u) for u in ids]
        out: list[Recommendation | None] = [None] * len(ids)
        known = [i for i, row in enumerate(rows) if row is not None]
        for start in range(0, len(known), BLOCK_USERS):
            block = known[start:start + BLOCK_USERS]
            block_rows = np.asarray([rows[i] for i in block], dtype=np.int64)
            scores = np.asarray(self._scores(block_rows), dtype=float)
            if exclude_seen:
                seen = self.seen_[block_rows]
                scores[seen.nonzero()] = -np.inf
            for index, columns, values in zip(block, *_top_k(scores, k), strict=True):
                out[index] = Recommendation(ids[index], self._decode(columns), values)
        cold = [i for i, row in enumerate(rows) if row is None]
        if cold:
            (columns,), (values,) = _top_k(np.asarray(self._fallback_scores())[None, :], k)
            for index in cold:
                out[index] = Recommendation(ids[index], self._decode(columns), values,
                                            COLD_START)
        return [r for r in out if r is not None]

    def predict(self, X: Any) -> Any:
        """What serving calls: one answer per row of ``X`` (a frame with ``user_id`` and,
        optionally, ``k``; default ``default_k_``, set when the model was trained), each a
        mapping of ``items``, ``scores`` and ``strategy``, seen items excluded."""
        import numpy as np
        import pandas as pd

        if "user_id" not in X.columns:
            raise ValidationError(f"{self.name}: the rows have no user_id column")
        default = int(getattr(self, "default_k_", DEFAULT_K))
        ks = (pd.to_numeric(X["k"], errors="coerce").fillna(default).astype(int).to_numpy()
              if "k" in X.columns else np.full(len(X), default))
        if (ks < 1).any():
            row = int((ks < 1).argmax())
            raise ValidationError(f"row {row}: k must be >= 1, got {int(ks[row])}")
        users = X["user_id"].astype(str).to_numpy()
        out = np.empty(len(X), dtype=object)
        for k in np.unique(ks):
            rows = np.flatnonzero(ks == k)
            for row, answer in zip(rows, self.recommend_many(users[rows].tolist(), int(k)),
                                   strict=True):
                out[row] = {"items": answer.items, "scores": answer.scores,
                            "strategy": answer.strategy}
        return out

    def _fallback_scores(self) -> Any:
        return self.popularity_

    def _log_popularity(self) -> Any:
        """Each item's log popularity (never-visited items floored at PRIOR_FLOOR), for
        models whose affinity ignores how common an item is: adding it, weighted, turns
        "how specific to this user" into "how likely for this user"."""
        import numpy as np

        return np.log(self.popularity_ + PRIOR_FLOOR)[None, :]

    def _check_fitted(self) -> None:
        if not hasattr(self, "items_"):
            raise ValidationError(f"{self.name} is not fitted; call fit(interactions) first")

    # -- what a model implements -----------------------------------------------------------
    def _fit(self, interactions: Any, items: Any) -> None:
        raise NotImplementedError

    def _scores(self, rows: Any) -> Any:
        """Scores of every item for the users at ``rows`` (an int array): a new array of
        shape (len(rows), items), higher is better (the caller masks seen items in it)."""
        raise NotImplementedError

    def _decode(self, columns: Any) -> list[str]:
        return [str(self.items_[c]) for c in columns]


def _top_k(scores: Any, k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Column indices and values of each row's ``k`` best finite scores, best first."""
    import numpy as np

    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(scores, part, axis=1)
    # Best first; equal scores in catalogue order, whatever argpartition left them in.
    order = np.lexsort((part, -picked), axis=1)
    columns = np.take_along_axis(part, order, axis=1)
    values = np.take_along_axis(picked, order, axis=1)
    index_lists, value_lists = [], []
    for row_columns, row_values in zip(columns, values, strict=True):
        finite = np.isfinite(row_values)
        index_lists.append(row_columns[finite].tolist())
        value_lists.append(row_values[finite].tolist())
    return index_lists, value_lists

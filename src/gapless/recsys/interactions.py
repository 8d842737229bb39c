"""User-item interactions as the recommenders take them: one sparse matrix and its ids.

Any interaction table loads: a user column, an item column, and optionally a timestamp
and a rating or weight (default 1 per event). Ids are kept as text (``42`` and ``"42"``
are one user), repeated (user, item) pairs add up their weights, and the rows and
columns of the matrix follow the sorted ids, so the same table always gives the same
matrix. The temporal split holds out each user's last visits, so a model is judged on
what its users did next, never on the past.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import ValidationError


@dataclass(frozen=True)
class Interactions:
    """Users x items, each cell the summed weight of that user's events on that item."""

    matrix: Any  # scipy.sparse.csr_matrix, float64, users x items
    users: Any  # numpy array of user ids (str), one per row
    items: Any  # numpy array of item ids (str), one per column

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.matrix.shape[0]), int(self.matrix.shape[1])

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def user_index(self) -> dict[str, int]:
        return {str(user): row for row, user in enumerate(self.users)}

    def item_index(self) -> dict[str, int]:
        return {str(item): column for column, item in enumerate(self.items)}


def load_interactions(frame: Any, *, user: str = "user_id", item: str = "item_id",
                      weight: str | None = None, items: Sequence[Any] | None = None,
                      what: str = "interactions") -> Interactions:
    """The :class:`Interactions` of ``frame`` (a DataFrame with ``user`` and ``item``
    columns, and ``weight`` when given). ``items``: the whole catalogue, so items nobody
    has touched yet get a column too (content models can still recommend them).

    Raises ValidationError naming the column and row for an empty table, a missing
    column, a missing id, or a weight that is not a finite number >= 0."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    needed = [user, item, *([weight] if weight else [])]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(f"{what}: no column(s) {missing}; it has "
                              f"{list(map(str, frame.columns))[:20]}")
    if len(frame) == 0:
        raise ValidationError(f"{what}: the table is empty; a recommender needs at least one "
                              "user-item event")
    for column in (user, item):
        absent = frame[column].isna().to_numpy()
        if absent.any():
            raise ValidationError(f"{what}: row {int(absent.argmax())} has no {column}")
    if weight:
        values = pd.to_numeric(frame[weight], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = int(bad.argmax())
            cell = frame[weight].iloc[row]
            cell = cell.item() if hasattr(cell, "item") else cell
            raise ValidationError(f"{what}: row {row}, column {weight!r}: {cell!r} is not a "
                                  "number >= 0")
    else:
        values = np.ones(len(frame))
    user_ids = frame[user].astype(str).to_numpy()
    item_ids = frame[item].astype(str).to_numpy()
    catalogue = np.unique(np.concatenate([item_ids, np.asarray([str(i) for i in items],
                                                                dtype=object)])
                          if items is not None else item_ids).astype(object)
    users = np.unique(user_ids).astype(object)
    rows = np.searchsorted(users, user_ids)
    columns = np.searchsorted(catalogue, item_ids)
    matrix = sparse.csr_matrix((values, (rows, columns)), shape=(len(users), len(catalogue)),
                               dtype=np.float64)
    matrix.sum_duplicates()
    return Interactions(matrix, users, catalogue)


@dataclass(frozen=True)
class TemporalSplit:
    train: Any  # DataFrame: every user's earlier events
    test: Any  # DataFrame: each user's last ``holdout`` events (users with enough history)


def temporal_split(frame: Any, *, user: str = "user_id", timestamp: str = "timestamp",
                   holdout: int = 1, min_history: int = 1) -> TemporalSplit:
    """Hold out each user's last ``holdout`` events (by ``timestamp``; ties by row order)
    for users with at least ``min_history`` earlier events; everything else trains."""
    if holdout < 1 or min_history < 0:
        raise ValidationError("temporal split: holdout must be >= 1 and min_history >= 0")
    for column in (user, timestamp):
        if column not in frame.columns:
            raise ValidationError(f"temporal split: no column {column!r}; it has "
                                  f"{list(map(str, frame.columns))[:20]}")
    ordered = frame.reset_index(drop=True)
    ordered = ordered.assign(_order=range(len(ordered))).sort_values(
        [timestamp, "_order"], kind="stable")
    from_end = ordered.groupby(user, sort=False).cumcount(ascending=False)
    sizes = ordered.groupby(user, sort=False)[user].transform("size")
    held = (from_end < holdout) & (sizes >= holdout + min_history)
    train = ordered.loc[~held].sort_values("_order").drop(columns="_order")
    test = ordered.loc[held].sort_values("_order").drop(columns="_order")
    if len(test) == 0:
        raise ValidationError(f"temporal split: no user has more than {min_history} events "
                              f"before their last {holdout}; nothing to hold out")
    return TemporalSplit(train.reset_index(drop=True), test.reset_index(drop=True))

"""Item-based nearest neighbours: items scored by their similarity to what a user has.

The similarity of items ``i`` and ``j`` is the shrunk cosine of their columns in the
user-item matrix, ``dot(i, j) / (|i| |j| + shrink)`` (``shrink`` pulls similarities that
rest on few shared users towards 0). Each target item ``j`` keeps only its ``neighbours``
most similar items (ties: the lower column first), which makes the similarity matrix
``S`` sparse, and a user's score for ``j`` is ``user_row @ S[:, j]``: the summed
similarity of ``j`` to the items the user has, counting only ``j``'s neighbours.

``S`` is computed in blocks of target items sized so that no block's co-occurrence
matrix exceeds a fixed number of entries, and each block is pruned before the next is
computed; nothing dense of size items x items is ever built.
"""

from __future__ import annotations

from typing import Any

from gapless.core.errors import ValidationError
from gapless.recsys.base import Recommender

BLOCK_ENTRIES = 4_000_000  # at most about this many co-occurrence entries per block


class ItemKNNRecommender(Recommender):
    """Item-item shrunk cosine kNN.

    ``neighbours``: similar items kept per target item; ``shrink``: added to the cosine's
    denominator; ``binary``: treat every interaction as 1 (otherwise the summed weights
    are used both for the similarity and for the users' rows)."""

    name = "item_knn"

    def __init__(self, neighbours: int = 50, shrink: float = 10.0, binary: bool = True) -> None:
        self.neighbours = neighbours
        self.shrink = shrink
        self.binary = binary

    def _fit(self, interactions: Any, items: Any) -> None:
        import numpy as np

        if isinstance(self.neighbours, bool) \
                or not isinstance(self.neighbours, (int, np.integer)) or self.neighbours < 1:
            raise ValidationError(f"{self.name}: neighbours must be a whole number >= 1, "
                                  f"got {self.neighbours!r}")
        if not float(self.shrink) >= 0:
            raise ValidationError(f"{self.name}: shrink must be a number >= 0, "
                                  f"got {self.shrink!r}")
        self.similarity_ = item_similarity(self._user_matrix(), neighbours=int(self.neighbours),
                                           shrink=float(self.shrink))

    def _user_matrix(self, rows: Any = None) -> Any:
        import numpy as np

        matrix = self.seen_ if rows is None else self.seen_[rows]
        if self.binary:
            matrix = (matrix > 0).astype(np.float64)
        return matrix.tocsr()

    def _scores(self, rows: Any) -> Any:
        import numpy as np

        return np.asarray((self._user_matrix(rows) @ self.similarity_).toarray(),
                          dtype=np.float64)


def item_similarity(matrix: Any, *, neighbours: int, shrink: float,
                    block_entries: int = BLOCK_ENTRIES) -> Any:
    """The pruned item-item similarity of ``matrix`` (users x items, CSR): a CSR matrix
    ``S`` (items x items) whose column ``j`` holds the ``neighbours`` largest shrunk
    cosines ``dot(i, j) / (|i| |j| + shrink)`` over the items ``i != j`` (only positive
    dot products are stored; ties keep the lower ``i``)."""
    import numpy as np
    from scipy import sparse

    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    n_items = matrix.shape[1]
    by_item = matrix.T.tocsr()  # items x users
    norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1)).ravel())
    # an upper bound on each item's co-occurring items, to size the blocks
    user_degree = np.diff(matrix.indptr).astype(np.float64)
    bound = np.minimum(by_item.astype(bool).astype(np.float64) @ user_degree, n_items)
    ends = _block_ends(bound, block_entries)

    rows_out, columns_out, values_out = [], [], []
    start = 0
    for end in ends:
        product = (by_item[start:end] @ matrix).tocsr()  # targets in block x items
        product.sum_duplicates()
        counts = np.diff(product.indptr)
        target = np.repeat(np.arange(start, end, dtype=np.int64), counts)
        other = product.indices.astype(np.int64)
        dots = product.data
        keep = (other != target) & (dots > 0)
        target, other, dots = target[keep], other[keep], dots[keep]
        sims = dots / (norms[target] * norms[other] + shrink)
        # best first within each target; ties: the lower column
        order = np.lexsort((other, -sims, target))
        target, other, sims = target[order], other[order], sims[order]
        first = np.searchsorted(target, np.arange(start, end, dtype=np.int64))
        rank = np.arange(len(target)) - first[target - start]
        top = rank < neighbours
        rows_out.append(other[top])
        columns_out.append(target[top])
        values_out.append(sims[top])
        start = end
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, dtype=np.int64)
    columns = np.concatenate(columns_out) if columns_out else np.zeros(0, dtype=np.int64)
    values = np.concatenate(values_out) if values_out else np.zeros(0)
    return sparse.csr_matrix((values, (rows, columns)), shape=(n_items, n_items),
                             dtype=np.float64)


def _block_ends(bound: Any, block_entries: int) -> list[int]:
    """End offsets of consecutive item blocks whose summed ``bound`` stays under
    ``block_entries`` (every block holds at least one item)."""
    import numpy as np

    n = len(bound)
    if n == 0:
        return []
    total = np.cumsum(bound)
    ends, start = [], 0
    while start < n:
        base = total[start - 1] if start else 0.0
        end = int(np.searchsorted(total, base + block_entries, side="right"))
        end = min(max(end, start + 1), n)
        ends.append(end)
        start = end
    return ends

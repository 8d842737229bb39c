"""Shared binning: reference-quantile bins for numbers, the union of labels for categories."""

from __future__ import annotations

import numpy as np

from gapless.core.errors import ValidationError
from gapless.monitoring.stattests._columns import CategoricalColumn, NumericColumn

BINS = 10


def quantile_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges at the ``k/bins`` quantiles (k = 1 .. bins-1) of the sorted
    ``reference``, taken as the value at position ``k*n // bins``, duplicates collapsed.

    The outer bins are open: bin 0 holds values below the first edge, bin ``i`` values in
    ``[edge[i-1], edge[i])``, the last bin values at or above the last edge (the same
    convention as :func:`gapless.serving.guardrails.psi`).
    """
    n = reference.size
    return np.unique(reference[(np.arange(1, bins) * n) // bins])


def binned_counts(reference: NumericColumn, current: NumericColumn,
                  bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts of reference and current values in the reference-quantile bins.

    Both arrays are sorted, so each bin's count is a difference of two positions found by
    binary search: O(bins * log n), no pass over the values.
    """
    edges = quantile_edges(reference.values, bins)

    def counts(values: np.ndarray) -> np.ndarray:
        below = np.searchsorted(values, edges, side="left")  # values < each edge
        return np.diff(np.concatenate(([0], below, [values.size]))).astype(np.int64)

    return counts(reference.values), counts(current.values)


def aligned_counts(reference: CategoricalColumn,
                   current: CategoricalColumn) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both columns over every category seen on either side (sorted)."""
    union = np.union1d(reference.categories, current.categories)

    def counts(column: CategoricalColumn) -> np.ndarray:
        out = np.zeros(union.size, dtype=np.int64)
        out[np.searchsorted(union, column.categories)] = column.counts
        return out

    return counts(reference), counts(current)


def counts_of(reference: NumericColumn | CategoricalColumn,
              current: NumericColumn | CategoricalColumn) -> tuple[np.ndarray, np.ndarray]:
    """Aligned bin counts of two columns of one kind: quantile bins or categories."""
    if isinstance(reference, NumericColumn) and isinstance(current, NumericColumn):
        return binned_counts(reference, current)
    if isinstance(reference, CategoricalColumn) and isinstance(current, CategoricalColumn):
        return aligned_counts(reference, current)
    raise ValidationError(f"cannot bin a {type(reference).__name__} against a "
                          f"{type(current).__name__}; compare like with like")

"""Two sorted samples merged once, for every statistic read from their two CDFs.

KS's D (the largest gap between the empirical CDFs) and Wasserstein's W1 (the gap's
integral) both walk the merged sample. Merging two sorted runs with NumPy's stable
argsort (timsort finds the two runs and merges them in linear time) costs about as
much as one pass, far less than binary-searching each sample into the other; the last
merge is kept per thread, so the second statistic of a column pair reuses it.
"""

from __future__ import annotations

import threading

import numpy as np

_LAST = threading.local()


def cdf_gaps(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, gaps)``: the merged sorted values (ties: reference first) and, at each
    merged position, ``F_ref - F_cur`` of the values up to and including it. Within a run
    of tied values only the run's last position holds the true CDF gap."""
    last = getattr(_LAST, "pair", None)
    if last is not None and last[0] is reference and last[1] is current:
        return last[2]
    both = np.concatenate([reference, current])
    order = np.argsort(both, kind="stable")
    from_ref = order < reference.size
    seen_ref = np.cumsum(from_ref)
    seen = np.arange(1, both.size + 1)
    gaps = seen_ref / reference.size - (seen - seen_ref) / current.size
    result = (both[order], gaps)
    _LAST.pair = (reference, current, result)
    return result


def forget() -> None:
    """Drop this thread's cached merge (its arrays are the size of both samples)."""
    _LAST.pair = None

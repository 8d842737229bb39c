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
    values = both[order]
    del both  # each array freed as soon as it is read: a merge holds about 3 columns' worth
    from_ref = order < reference.size
    del order
    # F_ref - F_cur = seen_ref / n1 - seen_cur / n2 after each value, computed in place.
    gaps = np.cumsum(from_ref, dtype=np.float64)
    del from_ref
    seen_cur = np.arange(1, values.size + 1, dtype=np.float64)
    seen_cur -= gaps
    gaps /= reference.size
    seen_cur /= current.size
    gaps -= seen_cur
    del seen_cur
    result = (values, gaps)
    _LAST.pair = (reference, current, result)
    return result


def forget() -> None:
    """Drop this thread's cached merge (its arrays are the size of both samples)."""
    _LAST.pair = None

"""``jensen_shannon``: the Jensen-Shannon distance (a distance, 0.1; numbers and categories).

``scipy.spatial.distance.jensenshannon`` of the reference and current share vectors, natural
log (as Evidently uses it), so it lies in [0, sqrt(ln 2)] ~ [0, 0.833]. Numbers go through
the same 10 reference-quantile bins as ``psi``; categories get one bin each, over the labels
seen on either side. Empty bins need no floor here: JS is finite with zero shares. Like
``psi`` it cannot see a move that stays inside one bin (see there).
"""

from __future__ import annotations

import numpy as np

from gapless.monitoring.stattests._base import Column, StatTest, require_values
from gapless.monitoring.stattests._binning import counts_of


def distance(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """JS distance of two aligned count vectors; scipy's formula, clamped at 0 so rounding
    on near-equal shares gives 0 rather than the square root of a tiny negative (NaN)."""
    from scipy.special import rel_entr

    p = reference_counts / reference_counts.sum()
    q = current_counts / current_counts.sum()
    m = (p + q) / 2.0
    js = (float(np.sum(rel_entr(p, m))) + float(np.sum(rel_entr(q, m)))) / 2.0
    return float(np.sqrt(max(js, 0.0)))


def compute(reference: Column, current: Column) -> tuple[float, None]:
    """``(JS distance, None)`` of ``current`` against ``reference``."""
    require_values("jensen_shannon", reference, current)
    return distance(*counts_of(reference, current)), None


TEST = StatTest(name="jensen_shannon", kind="distance",
                applies_to=frozenset({"numeric", "categorical"}), default_threshold=0.1,
                compute=compute)

"""``psi``: the population stability index (a distance, 0.1; numbers and categories).

``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`` over bins ``i``, where ``r_i`` and ``c_i`` are
the reference and current shares in bin ``i``, an empty bin's share floored at
``PSI_EPSILON`` (1e-4) so the log stays finite. Numbers fall into 10 bins at reference
quantiles (outer bins open); categories get one bin each, over the labels seen on either
side. The same convention as :func:`gapless.serving.guardrails.psi`. Usual reading:
< 0.1 stable, 0.1-0.25 shifted, > 0.25 a different population.

Binned measures cannot see a move that stays inside one bin: a constant reference has the
bins ``(-inf, v)`` and ``[v, inf)``, so a current column moved from ``v`` to ``v + 1`` scores
0 (``ks`` and ``wasserstein`` see it).
"""

from __future__ import annotations

import numpy as np

from gapless.monitoring.stattests._base import Column, StatTest, require_values
from gapless.monitoring.stattests._binning import counts_of

PSI_EPSILON = 1e-4  # the share given to an empty bin (as in serving.guardrails)


def index(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """PSI of two aligned count vectors (each with a positive total)."""
    r = np.maximum(reference_counts / reference_counts.sum(), PSI_EPSILON)
    c = np.maximum(current_counts / current_counts.sum(), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def compute(reference: Column, current: Column) -> tuple[float, None]:
    """``(PSI, None)`` of ``current`` against ``reference``."""
    require_values("psi", reference, current)
    return index(*counts_of(reference, current)), None


TEST = StatTest(name="psi", kind="distance", applies_to=frozenset({"numeric", "categorical"}),
                default_threshold=0.1, compute=compute)

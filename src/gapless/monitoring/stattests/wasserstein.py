"""``wasserstein``: the normalized Wasserstein-1 distance on numbers (a distance, 0.1).

``W1(reference, current) / std(reference)``, Evidently's ``wasserstein_distance_norm``: how
far, in reference standard deviations, the current distribution's mass has to move to
become the reference's. 0.1 is a tenth of a standard deviation. W1 is the integral of
``|F_ref - F_cur|``, read from the two sorted arrays merged once (``_merge.cdf_gaps``,
shared with ``ks``), equal to ``scipy.stats.wasserstein_distance`` within rounding.

A constant reference (standard deviation 0, or below 1e-12 of its mean's magnitude, which
is rounding noise) has no spread to measure in, so W1 is divided by the magnitude of the
reference value instead (0.1 then reads as a 10% move), or by 1 when that value is 0.
An unchanged column still gives exactly 0, and the result is never inf or NaN.
"""

from __future__ import annotations

import numpy as np

from gapless.monitoring.stattests._base import StatTest, require_values
from gapless.monitoring.stattests._columns import NumericColumn
from gapless.monitoring.stattests._merge import cdf_gaps

CONSTANT_RELATIVE_STD = 1e-12


def distance(reference: np.ndarray, current: np.ndarray) -> float:
    """W1 of two sorted samples: sum over merged gaps of gap width * |F_ref - F_cur|.

    Within a run of ties the running counts are not yet the CDFs, but those gaps have
    width 0, so they add nothing; elsewhere the running counts are exactly the CDFs.
    """
    values, gaps = cdf_gaps(reference, current)
    return float(np.dot(np.abs(gaps[:-1]), np.diff(values)))


def scale(reference: np.ndarray) -> float:
    """The divisor: the reference's standard deviation, or for a constant reference the
    magnitude of its value (1 when that is 0)."""
    std = float(np.std(reference))
    mean = float(np.mean(reference))
    if std > CONSTANT_RELATIVE_STD * abs(mean):
        return std
    return abs(mean) if mean != 0 else 1.0


def compute(reference: NumericColumn, current: NumericColumn) -> tuple[float, None]:
    """``(W1 / scale(reference), None)``."""
    require_values("wasserstein", reference, current)
    return distance(reference.values, current.values) / scale(reference.values), None


TEST = StatTest(name="wasserstein", kind="distance", applies_to=frozenset({"numeric"}),
                default_threshold=0.1, compute=compute)

"""``chi2``: Pearson's chi-squared test of homogeneity on categories (a p-value test, 0.05).

The 2 x k table of counts (reference row, current row; one column per category seen on
either side) goes to ``scipy.stats.chi2_contingency`` with its defaults (Yates' continuity
correction when the table is 2 x 2). A single category in all leaves nothing to compare:
statistic 0, p-value 1.
"""

from __future__ import annotations

import numpy as np

from gapless.monitoring.stattests._base import StatTest, require_values
from gapless.monitoring.stattests._binning import aligned_counts
from gapless.monitoring.stattests._columns import CategoricalColumn


def compute(reference: CategoricalColumn, current: CategoricalColumn) -> tuple[float, float]:
    """``(chi-squared statistic, p-value)`` of the reference-vs-current table."""
    require_values("chi2", reference, current)
    table = np.vstack(aligned_counts(reference, current))
    if table.shape[1] < 2:
        return 0.0, 1.0
    from scipy.stats import chi2_contingency

    result = chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


TEST = StatTest(name="chi2", kind="p_value", applies_to=frozenset({"categorical"}),
                default_threshold=0.05, compute=compute)

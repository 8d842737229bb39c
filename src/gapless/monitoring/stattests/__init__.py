"""Statistical tests for drift, one module per test, registered by name.

Pure functions on NumPy arrays, no I/O. A column is prepared once (:func:`prepare_numeric`
sorts the finite values, :func:`prepare_categorical` counts the labels) and every test
reads the prepared form::

    ref, cur = prepare_numeric(reference_values), prepare_numeric(current_values)
    result = run("ks", ref, cur)            # TestResult(test, statistic, p_value, ...)

========================  =========  ========================  =========
test                      kind       columns                   threshold
========================  =========  ========================  =========
``ks``                    p_value    numeric                   0.05
``chi2``                  p_value    categorical               0.05
``psi``                   distance   numeric, categorical      0.1
``wasserstein`` (normed)  distance   numeric                   0.1
``jensen_shannon``        distance   numeric, categorical      0.1
========================  =========  ========================  =========

A p-value test drifts when p < threshold, a distance when the statistic >= threshold.
More tests plug in with :func:`register`. Every test refuses an empty side with a
:class:`~gapless.core.errors.ValidationError`, and :func:`run` never returns NaN or inf.
"""

from __future__ import annotations

from gapless.monitoring.stattests import chi2, jensen_shannon, ks, psi, wasserstein
from gapless.monitoring.stattests._base import (
    StatTest,
    TestResult,
    get,
    names,
    register,
    run,
)
from gapless.monitoring.stattests._columns import (
    CategoricalColumn,
    NumericColumn,
    prepare_categorical,
    prepare_numeric,
)
from gapless.monitoring.stattests._fdr import benjamini_hochberg

for _module in (chi2, jensen_shannon, ks, psi, wasserstein):
    register(_module.TEST)
del _module

__all__ = [
    "CategoricalColumn",
    "NumericColumn",
    "StatTest",
    "TestResult",
    "benjamini_hochberg",
    "get",
    "names",
    "prepare_categorical",
    "prepare_numeric",
    "register",
    "run",
]

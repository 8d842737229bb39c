"""Benjamini-Hochberg adjustment of many p-values (false discovery rate)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gapless.core.errors import ValidationError


def benjamini_hochberg(p_values: Iterable[float | None]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, in the order given.

    Equal to ``scipy.stats.false_discovery_control(p, method="bh")`` over the p-values that
    are present; None and NaN entries are left out of the count and come back as NaN. An
    adjusted p-value is never below its raw one; compare it with the same threshold to
    keep the expected share of false alarms among the flagged columns at that level.
    """
    raw = [np.nan if p is None else p for p in p_values]
    try:
        ps = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"benjamini_hochberg: expected numbers in [0, 1] (None where "
                              f"absent), got {raw!r}") from exc
    if ps.ndim != 1:
        raise ValidationError(f"benjamini_hochberg: expected a flat list, got shape "
                              f"{ps.shape}")
    present = ~np.isnan(ps)
    bad = ps[present & ((ps < 0) | (ps > 1))]
    if bad.size:
        raise ValidationError(f"benjamini_hochberg: p-values must lie in [0, 1], got "
                              f"{bad[:5].tolist()}")
    out = np.full(ps.shape, np.nan)
    valid = ps[present]
    m = valid.size
    if m <= 1:
        out[present] = valid
        return out
    order = np.argsort(valid)
    adjusted = valid[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    np.minimum.accumulate(adjusted[::-1], out=adjusted[::-1])
    result = np.empty(m)
    result[order] = np.clip(adjusted, 0.0, 1.0)
    out[present] = result
    return out

"""Relations between columns of a profile: correlations, target association, PCA.

These run on a seeded sample held in memory as NumPy arrays (numeric columns as float64
with NaN for missing, categorical columns as integer codes with -1 for missing), so
their cost does not grow with the size of the source. Every measure uses, for each pair
of columns, the rows where both are present (pairwise deletion, as pandas does), and is
vectorised: Pearson over all pairs is three matrix products, Spearman re-ranks a column
only for the pairs whose missing rows differ, contingency tables are one ``bincount``.

Measures, named in the profile so readers know what a number means:

* ``pearson``: Pearson's r between two numeric columns.
* ``spearman``: Spearman's rho (Pearson's r of average ranks, ranked within each pair).
* ``cramers_v``: Cramér's V with Bergsma's (2013) bias correction between two
  categorical columns, 0 (independent) to 1 (each determines the other).
* ``correlation_ratio``: eta, the square root of the share of a numeric column's variance
  explained by a categorical column's groups, 0 to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MEASURES = {
    "pearson": "Pearson's r (linear correlation), -1 to 1",
    "spearman": "Spearman's rho (rank correlation), -1 to 1",
    "cramers_v": "Cramér's V, bias-corrected (Bergsma 2013), 0 to 1",
    "correlation_ratio": "correlation ratio eta (variance explained by groups), 0 to 1",
}
# Fewer rows than this in a pair leave its measure undefined (null).
MIN_PAIR_ROWS = 3


def pearson_matrix(x: np.ndarray) -> np.ndarray:
    """Pairwise-complete Pearson correlations of the columns of ``x`` (NaN = missing)."""
    present = np.isfinite(x)
    counts = np.maximum(present.sum(axis=0), 1)
    means = np.where(present, x, 0.0).sum(axis=0) / counts
    centred = np.where(present, x - means, 0.0)
    mask = present.astype(np.float64)
    n = mask.T @ mask
    sums = centred.T @ mask  # sums[i, j]: sum of column i over the rows where j is present
    squares = (centred * centred).T @ mask
    products = centred.T @ centred
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = products - sums * sums.T / n
        var_i = squares - sums * sums / n
        r = cov / np.sqrt(var_i * var_i.T)
    r[(n < MIN_PAIR_ROWS) | ~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def spearman_matrix(x: np.ndarray) -> np.ndarray:
    """Pairwise-complete Spearman correlations, ranking each pair's common rows exactly."""
    present = np.isfinite(x)
    orders = [np.argsort(x[:, j], kind="stable") for j in range(x.shape[1])]
    ranks = np.column_stack(
        [_ranks(x[:, j], orders[j], present[:, j]) for j in range(x.shape[1])]
    ) if x.shape[1] else x
    result = pearson_matrix(ranks)
    counts = present.sum(axis=0)
    for i in range(x.shape[1]):
        for j in range(i + 1, x.shape[1]):
            both = present[:, i] & present[:, j]
            n = int(both.sum())
            if n == counts[i] and n == counts[j]:
                continue
            rho = np.nan
            if n >= MIN_PAIR_ROWS:
                a = _ranks(x[:, i], orders[i], both)[both]
                b = _ranks(x[:, j], orders[j], both)[both]
                rho = _pearson(a, b)
            result[i, j] = result[j, i] = rho
    return result


def _ranks(values: np.ndarray, order: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Average (1-based) ranks of ``values[keep]`` in O(n), given the full sort ``order``."""
    rows = order[keep[order]]
    sorted_values = values[rows]
    m = len(rows)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) if m else rows
    ends = np.r_[starts[1:], m]
    out = np.full(len(values), np.nan)
    out[rows] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float(np.clip((a * b).sum() / denominator, -1, 1)) if denominator > 0 else np.nan


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected Cramér's V of two code arrays (-1 = missing); NaN when undefined."""
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    n = len(a)
    if n < MIN_PAIR_ROWS:
        return np.nan
    levels_b = int(b.max()) + 1
    table = np.bincount(a * levels_b + b, minlength=(int(a.max()) + 1) * levels_b)
    table = table.reshape(-1, levels_b).astype(np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, k = table.shape
    if r < 2 or k < 2:
        return np.nan
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    k_corr = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corr - 1, r_corr - 1)
    return float(np.sqrt(phi2 / denominator)) if denominator > 0 else np.nan


def cramers_v_matrix(codes: list[np.ndarray]) -> np.ndarray:
    out = np.eye(len(codes))
    for i in range(len(codes)):
        for j in range(i + 1, len(codes)):
            out[i, j] = out[j, i] = cramers_v(codes[i], codes[j])
    return out


def correlation_ratio(groups: np.ndarray, values: np.ndarray) -> float:
    """Eta of ``values`` (NaN = missing) grouped by codes ``groups`` (-1 = missing)."""
    both = (groups >= 0) & np.isfinite(values)
    groups, values = groups[both], values[both]
    if len(values) < MIN_PAIR_ROWS:
        return np.nan
    sizes = np.bincount(groups)
    sums = np.bincount(groups, weights=values)
    mean = values.mean()
    total = float(((values - mean) ** 2).sum())
    if total <= 0 or (sizes > 0).sum() < 2:
        return np.nan
    used = sizes > 0
    between = float((sizes[used] * (sums[used] / sizes[used] - mean) ** 2).sum())
    return float(np.sqrt(min(1.0, between / total)))


def association(target: Any, target_categorical: bool, column: Any,
                column_categorical: bool) -> tuple[str, float]:
    """The measure that fits a (target, column) pair of kinds, and its value."""
    if target_categorical and column_categorical:
        return "cramers_v", cramers_v(target, column)
    if target_categorical:
        return "correlation_ratio", correlation_ratio(target, column)
    if column_categorical:
        return "correlation_ratio", correlation_ratio(column, target)
    both = np.isfinite(target) & np.isfinite(column)
    if both.sum() < MIN_PAIR_ROWS:
        return "pearson", np.nan
    return "pearson", _pearson(target[both], column[both])


def pca_2d(x: np.ndarray, points: int, seed: int) -> dict[str, Any]:
    """Two leading principal components of the standardised columns of ``x``.

    Missing values are imputed with the column mean (0 once standardised), so rows with
    a gap still place on the plane. Component signs are fixed (largest loading positive)
    so the same data always draws the same picture. Returns the explained variance ratio,
    loadings, and the coordinates of up to ``points`` sampled rows with their row indices.
    """
    means = np.nanmean(x, axis=0)
    stds = np.nanstd(x, axis=0, ddof=1)
    z = (x - means) / stds
    missing = ~np.isfinite(z)
    z[missing] = 0.0
    covariance = z.T @ z / (len(z) - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = eigenvectors[:, order[:2]]
    flip = np.sign(vectors[np.abs(vectors).argmax(axis=0), range(2)])
    vectors = vectors * np.where(flip == 0, 1.0, flip)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(z))[:points])
    coords = z[chosen] @ vectors
    return {
        "explained_variance_ratio": (eigenvalues[:2] / eigenvalues.sum()).tolist(),
        "loadings": vectors,
        "imputed_rows": int(missing.any(axis=1).sum()),
        "rows": chosen,
        "coords": coords,
    }

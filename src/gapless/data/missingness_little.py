"""Little's (1988) MCAR test over the numeric columns of a table.

Under MCAR, the mean of each missingness pattern's observed values equals the overall mean.
The overall mean and covariance are maximum-likelihood estimates under a multivariate
normal model, found by EM; the statistic ``d2 = sum_j n_j (m_j - mu_j)' S_j^-1 (m_j - mu_j)``
over patterns j is chi-squared with ``sum_j p_j - p`` degrees of freedom, where p_j counts
the columns pattern j observes.

EM works on per-pattern sufficient statistics (count, sum, cross-products of the observed
columns), computed once, so each iteration costs patterns x columns^3 whatever the row
count. Columns are standardized first; the statistic does not change under that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EM_MAX_ITER = 500
EM_TOL = 1e-7


def little_mcar_test(frame: pd.DataFrame, *, max_columns: int = 20,
                     max_patterns: int = 256) -> dict[str, Any]:
    """Little's test on the numeric (non-boolean) columns; ``skipped`` says why when not run."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    numeric = [c for c in frame.columns
               if pd.api.types.is_numeric_dtype(frame[c].dtype)
               and not pd.api.types.is_bool_dtype(frame[c].dtype)]
    x = frame[numeric].to_numpy(dtype=float, na_value=np.nan) if numeric else np.zeros((0, 0))
    varying = [i for i in range(len(numeric))
               if np.sum(~np.isnan(x[:, i])) > 1 and np.nanstd(x[:, i]) > 0]
    # Columns with missing values first: they are the point of the test.
    varying.sort(key=lambda i: -int(np.isnan(x[:, i]).sum()))
    varying = sorted(varying[:max_columns])
    columns = [str(numeric[i]) for i in varying]
    base = {"test": "Little's MCAR test", "columns": columns}
    x = x[:, varying]
    if not np.isnan(x).any():
        return {**base, "skipped": "no numeric column with missing values"}
    x = x[~np.isnan(x).all(axis=1)]
    x = (x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0)
    observed = ~np.isnan(x)
    codes = observed.astype(np.int64) @ (np.int64(1) << np.arange(x.shape[1], dtype=np.int64))
    patterns, inverse = np.unique(codes, return_inverse=True)
    if len(patterns) > max_patterns:
        return {**base, "skipped": f"{len(patterns)} missingness patterns (over {max_patterns})"}
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(np.bincount(inverse, minlength=len(patterns)))
    stats_by_pattern = []
    for rows in np.split(order, ends[:-1]):
        obs = observed[rows[0]]
        block = x[rows][:, obs]
        stats_by_pattern.append((obs, len(rows), block.sum(axis=0), block.T @ block))
    mu, sigma, iterations = _em(stats_by_pattern, x.shape[1], len(x))
    d2 = 0.0
    dof = -x.shape[1]
    for obs, count, total, _ in stats_by_pattern:
        diff = total / count - mu[obs]
        d2 += count * float(diff @ _solve(sigma[np.ix_(obs, obs)], diff))
        dof += int(obs.sum())
    if dof <= 0:
        return {**base, "skipped": "only one missingness pattern: nothing to compare"}
    return {**base, "statistic": d2, "dof": dof, "p_value": float(stats.chi2.sf(d2, dof)),
            "patterns": len(patterns), "rows": len(x), "em_iterations": iterations,
            "assumes": "multivariate normal numeric columns"}


def _solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    import numpy as np

    try:
        return np.linalg.solve(matrix, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(matrix) @ rhs


def _em(patterns: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]], p: int, n: int
        ) -> tuple[np.ndarray, np.ndarray, int]:
    """ML mean and covariance of standardized data from per-pattern sufficient statistics."""
    import numpy as np

    mu = np.zeros(p)
    sigma = np.eye(p)
    for iteration in range(1, EM_MAX_ITER + 1):
        sum_x = np.zeros(p)
        sum_xx = np.zeros((p, p))
        for obs, count, total, cross in patterns:
            mis = ~obs
            o, m = np.flatnonzero(obs), np.flatnonzero(mis)
            if not len(m):
                sum_x += total
                sum_xx += cross
                continue
            # E-step: x_m = a + B x_o with B = S_mo S_oo^-1; residual covariance C.
            b = _solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)]).T
            a = mu[m] - b @ mu[o]
            cond = sigma[np.ix_(m, m)] - b @ sigma[np.ix_(o, m)]
            sum_m = count * a + b @ total
            sum_x[o] += total
            sum_x[m] += sum_m
            sum_xx[np.ix_(o, o)] += cross
            om = np.outer(total, a) + cross @ b.T
            sum_xx[np.ix_(o, m)] += om
            sum_xx[np.ix_(m, o)] += om.T
            bt = b @ total
            sum_xx[np.ix_(m, m)] += (count * np.outer(a, a) + np.outer(a, bt) + np.outer(bt, a)
                                     + b @ cross @ b.T + count * cond)
        new_mu = sum_x / n
        new_sigma = sum_xx / n - np.outer(new_mu, new_mu)
        change = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
        mu, sigma = new_mu, new_sigma
        if change < EM_TOL:
            return mu, sigma, iteration
    return mu, sigma, EM_MAX_ITER

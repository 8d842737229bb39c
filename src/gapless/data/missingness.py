"""Missingness analysis: is each column's missingness associated with the other columns?

Missing values come in three kinds (Rubin): MCAR, missing completely at random (nothing
explains which values are missing); MAR, missing at random given other columns (young
applicants skip the income question); MNAR, missing not at random (high earners skip it
*because* their income is high). Only the first two leave traces in the observed data:
if "is X missing" is associated with another column, X is not MCAR. MNAR cannot be told
apart from MAR or MCAR from the data alone, since the values that would show it are the
ones missing; the report says so rather than pretend.

For each column with missing values, each other column is compared between the rows where
it is missing and the rows where it is not:

* numeric (and datetime) columns: Mann-Whitney U, normal approximation with tie and
  continuity correction; effect size is the rank-biserial correlation (> 0: the other
  column is larger where X is missing);
* categorical and boolean columns: chi-squared test of the 2 x k table (the 19 most frequent
  categories kept, the rest pooled); effect size is Cramer's V.

The p-values of one column's tests are adjusted together (Benjamini-Hochberg), and the
column is "not MCAR" when any adjusted p-value is below ``alpha``. The family is the column,
not the whole analysis, so a truly MCAR column is wrongly called "not MCAR" with
probability of about ``alpha`` however many other columns are not MCAR (pooling every test
would let the true associations of other columns loosen its threshold). Little's MCAR test
over the numeric columns (EM estimates under a multivariate normal model) is added as a
global check.

The tests are vectorized (one rank or one one-hot matrix per column, one matrix product per
pair of columns), and large tables are subsampled with a fixed seed, which the output
records, so a million rows by twenty columns takes about a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MNAR_NOTE = ("MNAR (missingness that depends on the missing value itself) cannot be detected "
             "from the data alone: 'MCAR plausible' means only that no evidence against MCAR "
             "was found, and 'not MCAR' does not tell MAR from MNAR.")
MAX_CATEGORIES = 20
MIN_GROUP = 5
LITTLE_MAX_COLUMNS = 20
LITTLE_MAX_PATTERNS = 1024


def missingness_analysis(df: pd.DataFrame, *, max_columns: int = 50, max_rows: int = 200_000,
                         alpha: float = 0.05, seed: int = 0, little: bool = True
                         ) -> dict[str, Any]:
    """Per column with missing values: counts, association tests and an MCAR verdict.

    Counts come from all rows; the tests run on at most ``max_rows`` rows drawn with
    ``seed``. At most ``max_columns`` columns with missing values are analysed (the most
    missing first) against at most ``max_columns`` other columns (in frame order). The
    result is JSON-safe: ``columns`` maps each analysed column to its ``missing`` count,
    ``fraction``, ``mcar_plausible``, ``verdict``, ``associated_with`` (strongest effect
    first) and ``tests`` (per other column: test, statistic, p_value, p_adjusted,
    effect_size, and the group means or the most-missing categories); ``little`` holds
    Little's test or why it was not run; ``notes`` says what was sampled or cut.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"missingness_analysis expects a pandas DataFrame, "
                              f"got {type(df).__name__}")
    if not 0 < alpha < 1 or max_columns < 1 or max_rows < 2 * MIN_GROUP:
        raise ValidationError(f"missingness_analysis: expected 0 < alpha < 1, max_columns >= 1 "
                              f"and max_rows >= {2 * MIN_GROUP}; got alpha={alpha}, "
                              f"max_columns={max_columns}, max_rows={max_rows}")
    n_total = len(df)
    counts = df.isna().sum()
    notes = [MNAR_NOTE]
    with_missing = [c for _, _, c in sorted(
        (-int(counts[c]), i, c) for i, c in enumerate(df.columns) if counts[c] > 0)]
    if len(with_missing) > max_columns:
        notes.append(f"{len(with_missing)} columns have missing values; only the "
                     f"{max_columns} most missing were analysed (max_columns)")
    targets = with_missing[:max_columns]
    predictors = list(df.columns)[:max_columns]
    if len(df.columns) > max_columns:
        notes.append(f"only the first {max_columns} of {len(df.columns)} columns were used "
                     f"as explanatory columns (max_columns)")
    sample = df
    if n_total > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n_total, max_rows, replace=False))
        sample = df.iloc[rows]
        notes.append(f"tests ran on {max_rows} of {n_total} rows sampled with seed {seed}; "
                     f"counts use all rows")
    mask = sample[targets].isna().to_numpy(dtype=float) if targets else np.zeros((len(df), 0))
    results: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in targets}
    skipped: dict[str, str] = {}
    for pred in predictors:
        kind, values = _prepare(sample[pred])
        if kind == "skip":
            skipped[str(pred)] = values
            continue
        tested = _mann_whitney(values, mask) if kind == "numeric" else _chi2(values, mask)
        for j, target in enumerate(targets):
            if target != pred and tested[j] is not None:
                results[target][pred] = tested[j]
    for per_target in results.values():
        _adjust(per_target)
    columns = {str(t): _verdict(t, results[t], int(counts[t]), n_total, alpha) for t in targets}
    out: dict[str, Any] = {
        "rows": n_total,
        "rows_tested": len(sample),
        "sampled": len(sample) < n_total,
        "seed": seed,
        "alpha": alpha,
        "correction": "Benjamini-Hochberg over each column's tests",
        "columns": columns,
        "complete_columns": [str(c) for c in df.columns if counts[c] == 0],
        "skipped_columns": skipped,
        "little": _little_test(sample) if little else None,
        "notes": notes,
    }
    return out


# -- preparing one explanatory column ---------------------------------------------------------
def _prepare(series: pd.Series) -> tuple[str, Any]:
    """("numeric", float array with NaN) | ("categorical", codes with -1) | ("skip", why)."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    valid = int(series.notna().sum())
    if valid < 2 * MIN_GROUP:
        return "skip", "fewer than 10 values"
    if pd.api.types.is_bool_dtype(dtype) or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        if len(uniques) < 2:
            return "skip", "constant"
        if len(uniques) > 50 and len(uniques) > 0.5 * valid:
            return "skip", "identifier-like (almost every value distinct)"
        if len(uniques) > MAX_CATEGORIES:
            frequency = np.bincount(codes[codes >= 0], minlength=len(uniques))
            keep = np.argsort(-frequency, kind="stable")[: MAX_CATEGORIES - 1]
            remap = np.full(len(uniques), MAX_CATEGORIES - 1)
            remap[keep] = np.arange(len(keep))
            labels = [str(uniques[k]) for k in keep] + ["(other)"]
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        else:
            labels = [str(u) for u in uniques]
        return "categorical", (codes, labels)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = ((series - pd.Timestamp(0, tz=series.dt.tz)) / pd.Timedelta(seconds=1))
    elif pd.api.types.is_timedelta64_dtype(dtype):
        values = series / pd.Timedelta(seconds=1)
    else:
        values = series
    x = values.to_numpy(dtype=float, na_value=np.nan)
    if np.nanmin(x) == np.nanmax(x):
        return "skip", "constant"
    return "numeric", x


# -- the tests, each over all target columns at once ------------------------------------------
def _mann_whitney(x: np.ndarray, mask: np.ndarray) -> list[dict[str, Any] | None]:
    import numpy as np
    from scipy import stats

    valid = ~np.isnan(x)
    n = int(valid.sum())
    # Average ranks and tie sizes from one sort (rankdata plus unique would sort twice).
    where = np.flatnonzero(valid)
    order = where[np.argsort(x[where])]
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ties = np.diff(np.r_[starts, n]).astype(float)
    ranks = np.zeros(len(x))
    ranks[order] = np.repeat(starts + (ties + 1) / 2, ties.astype(np.int64))
    tie_term = float((ties**3 - ties).sum())
    x0 = np.where(valid, x, 0.0)
    n1, rank_sum, sum_missing = (mask.T @ np.column_stack([valid, ranks, x0])).T
    total = float(x0.sum())
    out: list[dict[str, Any] | None] = []
    for j in range(mask.shape[1]):
        a, b = float(n1[j]), float(n - n1[j])
        if a < MIN_GROUP or b < MIN_GROUP:
            out.append(None)
            continue
        u = float(rank_sum[j]) - a * (a + 1) / 2
        mean_u = a * b / 2
        var_u = a * b / 12 * ((n + 1) - tie_term / (n * (n - 1)))
        diff = u - mean_u
        z = (abs(diff) - 0.5) / np.sqrt(var_u) if var_u > 0 else 0.0
        p = float(min(1.0, 2 * stats.norm.sf(max(z, 0.0))))
        out.append({"test": "mann-whitney-u", "statistic": u, "p_value": p,
                    "effect_size": 2 * u / (a * b) - 1, "effect": "rank-biserial correlation",
                    "n_missing": int(a), "n_observed": int(b),
                    "mean_where_missing": float(sum_missing[j]) / a,
                    "mean_where_observed": (total - float(sum_missing[j])) / b})
    return out


def _chi2(prepared: tuple[np.ndarray, list[str]], mask: np.ndarray
          ) -> list[dict[str, Any] | None]:
    import numpy as np
    from scipy import stats

    codes, labels = prepared
    valid = codes >= 0
    onehot = np.zeros((len(codes), len(labels)))
    onehot[np.flatnonzero(valid), codes[valid]] = 1.0
    totals = onehot.sum(axis=0)
    present = totals > 0
    totals, onehot = totals[present], onehot[:, present]
    labels = [label for label, keep in zip(labels, present, strict=True) if keep]
    n = float(totals.sum())
    missing = mask.T @ onehot
    out: list[dict[str, Any] | None] = []
    for j in range(mask.shape[1]):
        a = float(missing[j].sum())
        if a < MIN_GROUP or n - a < MIN_GROUP or len(totals) < 2:
            out.append(None)
            continue
        observed = np.vstack([missing[j], totals - missing[j]])
        expected = np.outer([a, n - a], totals) / n
        statistic = float(((observed - expected) ** 2 / expected).sum())
        dof = len(totals) - 1
        rates = missing[j] / totals
        top = np.argsort(-rates, kind="stable")[:5]
        out.append({"test": "chi-squared", "statistic": statistic, "dof": dof,
                    "p_value": float(stats.chi2.sf(statistic, dof)),
                    "effect_size": float(np.sqrt(statistic / n)), "effect": "Cramer's V",
                    "n_missing": int(a), "n_observed": int(n - a),
                    "missing_rate_by_category": {labels[k]: float(rates[k]) for k in top}})
    return out


def _adjust(tests: dict[Any, dict[str, Any]]) -> None:
    """Benjamini-Hochberg over one column's p-values, written back as ``p_adjusted``."""
    import numpy as np

    entries = list(tests.values())
    if not entries:
        return
    p = np.array([e["p_value"] for e in entries])
    order = np.argsort(p)
    scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    for e, q in zip([entries[i] for i in order], adjusted, strict=True):
        e["p_adjusted"] = float(q)


def _verdict(target: Any, tests: dict[Any, dict[str, Any]], missing: int, n_total: int,
             alpha: float) -> dict[str, Any]:
    associated = sorted((p for p, t in tests.items() if t["p_adjusted"] < alpha),
                        key=lambda p: -abs(tests[p]["effect_size"]))
    if missing == n_total:
        verdict, plausible = "entirely missing: nothing to compare", None
    elif not tests:
        verdict, plausible = "untested: too few missing or observed rows to compare", None
    elif associated:
        names = ", ".join(map(str, associated))
        verdict, plausible = f"not MCAR: missingness associated with {names}", False
    else:
        verdict = (f"MCAR plausible: no association with the {len(tests)} columns tested "
                   f"(MNAR is not ruled out)")
        plausible = True
    return {"missing": missing, "fraction": missing / n_total if n_total else 0.0,
            "mcar_plausible": plausible, "verdict": verdict,
            "associated_with": [str(a) for a in associated],
            "tests": {str(p): t for p, t in tests.items()}}


def _little_test(sample: pd.DataFrame) -> dict[str, Any]:
    from gapless.data.missingness_little import little_mcar_test

    return little_mcar_test(sample, max_columns=LITTLE_MAX_COLUMNS,
                            max_patterns=LITTLE_MAX_PATTERNS)


__all__ = ["MNAR_NOTE", "missingness_analysis"]

"""Data drift between a reference and a current sample, column by column and as a whole.

Which test decides, per column (every default can be overridden per column):

==============  ===========================  ==========================================
column          reference <= 1000 values     larger reference
==============  ===========================  ==========================================
numeric         ``ks`` (p < 0.05)            ``wasserstein`` normalized (>= 0.1)
categorical     ``chi2`` (p < 0.05)          ``jensen_shannon`` (>= 0.1)
==============  ===========================  ==========================================

On large samples a p-value test flags shifts too small to matter (with a million rows,
KS rejects a 0.01-sd move), the trap Evidently users hit (evidently#50); an effect size
with a threshold does not. So large references are judged by an effect size, small ones
by a test, and every column reports the companions as well (``ks`` p-value, ``psi`` and
``wasserstein`` for numbers; ``chi2`` p-value, ``psi`` and ``jensen_shannon`` for
categories), so a reader sees both views. P-values of the deciding tests are adjusted for
multiple testing (Benjamini-Hochberg, on by default) before they are compared with the
threshold. The dataset drifts when the share of drifted columns reaches ``share``
(default 0.5). With ``multivariate=True`` a domain classifier (gradient boosting told to
tell reference rows from current ones, cross-validated) adds a joint view: its ROC AUC,
0.5 when the two samples cannot be told apart.

No verdict, rather than a wrong one: a column with fewer than ``min_rows`` values on
either side (default 30), a column missing from one side, with no values, of a type
that changed (numbers in the reference, text in the current), or a datetime, gets
``drifted = None`` and a reason that says what is needed. Columns are compared on both
CPU cores (sorting, the bulk of the work, releases the interpreter lock); each numeric
column is sorted once and every statistic read from the sorted arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gapless.core.errors import ValidationError
from gapless.monitoring import stattests

if TYPE_CHECKING:
    import pandas as pd

LARGE_REFERENCE = 1000
MIN_ROWS = 30
DRIFT_SHARE = 0.5
DOMAIN_AUC = 0.55
DOMAIN_SAMPLE = 20_000
DEFAULTS = {"numeric": ("ks", "wasserstein"), "categorical": ("chi2", "jensen_shannon")}
COMPANIONS = {"numeric": ("ks", "psi", "wasserstein"),
              "categorical": ("chi2", "psi", "jensen_shannon")}

Kind = Literal["numeric", "categorical"]
Role = Literal["feature", "target", "prediction"]


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict: ``drifted`` is None when no verdict could be given (see
    ``reason``). ``statistic``/``p_value`` are the deciding test's; ``p_value`` is
    adjusted when a correction applied (``raw_p_value`` keeps the original);
    ``measures`` holds every companion statistic by test name."""

    column: str
    kind: Kind | None
    role: Role
    test: str | None
    statistic: float | None
    p_value: float | None
    raw_p_value: float | None
    threshold: float | None
    drifted: bool | None
    reference_values: int
    current_values: int
    reference_missing: int = 0
    current_missing: int = 0
    measures: dict[str, float | None] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class DriftReport:
    columns: list[ColumnDrift]
    drifted_columns: int
    judged_columns: int
    share: float
    dataset_drift: bool | None
    correction: str
    reference_rows: int
    current_rows: int
    domain_auc: float | None = None
    domain_drift: bool | None = None

    @property
    def drift_share(self) -> float | None:
        return self.drifted_columns / self.judged_columns if self.judged_columns else None

    def column(self, name: str) -> ColumnDrift:
        for found in self.columns:
            if found.column == name:
                return found
        raise ValidationError(f"no column {name!r} in this drift report; it has "
                              f"{[c.column for c in self.columns]}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["drift_share"] = self.drift_share
        return _finite(out)


def data_drift(reference: pd.DataFrame, current: pd.DataFrame, *,
               columns: Sequence[str] | None = None, tests: Mapping[str, str] | None = None,
               thresholds: Mapping[str, float] | None = None,
               roles: Mapping[str, Role] | None = None, correction: str = "bh",
               share: float = DRIFT_SHARE, min_rows: int = MIN_ROWS,
               large_reference: int = LARGE_REFERENCE, multivariate: bool = False,
               workers: int = 2) -> DriftReport:
    """Compare ``current`` with ``reference`` (see the module docstring).

    ``columns``: which to compare (default: every column of the reference). ``tests`` /
    ``thresholds``: per column, the deciding test's name and its threshold. ``roles``
    marks ``target`` (label drift) and ``prediction`` (prediction drift) columns, judged
    like the others and shown apart. ``correction``: ``bh`` or ``none``.
    """
    if correction not in ("bh", "none"):
        raise ValidationError(f"correction: expected 'bh' or 'none', got {correction!r}")
    if not 0 < share <= 1:
        raise ValidationError(f"share: expected a fraction in (0, 1], got {share!r}")
    if min_rows < 1:
        raise ValidationError(f"min_rows: expected a positive count, got {min_rows!r}")
    names = list(columns) if columns is not None else [str(c) for c in reference.columns]
    if not names:
        raise ValidationError("drift: no columns to compare; the reference has none")
    for option, mapping in (("tests", tests), ("thresholds", thresholds), ("roles", roles)):
        unknown = sorted(set(mapping or {}) - set(names))
        if unknown:
            raise ValidationError(f"{option}: column(s) {unknown} are not compared; the "
                                  f"columns are {names}")
    for test in (tests or {}).values():
        stattests.get(test)  # unknown names fail here, listing the known ones

    def compare(name: str) -> ColumnDrift:
        return _column(name, reference, current, (tests or {}).get(name),
                       (thresholds or {}).get(name), (roles or {}).get(name, "feature"),
                       min_rows, large_reference)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(compare, names))
    if correction == "bh":
        results = _adjust(results)
    judged = [r for r in results if r.drifted is not None]
    drifted = sum(1 for r in judged if r.drifted)
    auc = _domain_auc(reference, current, names) if multivariate else None
    return DriftReport(
        columns=results, drifted_columns=drifted, judged_columns=len(judged), share=share,
        dataset_drift=(drifted / len(judged) >= share) if judged else None,
        correction=correction, reference_rows=len(reference), current_rows=len(current),
        domain_auc=auc, domain_drift=None if auc is None else auc >= DOMAIN_AUC)


# -- one column ---------------------------------------------------------------------------
def _column(name: str, reference: pd.DataFrame, current: pd.DataFrame, test: str | None,
            threshold: float | None, role: Role, min_rows: int,
            large_reference: int) -> ColumnDrift:
    def no_verdict(reason: str, kind: Kind | None = None, ref: Any = None,
                   cur: Any = None) -> ColumnDrift:
        return ColumnDrift(name, kind, role, None, None, None, None, None, None,
                           _count(ref), _count(cur), _missing(ref), _missing(cur),
                           reason=reason)

    for side, frame in (("reference", reference), ("current", current)):
        if name not in frame.columns:
            return no_verdict(f"missing from the {side} data")
    kind, problem = _kind(reference[name], current[name])
    if kind is None:
        return no_verdict(problem or "cannot be compared")
    prepare = (stattests.prepare_numeric if kind == "numeric"
               else stattests.prepare_categorical)
    try:
        ref, cur = prepare(_values(reference[name], kind)), prepare(
            _values(current[name], kind))
    except ValidationError as exc:
        return no_verdict(str(exc), kind)
    for side, prepared in (("reference", ref), ("current", cur)):
        have = _count(prepared)
        if have < min_rows:
            return no_verdict(f"the {side} has {have} value(s); a verdict needs at least "
                              f"{min_rows}", kind, ref, cur)
    chosen = test or DEFAULTS[kind][_count(ref) > large_reference]
    decider = stattests.get(chosen)
    if kind not in decider.applies_to:
        fitting = [n for n in stattests.names() if kind in stattests.get(n).applies_to]
        return no_verdict(f"test {chosen!r} does not apply to {kind} columns; use one of "
                          f"{fitting}", kind, ref, cur)
    measures: dict[str, float | None] = {}
    for companion in dict.fromkeys((*COMPANIONS[kind], chosen)):
        found = stattests.run(companion, ref, cur, threshold if companion == chosen else None)
        measures[companion] = found.p_value if found.kind == "p_value" else found.statistic
        if companion == chosen:
            result = found
    return ColumnDrift(name, kind, role, chosen, result.statistic, result.p_value,
                       result.p_value, result.threshold, result.drifted, _count(ref),
                       _count(cur), ref.missing, cur.missing, measures)


def _kind(reference: pd.Series, current: pd.Series) -> tuple[Kind | None, str | None]:
    import pandas as pd

    from gapless.core.schema import column_type

    def kind_of(values: pd.Series) -> str:  # the signature's types, as drift compares them
        return {"integer": "numeric", "float": "numeric", "datetime": "datetime"}.get(
            column_type(values), "categorical")

    ref, cur = kind_of(reference), kind_of(current)
    if "datetime" in (ref, cur):
        return None, "a datetime column is not compared; derive features (hour, weekday) first"
    if ref == cur:
        return ref, None  # type: ignore[return-value]
    if reference.isna().all() or current.isna().all():  # no values: any dtype is fine
        return (ref if not reference.isna().all() else cur), None  # type: ignore[return-value]
    if ref == "numeric":  # numbers that arrived as text: usable only if they all parse
        parsed = pd.to_numeric(current, errors="coerce")
        if parsed.isna().sum() == current.isna().sum():
            return "numeric", None
    return None, (f"types differ: {_type_word(ref)} in the reference, {_type_word(cur)} in "
                  "the current data; fix the source or cast one side")


def _values(series: pd.Series, kind: Kind) -> Any:
    import pandas as pd

    if kind == "numeric" and not pd.api.types.is_numeric_dtype(series):
        return pd.to_numeric(series, errors="coerce")
    return series


def _type_word(kind: str) -> str:
    return {"numeric": "numbers", "categorical": "text or categories"}.get(kind, kind)


def _count(prepared: Any) -> int:
    if prepared is None:
        return 0
    if hasattr(prepared, "counts"):
        return int(prepared.counts.sum())
    return int(len(prepared.values))


def _missing(prepared: Any) -> int:
    return 0 if prepared is None else int(prepared.missing)


def _adjust(results: list[ColumnDrift]) -> list[ColumnDrift]:
    """Benjamini-Hochberg over the deciding p-values; verdicts re-read at the threshold."""
    from dataclasses import replace

    tested = [i for i, r in enumerate(results)
              if r.drifted is not None and r.raw_p_value is not None]
    if len(tested) < 2:
        return results
    adjusted = stattests.benjamini_hochberg([results[i].raw_p_value for i in tested])
    out = list(results)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = replace(results[i], p_value=float(p),
                         drifted=bool(p < (results[i].threshold or 0.0)))
    return out


# -- the joint view ------------------------------------------------------------------------
def _domain_auc(reference: pd.DataFrame, current: pd.DataFrame, names: list[str]) -> float:
    """Cross-validated ROC AUC of a classifier telling current rows from reference rows
    (up to DOMAIN_SAMPLE of each): 0.5 means indistinguishable."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    usable = [n for n in names if n in reference.columns and n in current.columns
              and not pd.api.types.is_datetime64_any_dtype(reference[n])]
    if not usable:
        raise ValidationError("multivariate drift: no column both samples share")
    if min(len(reference), len(current)) < 2 * MIN_ROWS:
        raise ValidationError(f"multivariate drift needs at least {2 * MIN_ROWS} rows on each "
                              f"side, got {len(reference)} and {len(current)}")
    rng = np.random.default_rng(0)

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        take = min(len(frame), DOMAIN_SAMPLE)
        return frame[usable].iloc[np.sort(rng.choice(len(frame), take, replace=False))]

    both = pd.concat([sample(reference), sample(current)], ignore_index=True)
    labels = np.r_[np.zeros(min(len(reference), DOMAIN_SAMPLE)),
                   np.ones(min(len(current), DOMAIN_SAMPLE))]
    features = pd.DataFrame(index=both.index)
    for name in usable:  # categories as codes: trees split them without a category limit
        column = both[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            features[name] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            codes = pd.Categorical(column.astype("string")).codes.astype(float)
            codes[codes < 0] = np.nan
            features[name] = codes
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    scores = cross_val_score(model, features, labels, cv=3, scoring="roc_auc")
    return float(np.mean(scores))


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, NumPy scalars plain values."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

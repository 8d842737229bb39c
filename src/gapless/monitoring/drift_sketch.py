"""Fixed-size summaries of logged inputs, so drift over time needs bounded memory.

A :class:`DriftProfile` is fitted on the reference frame once. Per **numeric** feature it
keeps the edges of ``bins`` (default 100) bins at reference quantiles between the
reference's minimum and maximum, so each bin holds about 1 % of the reference; around
them a bin below the minimum and one at or above the maximum. Per **categorical** feature
it keeps the ``max_categories`` (default 1,000) most frequent reference categories and one
*unseen* bin; when the reference has more categories than that, its rarest ones are
pooled into the unseen bin on both sides (so a shift among them goes unseen, by design).

A :class:`DriftAccumulator` takes chunks of the log, either JSON records as the SQL stream
reads them (:meth:`~DriftAccumulator.add_records`) or columns fed directly
(:meth:`~DriftAccumulator.add`), and per bucket and feature adds what each value says to
one fixed array: a bin count (``np.searchsorted`` on the edges, ``np.bincount``), and for
numbers the sum of each value's offset from its bin's left edge, plus counts of missing
values, of requests that did not send the feature (*absent*) and of values of another
type. Memory is buckets x features x bins, whatever the number of rows.

:mod:`gapless.monitoring.drift_windows` reads the distances from two such arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gapless.core.errors import ValidationError
from gapless.monitoring.stattests import prepare_categorical, prepare_numeric
from gapless.monitoring.stattests._binning import quantile_edges
from gapless.monitoring.stattests.wasserstein import scale

if TYPE_CHECKING:
    import pandas as pd

BINS = 100
DECILES = 10
MAX_CATEGORIES = 1000
Kind = Literal["numeric", "categorical"]
Key = tuple[int, int, str]  # (bucket index since the epoch, model version, variant)


class _Absent:
    """The value of a feature a request did not send (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
_NONE = type(None)


@dataclass(frozen=True, eq=False)
class FeatureProfile:
    """What the reference says about one feature, and how to bin a logged value.

    Codes ``0 .. values - 1`` are value bins (numbers: below the minimum, the quantile
    bins, at or above the maximum; categories: the tracked ones, then unseen); then
    ``missing``, ``absent`` and ``other_type``. ``reason`` is set (and ``kind`` may be
    None) when the reference cannot be compared at all.
    """

    name: str
    kind: Kind | None
    reason: str | None = None
    values: int = 0  # how many value bins
    reference_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    reference_offsets: np.ndarray | None = None
    edges: np.ndarray | None = None  # numbers: min, quantiles, max (unique)
    anchors: np.ndarray | None = None  # numbers: the left edge each bin's offsets are from
    scale: float = 1.0  # numbers: the divisor of W1 (the reference's sd)
    deciles: np.ndarray | None = None  # numbers: the decile bin of each value bin
    categories: tuple[str, ...] = ()
    reference_kind: str | None = None  # categories: text, boolean or number
    index: dict[Any, int] = field(default_factory=dict)

    @property
    def missing(self) -> int:
        return self.values

    @property
    def absent(self) -> int:
        return self.values + 1

    @property
    def other_type(self) -> int:
        return self.values + 2

    @property
    def size(self) -> int:
        return self.values + 3

    @property
    def reference_rows(self) -> int:
        return int(self.reference_counts[: self.values].sum())

    def encode(self, values: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
        """``(codes, offsets or None, an example of another type or None)`` of a chunk of
        logged values: a list of Python values (``ABSENT`` where a request did not send
        the feature) or a NumPy array / pandas Series."""
        if self.kind == "numeric":
            return self._numbers(values)
        return self._labels(values)

    def _numbers(self, values: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        assert self.edges is not None and self.anchors is not None
        extra = None
        example = None
        if hasattr(values, "dtype") and values.dtype.kind in "iuf":
            array = (values.to_numpy(dtype=np.float64, na_value=np.nan)
                     if hasattr(values, "to_numpy") else np.asarray(values, dtype=np.float64))
        else:
            values = _as_list(values)
            if not set(map(type, values)) <= {int, float}:
                extra = np.fromiter((_number_status(v, self) for v in values), np.int64,
                                    len(values))
                example = _example(values, extra, self.other_type)
                values = [v if v.__class__ is float or v.__class__ is int else math.nan
                          for v in values]
            array = np.asarray(values, dtype=np.float64)
        codes = np.searchsorted(self.edges, array, side="right")
        finite = np.isfinite(array)
        if not finite.all():
            codes[~finite] = self.missing  # NaN and infinities, as prepare_numeric drops them
        offsets = array - self.anchors[np.minimum(codes, self.values - 1)]
        offsets[~finite] = 0.0
        if extra is not None:
            special = extra > 0
            codes[special] = extra[special]
            offsets[special] = 0.0
        return codes, offsets, example

    def _labels(self, values: Any) -> tuple[np.ndarray, None, Any]:
        values = _as_list(values)
        unseen = self.values - 1
        fast = {"text": {str}, "boolean": {bool}}.get(self.reference_kind or "", set())
        if fast and set(map(type, values)) <= fast | {_NONE, _Absent}:
            codes = np.fromiter(map(self.index.get, values, repeat(unseen)), np.int64,
                                len(values))
            return codes, None, None
        codes = np.fromiter((self._label_code(v) for v in values), np.int64, len(values))
        example = _example(values, codes, self.other_type)
        return codes, None, example

    def _label_code(self, value: Any) -> int:
        if value is None or value is ABSENT:
            return self.index[value]
        if isinstance(value, float) and math.isnan(value):
            return self.missing
        if _kind_of(value) != self.reference_kind:
            return self.other_type
        key = value if self.reference_kind in ("text", "boolean") else str(value)
        return self.index.get(key, self.values - 1)


class DriftProfile:
    """Per feature of a reference frame, the fixed bins logged values are counted in (see
    the module docstring). ``fit(reference)`` learns ``features_`` (name ->
    :class:`FeatureProfile`) and returns self."""

    def __init__(self, *, bins: int = BINS, max_categories: int = MAX_CATEGORIES,
                 columns: Sequence[str] | None = None) -> None:
        self.bins = bins
        self.max_categories = max_categories
        self.columns = columns

    def fit(self, reference: pd.DataFrame) -> DriftProfile:
        if not isinstance(self.bins, int) or self.bins < DECILES:
            raise ValidationError(f"bins: expected a whole number >= {DECILES}, got "
                                  f"{self.bins!r}")
        if not isinstance(self.max_categories, int) or self.max_categories < 1:
            raise ValidationError(f"max_categories: expected a positive whole number, got "
                                  f"{self.max_categories!r}")
        names = ([str(c) for c in reference.columns] if self.columns is None
                 else [str(c) for c in self.columns])
        if not names:
            raise ValidationError("drift windows: no columns to compare; the reference has "
                                  "none")
        by_name = {str(c): c for c in reference.columns}
        self.features_ = {
            name: (_profile(name, reference[by_name[name]], self.bins, self.max_categories)
                   if name in by_name else
                   FeatureProfile(name, None, "missing from the reference data"))
            for name in names}
        return self


def _profile(name: str, series: pd.Series, bins: int, max_categories: int) -> FeatureProfile:
    from gapless.core.schema import column_type

    kind = column_type(series)
    if kind == "datetime":
        return FeatureProfile(name, None, "a datetime column is not compared; derive "
                                          "features (hour, weekday) first")
    try:
        if kind in ("integer", "float"):
            return _numeric_profile(name, prepare_numeric(series), bins)
        return _categorical_profile(name, series, max_categories)
    except ValidationError as exc:
        return FeatureProfile(name, None, f"the reference cannot be read: {exc}")


def _numeric_profile(name: str, prepared: Any, bins: int) -> FeatureProfile:
    values = prepared.values
    if values.size == 0:
        return FeatureProfile(name, "numeric", f"the reference has no values (all "
                                               f"{prepared.missing} missing)")
    if values[0] == values[-1]:
        return FeatureProfile(name, "numeric", f"the reference has a single distinct value "
                                               f"({values[0]:g}), so there is no spread to "
                                               "measure a shift in; drop the feature or "
                                               "compare it as a category")
    edges = np.unique(np.concatenate(([values[0]], quantile_edges(values, bins),
                                      [values[-1]])))
    inner = edges.size - 1
    anchors = np.concatenate(([edges[0]], edges[:-1], [edges[-1]]))
    decile_edges = quantile_edges(values, DECILES)
    deciles = np.concatenate(([0], np.searchsorted(decile_edges, anchors[1:], side="right")))
    profile = FeatureProfile(name, "numeric", values=inner + 2, edges=edges, anchors=anchors,
                             scale=scale(values), deciles=deciles)
    codes, offsets, _ = profile.encode(values)
    counts = np.bincount(codes, minlength=profile.size)
    counts[profile.missing] = prepared.missing
    return _with(profile, reference_counts=counts,
                 reference_offsets=np.bincount(codes, weights=offsets, minlength=profile.size))


def _categorical_profile(name: str, series: pd.Series, max_categories: int) -> FeatureProfile:
    prepared = prepare_categorical(series)
    if prepared.total == 0:
        return FeatureProfile(name, "categorical", f"the reference has no values (all "
                                                   f"{prepared.missing} missing)")
    kinds = {_kind_of(v) for v in series.dropna().head(1000).tolist()}
    reference_kind = kinds.pop() if len(kinds) == 1 else "text"
    order = np.lexsort((prepared.categories, -prepared.counts))[:max_categories]
    order.sort()  # tracked categories stay sorted by name
    tracked = tuple(str(c) for c in prepared.categories[order])
    unseen = len(tracked)
    index: dict[Any, int] = {}
    for i, category in enumerate(tracked):
        if reference_kind == "boolean":
            index[category == "True"] = i
        else:
            index[category] = i
    counts = np.zeros(unseen + 4, dtype=np.int64)
    counts[:unseen] = prepared.counts[order]
    counts[unseen] = prepared.total - counts[:unseen].sum()  # beyond the cap
    counts[unseen + 1] = prepared.missing
    index[None], index[ABSENT] = unseen + 1, unseen + 2
    return FeatureProfile(name, "categorical", values=unseen + 1, reference_counts=counts,
                          categories=tracked, reference_kind=reference_kind, index=index)


def _with(profile: FeatureProfile, **changes: Any) -> FeatureProfile:
    from dataclasses import replace

    return replace(profile, **changes)


# -- accumulation ---------------------------------------------------------------------------
@dataclass
class BucketSummary:
    """One bucket's fixed-size state: rows, and per feature the counts per code (value
    bins, missing, absent, other type) and, for numbers, the offset sums per code."""

    key: Key
    rows: int = 0
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    offsets: dict[str, np.ndarray] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)  # a value of another type


class DriftAccumulator:
    """Buckets of ``seconds`` (aligned to the epoch) per model version and variant, each a
    :class:`BucketSummary` over the features of ``profile`` (a fitted DriftProfile)."""

    def __init__(self, profile: DriftProfile, seconds: float) -> None:
        self.features = list(profile.features_.values())
        self.judged = [f for f in self.features if f.reason is None]
        self.seconds = seconds
        self.buckets: dict[Key, BucketSummary] = {}

    def add_records(self, created_at: Sequence[float], versions: Sequence[int],
                    variants: Sequence[str], records: Sequence[Any]) -> None:
        """Add logged requests: ``records`` are the decoded ``inputs_json`` objects
        (anything that is not a mapping counts as sending no feature)."""
        rows = [r if isinstance(r, dict) else {} for r in records]
        columns = {f.name: [r.get(f.name, ABSENT) for r in rows] for f in self.judged}
        self.add(created_at, versions, variants, columns)

    def add(self, created_at: Any, versions: Any, variants: Any,
            columns: Mapping[str, Any]) -> None:
        """Add one chunk given as columns (feature -> values; a feature not in
        ``columns`` counts as absent from every row), with each row's time, version and
        variant. The work per chunk is vectorized: one encode per feature, then one
        ``np.bincount`` per feature and bucket."""
        times = np.asarray(created_at, dtype=np.float64)
        n = times.size
        if n == 0:
            return
        groups = self._groups(times, np.asarray(versions), list(variants))
        encoded = {}
        for feature in self.judged:
            if feature.name in columns:
                encoded[feature.name] = feature.encode(columns[feature.name])
            else:
                encoded[feature.name] = (np.full(n, feature.absent, np.int64), None, None)
        for key, rows in groups:
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = BucketSummary(key)
            bucket.rows += n if rows is None else rows.size
            for feature in self.judged:
                codes, offsets, example = encoded[feature.name]
                if rows is not None:
                    codes = codes[rows]
                    offsets = None if offsets is None else offsets[rows]
                _add(bucket.counts, feature, np.bincount(codes, minlength=feature.size))
                if offsets is not None:
                    _add(bucket.offsets, feature, np.bincount(codes, weights=offsets,
                                                              minlength=feature.size))
                if example is not None and feature.name not in bucket.examples and (
                        rows is None or bool((codes == feature.other_type).any())):
                    bucket.examples[feature.name] = example

    def _groups(self, times: np.ndarray, versions: np.ndarray,
                variants: list[str]) -> list[tuple[Key, np.ndarray | None]]:
        buckets = np.floor(times / self.seconds).astype(np.int64)
        names = sorted(set(variants))
        if buckets[0] == buckets[-1] and (buckets == buckets[0]).all() and len(names) == 1 \
                and (versions == versions[0]).all():
            return [((int(buckets[0]), int(versions[0]), names[0]), None)]
        codes = np.asarray([names.index(v) for v in variants]) if len(names) > 1 \
            else np.zeros(times.size, np.int64)
        stacked = np.stack([buckets, versions.astype(np.int64), codes])
        keys, inverse = np.unique(stacked, axis=1, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        cuts = np.cumsum(np.bincount(inverse.ravel(), minlength=keys.shape[1]))[:-1]
        return [((int(k[0]), int(k[1]), names[int(k[2])]), rows)
                for k, rows in zip(keys.T, np.split(order, cuts), strict=True)]


def _add(into: dict[str, np.ndarray], feature: FeatureProfile, counts: np.ndarray) -> None:
    found = into.get(feature.name)
    if found is None:
        into[feature.name] = counts
    else:
        found += counts


# -- helpers ----------------------------------------------------------------------------------
def _as_list(values: Any) -> list[Any]:
    if isinstance(values, list):
        return values
    module = type(values).__module__
    if module.startswith("pandas"):
        import pandas as pd

        missing = pd.isna(values)
        out = values.astype(object).tolist()
        if bool(np.asarray(missing).any()):
            out = [None if m else v for v, m in zip(out, np.asarray(missing), strict=True)]
        return out
    return np.asarray(values, dtype=object).tolist()


def _number_status(value: Any, feature: FeatureProfile) -> int:
    kind = value.__class__
    if kind is float or kind is int:
        return 0
    if value is None:
        return feature.missing
    if value is ABSENT:
        return feature.absent
    return feature.other_type


def _kind_of(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | float | np.number):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _example(values: list[Any], codes: np.ndarray, other: int) -> Any:
    found = np.flatnonzero(codes == other)
    return values[int(found[0])] if found.size else None

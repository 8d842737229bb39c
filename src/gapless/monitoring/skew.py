"""Training-serving skew: the values a model was served, compared with the values the
offline pipeline has for the same entity and time.

The served side is the endpoint's prediction log: its inputs, and the entity key the
request carried (a model input, or a request field the deployment keeps with
``log_fields``). The offline side is a table keyed by the same entity, optionally with
an event time: then each served row is compared with the newest offline row of its
entity at or before the time it was served (a point-in-time, "as of" join), as a feature
store would have answered. Per feature, a row mismatches when one side is missing and the
other is not, numbers differ beyond ``rtol``/``atol`` (as ``numpy.isclose``), or other
values differ as text; both missing is agreement. Served rows with no offline row are
counted, not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError

EXAMPLES = 5


@dataclass(frozen=True)
class FeatureSkew:
    """One feature: the rows compared, how many disagree, and a few of them."""

    name: str
    compared: int
    mismatches: int
    served_missing: int  # missing when served, present offline
    offline_missing: int  # present when served, missing offline
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mismatch_rate(self) -> float | None:
        return self.mismatches / self.compared if self.compared else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compared": self.compared, "mismatches": self.mismatches,
                "mismatch_rate": self.mismatch_rate, "served_missing": self.served_missing,
                "offline_missing": self.offline_missing, "examples": self.examples}


@dataclass(frozen=True)
class SkewReport:
    """Skew per feature between served rows and offline rows of the same entities."""

    key: list[str]
    timestamp: str | None
    served_rows: int
    matched_rows: int  # served rows that found an offline row
    features: list[FeatureSkew]
    not_compared: dict[str, str]  # feature -> why it was left out

    @property
    def unmatched_rows(self) -> int:
        return self.served_rows - self.matched_rows

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "timestamp": self.timestamp, "served_rows": self.served_rows,
                "matched_rows": self.matched_rows, "unmatched_rows": self.unmatched_rows,
                "features": [f.to_dict() for f in self.features],
                "not_compared": dict(self.not_compared)}


def training_serving_skew(served: pd.DataFrame, offline: pd.DataFrame, *,
                          key: str | Sequence[str], timestamp: str | None = None,
                          served_time: str = "logged_at",
                          features: Sequence[str] | None = None, rtol: float = 1e-6,
                          atol: float = 1e-9) -> SkewReport:
    """Compare ``served`` rows with ``offline`` rows of the same ``key`` (see the module
    docstring). ``timestamp``: the offline event-time column (then ``served_time``, in
    seconds since the epoch or datetimes, is the served rows' time); without it the
    offline table must hold one row per key. ``features``: default every column both have
    besides the key and times."""
    keys = [key] if isinstance(key, str) else list(key)
    if not keys:
        raise ValidationError("key: name the entity column(s) both sides carry")
    for side, frame in (("served", served), ("offline", offline)):
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            hint = (" (log it with the deployment's log_fields, or pass a key the model "
                    "reads)" if side == "served" else "")
            raise ValidationError(f"the {side} rows have no key column {missing[0]!r}{hint}; "
                                  f"they have: {', '.join(map(str, frame.columns)) or 'none'}")
    if timestamp is not None:
        for side, frame, column in (("offline", offline, timestamp),
                                    ("served", served, served_time)):
            if column not in frame.columns:
                raise ValidationError(f"the {side} rows have no time column {column!r}")
    skip = {*keys, timestamp, served_time}
    shared = [c for c in offline.columns if c in served.columns and c not in skip]
    names = list(features) if features is not None else shared
    not_compared = {name: ("not in the served inputs" if name not in served.columns
                           else "not in the offline rows")
                    for name in names if name not in shared}
    names = [n for n in names if n in shared]
    joined = _join(served.reset_index(drop=True), offline, keys, timestamp, served_time)
    matched = joined["__matched"].to_numpy()
    report = [_compare(name, joined.loc[matched], keys, rtol, atol) for name in names]
    return SkewReport(keys, timestamp, len(served), int(matched.sum()), report, not_compared)


def _join(served: pd.DataFrame, offline: pd.DataFrame, keys: list[str],
          timestamp: str | None, served_time: str) -> pd.DataFrame:
    right = offline.rename(columns={c: f"{c}__offline" for c in offline.columns
                                    if c not in keys and c != timestamp}).assign(__matched=True)
    if timestamp is None:
        duplicated = right.duplicated(keys)
        if duplicated.any():
            row = right.loc[duplicated, keys].iloc[0].to_dict()
            raise ValidationError(f"the offline rows hold more than one row for {row}; give "
                                  "the event-time column (timestamp) to join as of the "
                                  "time each row was served")
        joined = served.merge(right, on=keys, how="left", validate="many_to_one")
    else:
        left = served.assign(__at=_as_time(served[served_time], served_time),
                             __order=np.arange(len(served)))
        right = right.assign(__at=_as_time(right[timestamp], timestamp))
        right = right.dropna(subset=["__at"]).sort_values("__at")
        left = left.sort_values("__at", kind="stable")
        if left["__at"].isna().any():
            raise ValidationError(f"the served rows have a missing {served_time!r}")
        joined = (pd.merge_asof(left, right.drop(columns=[timestamp]), on="__at", by=keys,
                                direction="backward")
                  .sort_values("__order").reset_index(drop=True))
    joined["__matched"] = joined["__matched"].eq(True)
    return joined


def _as_time(values: pd.Series, name: str) -> pd.Series:
    """Times as UTC datetimes: numbers are seconds since the epoch."""
    try:
        if pd.api.types.is_numeric_dtype(values):
            return pd.to_datetime(values, unit="s", utc=True)
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"column {name!r}: not a time ({exc})") from None


def _compare(name: str, rows: pd.DataFrame, keys: list[str], rtol: float,
             atol: float) -> FeatureSkew:
    served, offline = rows[name], rows[f"{name}__offline"]
    served_na, offline_na = served.isna().to_numpy(), offline.isna().to_numpy()
    both = ~served_na & ~offline_na
    differ = np.zeros(len(rows), dtype=bool)
    a, b = served[both], offline[both]
    numbers = (pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce"))
    numeric = numbers[0].notna().to_numpy() & numbers[1].notna().to_numpy()
    unequal = np.empty(int(both.sum()), dtype=bool)
    unequal[numeric] = ~np.isclose(numbers[0].to_numpy(dtype=float)[numeric],
                                   numbers[1].to_numpy(dtype=float)[numeric],
                                   rtol=rtol, atol=atol)
    unequal[~numeric] = (a[~numeric].astype(str).to_numpy()
                         != b[~numeric].astype(str).to_numpy())
    differ[both] = unequal
    differ |= served_na ^ offline_na
    examples = [{**{k: _plain(row[k]) for k in keys}, "served": _plain(row[name]),
                 "offline": _plain(row[f"{name}__offline"])}
                for _, row in rows.loc[differ].head(EXAMPLES).iterrows()]
    return FeatureSkew(name, len(rows), int(differ.sum()),
                       int((served_na & ~offline_na).sum()),
                       int((~served_na & offline_na).sum()), examples)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else (
        value.isoformat() if hasattr(value, "isoformat") else value)

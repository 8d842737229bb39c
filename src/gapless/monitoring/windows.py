"""Windows over the prediction log: service, input and output metrics per time bucket.

Any window length (``5m``, ``1h``, ``1d``, ``30s``) cuts an endpoint's logged predictions
into buckets aligned to the epoch, per model version and variant. The log is read as a
stream (``yield_per``) and every statistic is accumulated incrementally, so memory does
not grow with the number of rows: counts and sums for rates, shares, means and standard
deviations, and a :class:`LatencySketch` (a log-spaced histogram with 1 % wide bins)
for latency quantiles, whose error is at most half a bin (0.5 %).

Per bucket: **service** (requests, requests per second, errors = status 500, error
rate, latency p50/p95/p99), **inputs** per feature (missing share; for numbers the share
outside the training range of the signature, mean and standard deviation; for
categories the share never seen in training), and **outputs** (null share; for labels
(text, booleans, integers) the share of each class; for numbers (floats, or any value of
a regression signature) mean and standard deviation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from gapless.core.errors import ValidationError
from gapless.core.schema import Signature
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import predictions

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STREAM_ROWS = 20_000


def parse_window(text: str | float) -> float:
    """Seconds in a window such as ``90s``, ``5m``, ``1h``, ``7d`` (or a number of seconds)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
        if match is None:
            raise ValidationError(f"window {text!r}: expected a number and a unit s, m, h or "
                                  "d, such as 5m or 1h")
        seconds = float(match.group(1)) * UNITS[match.group(2)]
    if not seconds > 0:
        raise ValidationError(f"window {text!r}: must be longer than zero")
    return seconds


class LatencySketch:
    """Latency quantiles in bounded memory: counts in log-spaced bins from 1 us to 1000 s,
    each 1 % wide, so a quantile is off by at most 0.5 %; sketches add up."""

    LOW_MS, HIGH_MS, RATIO = 1e-3, 1e6, 1.01
    BINS = int(math.ceil(math.log(HIGH_MS / LOW_MS) / math.log(RATIO))) + 2

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)

    def add(self, latencies_ms: Any) -> None:
        values = np.clip(np.asarray(latencies_ms, dtype=np.float64), self.LOW_MS, self.HIGH_MS)
        index = np.floor(np.log(values / self.LOW_MS) / math.log(self.RATIO)).astype(np.int64) + 1
        np.add.at(self.counts, index, 1)

    def merge(self, other: LatencySketch) -> None:
        self.counts += other.counts

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in milliseconds (the middle of its bin); None when empty."""
        total = self.count
        if not total:
            return None
        rank = max(1, math.ceil(q * total))
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        return self.LOW_MS * self.RATIO ** (index - 0.5)


@dataclass
class _Moments:
    """Count, mean and variance by Welford's update, chunk by chunk."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        n, mean = len(values), float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None


@dataclass
class FeatureWindow:
    name: str
    values: int = 0
    missing: int = 0
    outside: int = 0  # numbers outside the training range, or categories never seen
    moments: _Moments = field(default_factory=_Moments)

    @property
    def missing_share(self) -> float | None:
        total = self.values + self.missing
        return self.missing / total if total else None

    @property
    def outside_share(self) -> float | None:
        return self.outside / self.values if self.values else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values, "missing_share": self.missing_share,
                "outside_share": self.outside_share,
                "mean": self.moments.mean if self.moments.count else None,
                "std": self.moments.std}


@dataclass
class Window:
    """One bucket of one endpoint, model version and variant."""

    start: float
    seconds: float
    endpoint: str
    version: int
    variant: str
    requests: int = 0
    errors: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    features: dict[str, FeatureWindow] = field(default_factory=dict)
    nulls: int = 0  # answered rows whose output is null or NaN
    classes: dict[str, int] = field(default_factory=dict)
    output: _Moments = field(default_factory=_Moments)

    @property
    def rate_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        answered = self.requests - self.errors
        return {
            "start": self.start, "seconds": self.seconds, "endpoint": self.endpoint,
            "version": self.version, "variant": self.variant, "requests": self.requests,
            "rate_per_s": self.rate_per_s, "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": {f"p{int(q * 100)}": self.latency.quantile(q)
                           for q in (0.5, 0.95, 0.99)},
            "inputs": [f.to_dict() for f in self.features.values()],
            "outputs": {
                "null_share": self.nulls / answered if answered else None,
                "classes": ({k: v / sum(self.classes.values()) for k, v in self.classes.items()}
                            if self.classes else None),
                "mean": self.output.mean if self.output.count else None,
                "std": self.output.std},
        }


def windows(store: MetadataStore, endpoint: str, *, window: str | float = "5m",
            since: float | None = None, until: float | None = None,
            signature: Signature | None = None, inputs: bool = True) -> list[Window]:
    """The endpoint's primary predictions cut into windows, oldest first (see the module
    docstring). ``signature``: the training signature inputs are checked against (by
    default none: ranges and unseen categories are not judged). ``inputs=False`` skips
    reading the logged inputs (service and output metrics only; much faster)."""
    seconds = parse_window(window)
    found: dict[tuple[int, int, str], Window] = {}
    for chunk in _stream(store, endpoint, since, until, inputs):
        buckets = np.floor(np.asarray([r.created_at for r in chunk]) / seconds).astype(np.int64)
        groups: dict[tuple[int, int, str], list[int]] = {}
        for i, (row, bucket) in enumerate(zip(chunk, buckets, strict=True)):
            groups.setdefault((int(bucket), row.version, row.variant), []).append(i)
        for key, members in groups.items():
            target = found.get(key)
            if target is None:
                target = found[key] = Window(key[0] * seconds, seconds, endpoint, key[1], key[2])
            _absorb(target, [chunk[i] for i in members], signature, inputs)
    return [found[key] for key in sorted(found)]


def _stream(store: MetadataStore, endpoint: str, since: float | None, until: float | None,
            inputs: bool) -> Iterator[list[Any]]:
    p = predictions
    columns = [p.c.created_at, p.c.version, p.c.variant, p.c.status, p.c.latency_ms,
               p.c.outputs_json] + ([p.c.inputs_json] if inputs else [])
    stmt = sa.select(*columns).where(p.c.endpoint == endpoint, p.c.role == "primary")
    yield from stream_rows(store, stmt, since, until)


def last_logged_at(store: MetadataStore, endpoints: list[str]) -> float | None:
    """When the newest prediction of any of ``endpoints`` was logged; None if never."""
    p = predictions
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.max(p.c.created_at))
                            .where(p.c.endpoint.in_(endpoints))).scalar()


def stream_rows(store: MetadataStore, stmt: Any, since: float | None,
                until: float | None) -> Iterator[list[Any]]:
    """The rows of ``stmt`` (a select over ``predictions``) made in ``[since, until)``,
    oldest first, in chunks of :data:`STREAM_ROWS`: memory stays flat."""
    p = predictions
    if since is not None:
        stmt = stmt.where(p.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(p.c.created_at < until)
    with store.read() as conn:
        result = conn.execution_options(yield_per=STREAM_ROWS).execute(
            stmt.order_by(p.c.created_at))
        yield from result.partitions()


def _absorb(window: Window, rows: list[Any], signature: Signature | None,
            inputs: bool) -> None:
    window.requests += len(rows)
    window.errors += sum(1 for r in rows if r.status >= 500)
    window.latency.add([r.latency_ms for r in rows])
    numbers: list[float] = []
    # Labels are text, booleans or integers; numbers are floats, or anything a regression
    # signature says is a value.
    regression = signature is not None and signature.output.classes is None
    for row in rows:
        if row.status >= 500:
            continue
        value = json.loads(row.outputs_json)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            window.nulls += 1
        elif isinstance(value, float) or (regression and isinstance(value, int)
                                          and not isinstance(value, bool)):
            numbers.append(float(value))
        else:
            window.classes[str(value)] = window.classes.get(str(value), 0) + 1
    window.output.add(np.asarray(numbers, dtype=np.float64))
    if inputs:
        _absorb_inputs(window, [json.loads(r.inputs_json) for r in rows], signature)


def _absorb_inputs(window: Window, records: list[Any], signature: Signature | None) -> None:
    names = (signature.names if signature is not None
             else sorted({k for r in records if isinstance(r, dict) for k in r}))
    for name in names:
        feature = window.features.setdefault(name, FeatureWindow(name))
        values = [r.get(name) if isinstance(r, dict) else None for r in records]
        present = [v for v in values if v is not None
                   and not (isinstance(v, float) and math.isnan(v))]
        feature.missing += len(values) - len(present)
        feature.values += len(present)
        column = signature.column(name) if signature is not None else None
        numbers = np.asarray([v for v in present if isinstance(v, int | float)
                              and not isinstance(v, bool)], dtype=np.float64)
        if len(numbers) and (column is None or column.type in ("integer", "float")):
            feature.moments.add(numbers)
            if column is not None and isinstance(column.minimum, int | float) \
                    and isinstance(column.maximum, int | float):
                feature.outside += int(((numbers < column.minimum)
                                        | (numbers > column.maximum)).sum())
        elif column is not None and column.categories:
            known = {str(c) for c in column.categories}
            feature.outside += sum(1 for v in present if str(v) not in known)

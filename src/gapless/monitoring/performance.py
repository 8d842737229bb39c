"""Concept drift: how well a model does per window, once feedback labels arrive.

:func:`performance_windows` joins an endpoint's answered primary predictions (status 200)
to their feedback label (the latest label per prediction id on that endpoint, as
:func:`gapless.serving.feedback.read_predictions` joins them) and cuts them into windows
of the prediction's ``created_at``, aligned to the epoch like
:mod:`gapless.monitoring.windows`, per model version and variant. Each window counts its
``predictions`` and how many of them are ``labelled`` (so label coverage shows) and
``scored`` (labelled with an output to compare), and measures:

* classification (``binary``/``multiclass``, or inferred when every label and output is
  text, a boolean or an integer): ``accuracy``; for binary also ``precision``,
  ``recall`` and ``f1`` of the positive class (the larger label, or ``positive_label``);
  for multiclass ``macro_precision``, ``macro_recall`` and ``macro_f1`` (the unweighted
  mean over the classes among the labels and predictions, as scikit-learn's ``macro``);
* regression: ``mae``, ``rmse`` and ``mean_error`` (prediction minus truth: the bias);
* recommendation (an output with ``items``; the label is the item the user then chose):
  ``hit_rate`` (the label was among the recommended items) and ``mrr`` (1 / its rank).

For classifiers whose probabilities were logged, each window also carries the same
metrics **estimated without labels** from the model's confidence (every row counts, not
only labelled ones; see :mod:`gapless.monitoring.estimated`), optionally calibrated on the
labelled rows logged before ``calibrate_until``; shown beside the realized ones, they
warn of a drop while labels are still on their way.

The log is streamed and each window keeps only counts (a confusion table, or sums of
errors), so memory does not grow with the number of rows. :func:`concept_drift` then
judges each window against a reference (such as the model's test metrics); it is pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ValidationError
from gapless.monitoring.estimated import (
    Calibration,
    CalibrationTally,
    ConfidenceTally,
    expected_confusion,
)
from gapless.monitoring.windows import parse_window, stream_rows
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import feedback, predictions

PROBLEMS = ("binary", "multiclass", "regression", "recommendation")
HIGHER_IS_BETTER = ("accuracy", "precision", "recall", "f1", "macro_precision",
                    "macro_recall", "macro_f1", "hit_rate", "mrr")
LOWER_IS_BETTER = ("mae", "rmse", "mean_error")  # mean_error: judged by its size
METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER


@dataclass
class _Tally:
    """What one window keeps: a confusion table of (truth, prediction) JSON texts while
    the problem may be classification, and error sums for regression."""

    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    count: int = 0  # pairs of numbers
    error: float = 0.0
    absolute: float = 0.0
    squared: float = 0.0
    confidence: ConfidenceTally = field(default_factory=ConfidenceTally)
    ranked: int = 0  # recommendations with a label (the item the user then chose)
    hits: int = 0  # ... whose label was among the recommended items
    reciprocal: float = 0.0  # sum of 1 / the label's rank in them


@dataclass
class PerformanceWindow:
    """One bucket of one endpoint, model version and variant; ``metrics`` is empty when
    nothing in it could be scored."""

    start: float
    seconds: float
    endpoint: str
    version: int
    variant: str
    predictions: int = 0
    labelled: int = 0
    scored: int = 0
    problem: str | None = None
    positive_label: Any = None
    metrics: dict[str, float] = field(default_factory=dict)
    estimated_rows: int = 0  # rows with logged probabilities, labelled or not
    estimated: dict[str, float] = field(default_factory=dict)
    calibrated_on: int | None = None  # labelled rows the estimate was calibrated on

    @property
    def coverage(self) -> float | None:
        """The share of the window's predictions that have a label."""
        return self.labelled / self.predictions if self.predictions else None

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "seconds": self.seconds, "endpoint": self.endpoint,
                "version": self.version, "variant": self.variant,
                "predictions": self.predictions, "labelled": self.labelled,
                "scored": self.scored, "coverage": self.coverage, "problem": self.problem,
                "positive_label": self.positive_label, "metrics": dict(self.metrics),
                "estimated_rows": self.estimated_rows, "estimated": dict(self.estimated),
                "calibrated_on": self.calibrated_on}


@dataclass(frozen=True)
class PerformanceVerdict:
    """Whether one window's ``metric`` is worse than allowed; ``drifted`` is None (and
    ``reason`` says why) when the window cannot be judged."""

    window: PerformanceWindow
    metric: str
    value: float | None
    reference: float | None
    drop: float | None  # how much worse than the reference (positive = worse)
    drifted: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.window.start, "version": self.window.version,
                "variant": self.window.variant, "metric": self.metric, "value": self.value,
                "reference": self.reference, "drop": self.drop, "drifted": self.drifted,
                "reason": self.reason}


@dataclass(frozen=True)
class PerformanceReport:
    """Windows of one endpoint and, when bounds were given, a verdict per window."""

    endpoint: str
    metric: str
    reference: Mapping[str, float]
    windows: list[PerformanceWindow]
    verdicts: list[PerformanceVerdict]
    model: str | None = None

    @property
    def drifted(self) -> list[PerformanceVerdict]:
        return [v for v in self.verdicts if v.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "model": self.model, "metric": self.metric,
                "reference": dict(self.reference),
                "windows": [w.to_dict() for w in self.windows],
                "verdicts": [v.to_dict() for v in self.verdicts]}


def performance_windows(store: MetadataStore, endpoint: str, *, window: str | float = "1h",
                        since: float | None = None, until: float | None = None,
                        problem: str | None = None, positive_label: Any = None,
                        calibrate_until: float | None = None, variant: str | None = None,
                        combined: bool = False) -> list[PerformanceWindow]:
    """The endpoint's labelled performance per window, oldest first (see the module
    docstring). ``problem``: binary, multiclass, regression or recommendation (hit rate
    and MRR of the label among the recommended items; default: inferred from the
    labels and outputs); ``positive_label``: the positive class of a binary problem
    (default: the larger of the labels seen); ``calibrate_until``: calibrate the estimate
    without labels on the labelled rows logged before this time (default: trust the
    model's probabilities as they are); ``variant``: only that variant's predictions;
    ``combined``: one window per bucket over every version and variant (version 0,
    variant ``all``), as an alert rule judges them."""
    if problem is not None and problem not in PROBLEMS:
        raise ValidationError(f"problem {problem!r}: expected one of {', '.join(PROBLEMS)} "
                              "or None to infer it from the labels")
    seconds = parse_window(window)
    found: dict[tuple[int, int, str], tuple[PerformanceWindow, _Tally]] = {}
    numeric_seen = False  # a float among the labels or outputs: regression, unless told
    calibration = CalibrationTally()
    for chunk in _stream(store, endpoint, since, until, variant):
        for row in chunk:
            key = ((math.floor(row.created_at / seconds), 0, "all") if combined
                   else (math.floor(row.created_at / seconds), row.version, row.variant))
            entry = found.get(key)
            if entry is None:
                entry = found[key] = (PerformanceWindow(key[0] * seconds, seconds, endpoint,
                                                        key[1], key[2]), _Tally())
            target, tally = entry
            target.predictions += 1
            output = None
            if row.probabilities_json is not None and problem != "regression" and not (
                    problem is None and numeric_seen):
                output = json.loads(row.outputs_json)
                pairs = _pairs(row.probabilities_json) if _is_label(output) else None
                if pairs:
                    tally.confidence.add(_label_key(output), pairs)
                    if (row.label_json is not None and calibrate_until is not None
                            and row.created_at < calibrate_until):
                        truth = json.loads(row.label_json)
                        if _is_label(truth):
                            calibration.add(_label_key(truth), pairs)
            if row.label_json is None:
                continue
            target.labelled += 1
            truth = json.loads(row.label_json)
            if output is None:
                output = json.loads(row.outputs_json)
            if _ranked(output):  # a recommender's answer: did it list what was chosen?
                items = [str(item) for item in output["items"]]
                tally.ranked += 1
                if str(truth) in items:
                    tally.hits += 1
                    tally.reciprocal += 1.0 / (items.index(str(truth)) + 1)
                continue
            if _is_number(truth) and _is_number(output):
                tally.count += 1
                difference = float(output) - float(truth)
                tally.error += difference
                tally.absolute += abs(difference)
                tally.squared += difference * difference
            if problem == "regression" or (problem is None and numeric_seen):
                continue
            if problem is None and (isinstance(truth, float) or isinstance(output, float)):
                numeric_seen = True
                for _, other in found.values():
                    other.confusion.clear()  # bounded memory: floats are not classes
                    other.confidence = ConfidenceTally()
                continue
            if _is_label(truth) and _is_label(output):
                pair = (_label_key(truth), _label_key(output))
                tally.confusion[pair] = tally.confusion.get(pair, 0) + 1
    ranked = any(tally.ranked for _, tally in found.values())
    kind = problem or ("recommendation" if ranked else "regression" if numeric_seen
                       else None)
    classes = {k for _, tally in found.values()
               for pair in (*tally.confusion, *tally.confidence.counts) for k in pair}
    if kind is None:
        kind = "binary" if len(classes) <= 2 else "multiclass"
    positive = None
    if kind == "binary":
        positive = (_label_key(positive_label) if positive_label is not None
                    else _larger(classes))
    calibrated: Calibration | None = calibration.fit() if calibration.rows else None
    out = []
    for key in sorted(found):
        target, tally = found[key]
        target.problem = kind
        if kind == "recommendation":
            target.scored = tally.ranked
            target.metrics = ({"hit_rate": tally.hits / tally.ranked,
                               "mrr": tally.reciprocal / tally.ranked} if tally.ranked else {})
        elif kind == "regression":
            target.scored = tally.count
            target.metrics = _regression(tally)
        else:
            target.scored = sum(tally.confusion.values())
            target.positive_label = None if positive is None else json.loads(positive)
            target.metrics = _classification(tally.confusion, positive)
            target.estimated_rows = tally.confidence.rows
            if tally.confidence.rows:
                target.estimated = _classification(
                    expected_confusion(tally.confidence, calibrated), positive)
                target.calibrated_on = calibrated.rows if calibrated else None
        out.append(target)
    return out


def concept_drift(windows: Sequence[PerformanceWindow], reference: Mapping[str, float], *,
                  metric: str, min_labelled: int = 30, max_drop: float | None = None,
                  min_value: float | None = None, max_value: float | None = None,
                  estimated: bool = False) -> list[PerformanceVerdict]:
    """Judge each window's ``metric``: drifted when it is worse than ``reference[metric]``
    by more than ``max_drop`` (lower for the scores; higher for mae, rmse; larger in size
    for mean_error), below ``min_value`` (scores) or above ``max_value`` (errors). Windows
    with fewer than ``min_labelled`` scored labels get no verdict, and say so.
    ``estimated``: judge the metric estimated without labels instead (classifiers with
    logged probabilities; ``min_labelled`` then counts the rows it was estimated from)."""
    if metric not in METRICS:
        raise ValidationError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    if max_drop is None and min_value is None and max_value is None:
        raise ValidationError(f"metric {metric}: nothing to judge against; give max_drop "
                              "(with a reference), min_value or max_value")
    lower = metric in LOWER_IS_BETTER
    if lower and min_value is not None:
        raise ValidationError(f"metric {metric}: an error, lower is better; give max_value "
                              f"instead of min_value ({min_value})")
    if not lower and max_value is not None:
        raise ValidationError(f"metric {metric}: a score, higher is better; give min_value "
                              f"instead of max_value ({max_value})")
    base = reference.get(metric)
    if max_drop is not None and base is None:
        known = ", ".join(sorted(reference)) or "none"
        raise ValidationError(f"max_drop {max_drop}: the reference has no {metric} (it has: "
                              f"{known}); pick a metric it has, or judge by a fixed bound")
    return [_judge(w, metric, base, lower, min_labelled, max_drop, min_value, max_value,
                   estimated) for w in windows]


def _judge(window: PerformanceWindow, metric: str, base: float | None, lower: bool,
           min_labelled: int, max_drop: float | None, min_value: float | None,
           max_value: float | None, estimated: bool) -> PerformanceVerdict:
    value = (window.estimated if estimated else window.metrics).get(metric)
    drop = None
    if value is not None and base is not None:
        if metric == "mean_error":
            drop = abs(value) - abs(base)
        else:
            drop = value - base if lower else base - value

    def verdict(drifted: bool | None, reason: str) -> PerformanceVerdict:
        return PerformanceVerdict(window, metric, value, base, drop, drifted, reason)

    if estimated and window.estimated_rows < min_labelled:
        return verdict(None, f"{window.estimated_rows} rows with probabilities, fewer than "
                             f"{min_labelled}")
    if not estimated and window.scored < min_labelled:
        return verdict(None, f"{window.scored} scored labels, fewer than {min_labelled}")
    if value is None:
        what = "estimated" if estimated else "measured"
        return verdict(None, f"{metric} is not {what} for {window.problem}"
                       + (" (no probabilities logged)" if estimated else ""))
    size = abs(value) if metric == "mean_error" else value
    reasons = []
    if min_value is not None and value < min_value:
        reasons.append(f"{metric} {value:.4g} below {min_value:g}")
    if max_value is not None and size > max_value:
        reasons.append(f"{metric} {value:.4g} above {max_value:g}")
    if max_drop is not None and drop is not None and drop > max_drop:
        reasons.append(f"{drop:.4g} worse than the reference {base:.4g} (allowed {max_drop:g})")
    if reasons:
        return verdict(True, "; ".join(reasons))
    return verdict(False, "within bounds")


def _stream(store: MetadataStore, endpoint: str, since: float | None, until: float | None,
            variant: str | None) -> Iterator[Sequence[Any]]:
    p = predictions
    latest = (sa.select(feedback.c.prediction_id, sa.func.max(feedback.c.id).label("id"))
              .where(feedback.c.endpoint == endpoint)
              .group_by(feedback.c.prediction_id).subquery("latest"))
    fb = feedback.alias("fb")
    source = (p.outerjoin(latest, latest.c.prediction_id == p.c.prediction_id)
              .outerjoin(fb, fb.c.id == latest.c.id))
    stmt = (sa.select(p.c.created_at, p.c.version, p.c.variant, p.c.outputs_json,
                      p.c.probabilities_json, fb.c.label_json)
            .select_from(source)
            .where(p.c.endpoint == endpoint, p.c.role == "primary", p.c.status == 200))
    if variant is not None:
        stmt = stmt.where(p.c.variant == variant)
    yield from stream_rows(store, stmt, since, until)


def _pairs(text: str) -> list[tuple[str, float]] | None:
    """Logged ``[[label, p], ...]`` as (label key, probability); None when malformed."""
    try:
        found = [(_label_key(label), float(p)) for label, p in json.loads(text)
                 if _is_label(label)]
    except (TypeError, ValueError):
        return None
    return found if all(0.0 <= p <= 1.0 for _, p in found) else None


def _ranked(output: Any) -> bool:
    return isinstance(output, dict) and isinstance(output.get("items"), list)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_label(value: Any) -> bool:
    return isinstance(value, str | bool | int) or (isinstance(value, float)
                                                   and value.is_integer())


def _label_key(value: Any) -> str:
    """The JSON text a label is compared by; 1.0 is the label 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def _larger(keys: set[str]) -> str | None:
    if not keys:
        return None
    values = [json.loads(k) for k in keys]
    try:
        return _label_key(max(values))
    except TypeError:  # labels of mixed types: compare their text
        return max(keys)


def _regression(tally: _Tally) -> dict[str, float]:
    if not tally.count:
        return {}
    return {"mae": tally.absolute / tally.count,
            "rmse": math.sqrt(tally.squared / tally.count),
            "mean_error": tally.error / tally.count}


def _classification(confusion: Mapping[tuple[str, str], int],
                    positive: str | None) -> dict[str, float]:
    total = sum(confusion.values())
    if not total:
        return {}
    metrics = {"accuracy": sum(n for (t, o), n in confusion.items() if t == o) / total}
    if positive is None:
        return {**metrics, **_macro(confusion)}
    tp = sum(n for (t, o), n in confusion.items() if t == positive and o == positive)
    predicted = sum(n for (_, o), n in confusion.items() if o == positive)
    actual = sum(n for (t, _), n in confusion.items() if t == positive)
    precision = tp / predicted if predicted else 0.0  # as scikit-learn, zero_division=0
    recall = tp / actual if actual else 0.0
    f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return {**metrics, "precision": precision, "recall": recall, "f1": f1}


def _macro(confusion: Mapping[tuple[str, str], float]) -> dict[str, float]:
    classes = {k for pair in confusion for k in pair}
    precision, recall, f1 = [], [], []
    for label in classes:
        tp = confusion.get((label, label), 0)
        predicted = sum(n for (_, o), n in confusion.items() if o == label)
        actual = sum(n for (t, _), n in confusion.items() if t == label)
        precision.append(tp / predicted if predicted else 0.0)
        recall.append(tp / actual if actual else 0.0)
        f1.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
    return {"macro_precision": sum(precision) / len(classes),
            "macro_recall": sum(recall) / len(classes), "macro_f1": sum(f1) / len(classes)}

"""Alert rules: what to watch on an endpoint, when it is bad, and what to do then.

A rules file is YAML (or the same shape as a dict or list)::

    rules:
      - name: churn-errors            # unique; the cooldown is kept per rule and endpoint
        endpoint: churn
        metric: error_rate            # a dotted path into a window (see METRICS below)
        window: 5m                    # default 5m; the latest *complete* window is judged
        condition: "> 0.05"           # >, >=, <, <=, ==, != and a number
        cooldown: 30m                 # default 30m; no second alert inside it
        variant: canary               # optional; default: every version and variant together
        lag: 1d                       # optional; judge the latest window that ended this long
                                      # ago (labels arrive late); default 0
        min_rows: 100                 # optional; fewer rows in the window: no verdict
                                      # (default 30 for drift and performance, else 0)
        actions:                      # default [log]
          - log
          - webhook: https://hooks.example.com/gapless     # or {url: ..., timeout: 2}
          - pipeline: retrain-churn   # a trigger the retraining scheduler consumes

Metrics: ``requests``, ``rate_per_s``, ``errors``, ``error_rate``,
``latency_ms.p50|p95|p99``, ``outputs.null_share|mean|std``, ``outputs.classes.LABEL``,
``inputs.FEATURE.missing_share|outside_share|mean|std``; the drift metrics
``drift_share`` and ``dataset_drift`` (1 when the dataset drifts, else 0), judged by
:func:`gapless.monitoring.drift_windows.drift_windows` between a reference frame and the
window's logged inputs (streamed, in bounded memory); and concept drift:
``performance.METRIC`` from feedback labels and ``estimated.METRIC`` from the model's
confidence (METRIC: accuracy, precision, recall, f1, macro_precision, macro_recall,
macro_f1, mae, rmse, mean_error; see :mod:`gapless.monitoring.performance`). For those,
``min_rows`` counts the labelled rows, or the rows with logged probabilities.
Everything here is pure: parsing, and reading a value out of a window.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError
from gapless.monitoring.performance import METRICS as PERFORMANCE
from gapless.monitoring.windows import parse_window
from gapless.stores.specfiles import read_yaml

SERVICE = ("requests", "rate_per_s", "errors", "error_rate")
LATENCY = ("p50", "p95", "p99")
OUTPUT = ("null_share", "mean", "std")
INPUT = ("missing_share", "outside_share", "mean", "std")
DRIFT = ("drift_share", "dataset_drift")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt}
ACTIONS = ("log", "webhook", "pipeline")
PERFORMANCE_SOURCES = ("performance", "estimated")
MIN_ROWS_JUDGED = 30  # the default min_rows of drift and performance rules
FIELDS = ("name", "endpoint", "metric", "window", "condition", "cooldown", "variant",
          "lag", "min_rows", "actions")
REQUIRED = ("name", "endpoint", "metric", "condition")
WEBHOOK_TIMEOUT = 5.0
_CONDITION = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")


@dataclass(frozen=True)
class Action:
    """``kind`` is log, webhook or pipeline; ``target`` the URL or the pipeline's name."""

    kind: str
    target: str | None = None
    timeout: float = WEBHOOK_TIMEOUT


@dataclass(frozen=True)
class AlertRule:
    name: str
    endpoint: str
    metric: str
    condition: str
    window: float = 300.0
    cooldown: float = 1800.0
    variant: str | None = None
    actions: tuple[Action, ...] = (Action("log"),)
    lag: float = 0.0
    min_rows: int | None = None  # None: MIN_ROWS_JUDGED for drift and performance, else 0

    @property
    def is_drift(self) -> bool:
        return self.metric in DRIFT

    @property
    def is_performance(self) -> bool:
        return self.metric.split(".")[0] in PERFORMANCE_SOURCES

    @property
    def least_rows(self) -> int:
        if self.min_rows is not None:
            return self.min_rows
        return MIN_ROWS_JUDGED if self.is_drift or self.is_performance else 0

    @property
    def needs_inputs(self) -> bool:
        return self.metric.startswith("inputs.")

    @property
    def pipeline(self) -> str | None:
        return next((a.target for a in self.actions if a.kind == "pipeline"), None)

    def breached(self, value: float) -> bool:
        """Whether ``value`` meets the condition (the rule should fire)."""
        symbol, threshold = _parse_condition(self.condition)
        return OPERATORS[symbol](value, threshold)


@dataclass(frozen=True)
class AlertRules:
    """A validated, ordered set of rules with unique names."""

    rules: tuple[AlertRule, ...]

    def __iter__(self) -> Iterator[AlertRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def load(cls, source: AlertRules | str | Path | Mapping[str, Any] | Sequence[Any]
             ) -> AlertRules:
        """Rules from a YAML file, a mapping with ``rules:`` or a list of rule mappings.
        Every error names the rule and the field, what was expected and what was given."""
        if isinstance(source, AlertRules):
            return source
        where = "alert rules"
        if isinstance(source, str | Path):
            where = f"alert rules {source}"
            source = read_yaml(source, "alert rules") or {}
        if isinstance(source, Mapping):
            extra = sorted(set(source) - {"rules"})
            if extra:
                raise ValidationError(f"{where}: unknown top-level key(s) {extra}; put the "
                                      "rules in a list under 'rules:'")
            source = source.get("rules") or []
        if not isinstance(source, Sequence) or isinstance(source, str):
            raise ValidationError(f"{where}: expected a list of rules under 'rules:', got "
                                  f"{type(source).__name__}")
        rules: list[AlertRule] = []
        for index, entry in enumerate(source):
            rule = _rule(entry, f"{where}: rule #{index + 1}")
            if any(r.name == rule.name for r in rules):
                raise ValidationError(f"{where}: rule {rule.name!r}, field 'name': the name is "
                                      "used twice; rule names must be unique (the cooldown "
                                      "is kept per name)")
            rules.append(rule)
        return cls(tuple(rules))


def metric_value(rule_metric: str, window: Mapping[str, Any]) -> tuple[float | None, str]:
    """Read ``rule_metric`` out of a window's ``to_dict()``: the value (None when the
    window has none) and, when None, why."""
    parts = rule_metric.split(".")
    if parts[0] in SERVICE:
        value = window[parts[0]]
        return _number(value, "no requests in the window")
    if parts[0] == "latency_ms":
        return _number(window["latency_ms"][parts[1]], "no requests in the window")
    if parts[0] == "outputs":
        outputs = window["outputs"]
        if parts[1] == "classes":
            label = ".".join(parts[2:])
            if outputs["classes"] is None:
                return None, "no labelled outputs in the window"
            return float(outputs["classes"].get(label, 0.0)), ""
        return _number(outputs[parts[1]], f"no outputs to give {parts[1]} in the window")
    feature, stat = ".".join(parts[1:-1]), parts[-1]
    found = next((f for f in window["inputs"] if f["name"] == feature), None)
    if found is None:
        return None, f"feature {feature!r} was not logged in the window"
    return _number(found[stat], f"no values of {feature!r} to give {stat} in the window")


def _number(value: Any, reason: str) -> tuple[float | None, str]:
    return (None, reason) if value is None else (float(value), "")


def _rule(entry: Any, where: str) -> AlertRule:
    if not isinstance(entry, Mapping):
        raise ValidationError(f"{where}: expected a mapping with {list(REQUIRED)}, got "
                              f"{entry!r}")
    name = entry.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where.rsplit(': ', 1)[0]}: rule {name!r}"

    def fail(field: str, message: str) -> ValidationError:
        return ValidationError(f"{where}, field {field!r}: {message}")

    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field; a rule has {list(FIELDS)}")
    for field in REQUIRED:
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise fail(field, f"required; expected text, got {value!r}")
    metric = _check_metric(entry["metric"].strip(), fail)
    condition = entry["condition"].strip()
    try:
        _parse_condition(condition)
    except ValueError:
        raise fail("condition", "expected an operator (>, >=, <, <=, ==, !=) and a number, "
                   f"such as '> 0.05'; got {condition!r}") from None
    spans = {}
    for field, default in (("window", "5m"), ("cooldown", "30m"), ("lag", None)):
        if default is None and field not in entry:
            spans[field] = 0.0
            continue
        try:
            spans[field] = parse_window(entry.get(field, default))
        except ValidationError:
            raise fail(field, "expected a number and a unit s, m, h or d, such as 5m or 1h; "
                       f"got {entry.get(field)!r}") from None
    variant = entry.get("variant")
    if variant is not None and not isinstance(variant, str):
        raise fail("variant", f"expected a variant's name, got {variant!r}")
    least = entry.get("min_rows")
    if least is not None and (not isinstance(least, int) or isinstance(least, bool)
                              or least < 0):
        raise fail("min_rows", f"expected a count of rows >= 0, got {least!r}")
    actions = tuple(_action(a, fail) for a in (entry.get("actions") or ["log"]))
    if sum(1 for a in actions if a.kind == "pipeline") > 1:
        raise fail("actions", "at most one pipeline per rule; write a second rule for "
                   "another pipeline")
    return AlertRule(name=entry["name"].strip(), endpoint=entry["endpoint"].strip(),
                     metric=metric, condition=condition, window=spans["window"],
                     cooldown=spans["cooldown"], variant=variant, actions=actions,
                     lag=spans["lag"], min_rows=least)


def _check_metric(metric: str, fail: Callable[[str, str], ValidationError]) -> str:
    parts = metric.split(".")
    ok = (
        (len(parts) == 1 and parts[0] in SERVICE + DRIFT)
        or (parts[0] == "latency_ms" and len(parts) == 2 and parts[1] in LATENCY)
        or (parts[0] == "outputs" and len(parts) == 2 and parts[1] in OUTPUT)
        or (parts[:2] == ["outputs", "classes"] and len(parts) >= 3 and all(parts[2:]))
        or (parts[0] == "inputs" and len(parts) >= 3 and parts[-1] in INPUT
            and all(parts[1:-1]))
        or (parts[0] in PERFORMANCE_SOURCES and len(parts) == 2 and parts[1] in PERFORMANCE)
    )
    if not ok:
        raise fail("metric", f"unknown metric {metric!r}; expected one of {list(SERVICE)}, "
                   f"latency_ms.{{{','.join(LATENCY)}}}, outputs.{{{','.join(OUTPUT)}}}, "
                   "outputs.classes.LABEL, "
                   f"inputs.FEATURE.{{{','.join(INPUT)}}}, {', '.join(DRIFT)}, or "
                   f"performance|estimated.{{{','.join(PERFORMANCE)}}}")
    return metric


def _parse_condition(condition: str) -> tuple[str, float]:
    match = _CONDITION.fullmatch(condition)
    if match is None:
        raise ValueError(condition)
    return match.group(1), float(match.group(2))


def _action(spec: Any, fail: Callable[[str, str], ValidationError]) -> Action:
    expected = ("expected 'log', 'webhook: URL' (or {webhook: {url: URL, timeout: "
                "SECONDS}}) or 'pipeline: NAME'")
    if spec == "log":
        return Action("log")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise fail("actions", f"unknown action {spec!r}; {expected}")
    ((kind, value),) = spec.items()
    if kind == "pipeline":
        if not isinstance(value, str) or not value.strip():
            raise fail("actions", f"pipeline: expected a pipeline's name, got {value!r}")
        return Action("pipeline", value.strip())
    if kind != "webhook":
        raise fail("actions", f"unknown action {kind!r}; {expected}")
    url, timeout = value, WEBHOOK_TIMEOUT
    if isinstance(value, Mapping):
        url, timeout = value.get("url"), value.get("timeout", WEBHOOK_TIMEOUT)
        if (not isinstance(timeout, int | float) or isinstance(timeout, bool)
                or not timeout > 0):
            raise fail("actions", f"webhook timeout: expected seconds > 0, got {timeout!r}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise fail("actions", f"webhook: expected an http:// or https:// URL, got {url!r}")
    return Action("webhook", url, float(timeout))

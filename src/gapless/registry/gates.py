"""Promotion gates: what a version must show before an alias may point at it.

Declared in YAML, either one set of gates for every alias or per alias::

    aliases:
      production:
        metrics: {roc_auc: {min: 0.75}, log_loss: {max: 0.6}}
        beat_current: {metric: roc_auc, delta: 0.005}   # scored on the same rows
        behavioural: true        # the behavioural tests recorded at training passed
        fairness: true           # the fairness thresholds recorded at training held
        data_validation: passed  # passed | not_failed | off
      default: {}

The checks are pure functions over facts the registry gathers (recorded metrics,
evaluation results, validation status, two scores on one evaluation set): facts in,
one :class:`GateResult` per gate out, every failing reason kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gapless.core.errors import ValidationError


class MetricBound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> MetricBound:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class BeatCurrent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    delta: float = 0.0  # negative: a tolerated loss ("no worse than 0.01 below")
    # Dataset version to score both models on; default: the candidate's own test split.
    data: str | None = None
    # A version to beat (NAME@VERSION) instead of the alias's holder: champion-challenger
    # compares with the deployed champion.
    against: str | None = None


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: dict[str, MetricBound] = Field(default_factory=dict)
    beat_current: BeatCurrent | None = None
    behavioural: bool = True
    fairness: bool = True
    data_validation: Literal["passed", "not_failed", "off"] = "not_failed"


@dataclass(frozen=True)


class GateResult:
    gate: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gates(source: GateSpec | Mapping[str, Any] | str | Path | None,
               alias: str) -> GateSpec:
    """The gates that guard ``alias``: from a GateSpec, a mapping or a YAML file."""
    if isinstance(source, GateSpec):
        return source
    if source is None:
        return GateSpec()
    where = "gates"
    if isinstance(source, str | Path):
        import yaml

        where = str(source)
        try:
            source = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ValidationError(f"gates file {where} does not exist") from None
        except (OSError, yaml.YAMLError) as exc:
            raise ValidationError(f"gates file {where} cannot be read: {exc}") from exc
    if not isinstance(source, Mapping):
        raise ValidationError(f"{where}: expected a mapping of gates, got {type(source).__name__}")
    if "aliases" in source:
        per_alias = source["aliases"] or {}
        chosen = per_alias.get(alias, per_alias.get("default", {}))
        where = f"{where}: aliases.{alias if alias in per_alias else 'default'}"
    else:
        chosen = source
    try:
        return GateSpec.model_validate(chosen or {})
    except Exception as exc:  # pydantic's ValidationError, reworded with the field path
        errors = getattr(exc, "errors", lambda: [])()
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in errors) or str(exc)
        raise ValidationError(f"{where}: {reasons}") from exc


def check_metrics(spec: GateSpec, metrics: Mapping[str, float]) -> list[GateResult]:
    """Each declared bound against the test metric recorded at training (``test_NAME``)."""
    results = []
    for name, bound in spec.metrics.items():
        gate = f"metric {name}"
        value = metrics.get(f"test_{name}", metrics.get(name))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            known = sorted(k.removeprefix("test_") for k in metrics if k.startswith("test_"))
            results.append(GateResult(gate, False, f"{name} was not recorded for this version "
                                                   f"(recorded: {', '.join(known) or 'none'})"))
            continue
        problems = []
        if bound.min is not None and value < bound.min:
            problems.append(f"{value:.4g} < min {bound.min:g}")
        if bound.max is not None and value > bound.max:
            problems.append(f"{value:.4g} > max {bound.max:g}")
        results.append(GateResult(gate, not problems,
                                  "; ".join(problems) or f"{value:.4g} within bounds"))
    return results


def check_recorded(spec: GateSpec, evaluation: Mapping[str, Any] | None) -> list[GateResult]:
    """Behavioural tests and fairness thresholds, as recorded when the model was trained."""
    evaluation = evaluation or {}
    results = []
    if spec.behavioural:
        passed = evaluation.get("behavioural_passed")
        failing = [t for t in evaluation.get("behavioural") or [] if not t.get("passed")]
        if passed is None:
            results.append(GateResult("behavioural tests", True, "none declared in the spec"))
        else:
            results.append(GateResult("behavioural tests", bool(passed), "all passed" if passed
                                      else "failed: " + ", ".join(str(t.get("name"))
                                                                  for t in failing)))
    if spec.fairness:
        passed = evaluation.get("fairness_passed")
        if passed is None:
            results.append(GateResult("fairness", True, "no fairness thresholds declared"))
        else:
            broken = evaluation.get("fairness_failures") or []
            results.append(GateResult("fairness", bool(passed), "thresholds held" if passed
                                      else "thresholds broken: " + ", ".join(broken)))
    return results


def check_data_validation(spec: GateSpec, status: Mapping[str, Any]) -> list[GateResult]:
    """``status``: {"passed": True/False/None, "version": "loans@1"} from the lineage."""
    if spec.data_validation == "off":
        return []
    passed, where = status.get("passed"), status.get("version")
    if passed is None:
        ok = spec.data_validation == "not_failed"
        detail = "no validation recorded for the training data or its ancestors"
        return [GateResult("data validation", ok, detail + ("" if ok else
                                                            " (the gate requires a pass)"))]
    return [GateResult("data validation", bool(passed),
                       f"{where} {'passed' if passed else 'failed'} its last validation")]


def check_beat_current(spec: GateSpec, *, candidate: float | None, holder: float | None,
                       holder_version: int | str | None, direction: str, rows: int,
                       error: str | None = None) -> list[GateResult]:
    """The candidate must beat the alias's holder (or ``against``) by ``delta`` on the same
    rows; ``holder_version`` is the holder's version number, or the reference beaten."""
    rule = spec.beat_current
    if rule is None:
        return []
    gate = f"beat current on {rule.metric}"
    if holder_version is None:
        return [GateResult(gate, True, "the alias has no holder yet")]
    if error is not None or candidate is None or holder is None:
        return [GateResult(gate, False, error or "a score could not be computed")]
    gain = candidate - holder if direction == "maximize" else holder - candidate
    beaten = (f"version {holder_version}" if isinstance(holder_version, int)
              else str(holder_version))
    detail = (f"{candidate:.4g} vs {beaten}'s {holder:.4g} on the same "
              f"{rows} rows (gain {gain:+.4g}, needed {rule.delta:+g})")
    return [GateResult(gate, gain >= rule.delta, detail)]


def evaluation_facts(evaluation_json: str | None) -> str | None:
    """The part of a training evaluation the gates and serving need, kept with the version."""
    if evaluation_json is None:
        return None
    evaluation = json.loads(evaluation_json)
    fairness = evaluation.get("fairness") or {}
    broken = [f"{report.get('attribute')}: {check['metric']} {check['value']:.3g} "
              f"(must be {check['rule']} {check['threshold']})"
              for report in fairness.get("reports", []) for check in report.get("checks", [])
              if check.get("passed") is False]
    return json.dumps({
        "problem": evaluation.get("problem"), "metric": evaluation.get("metric"),
        "direction": evaluation.get("direction"), "dataset": evaluation.get("dataset"),
        "positive_label": evaluation.get("positive_label"),
        "threshold": evaluation.get("threshold"), "cv_score": evaluation.get("cv_score"),
        "behavioural_passed": evaluation.get("behavioural_passed"),
        "behavioural": [{"name": t.get("name"), "type": t.get("type"), "passed": t.get("passed")}
                        for t in evaluation.get("behavioural") or []],
        "fairness_passed": evaluation.get("fairness_passed"),
        "fairness_failures": broken,
    }, default=str)

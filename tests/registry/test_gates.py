"""Promotion gates as pure functions: facts in, one result per gate out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gapless.core.errors import ValidationError
from gapless.registry.gates import (
    GateSpec,
    check_beat_current,
    check_data_validation,
    check_metrics,
    check_recorded,
    load_gates,
)


# -- load_gates ---------------------------------------------------------------------------
def test_gates_load_from_a_mapping_a_spec_or_nothing() -> None:
    spec = load_gates({"metrics": {"roc_auc": {"min": 0.7}}, "data_validation": "passed"},
                      "production")
    assert spec.metrics["roc_auc"].min == 0.7 and spec.metrics["roc_auc"].max is None
    assert spec.data_validation == "passed" and spec.beat_current is None
    assert load_gates(spec, "anything") is spec
    default = load_gates(None, "production")
    assert default == GateSpec() and default.behavioural and default.fairness
    assert default.data_validation == "not_failed"


def test_gates_load_from_a_yaml_file_per_alias_with_a_default(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump({"aliases": {
        "production": {"metrics": {"roc_auc": {"min": 0.75}, "log_loss": {"max": 0.6}},
                       "beat_current": {"metric": "roc_auc", "delta": 0.005}},
        "default": {"behavioural": False},
    }}))
    production = load_gates(path, "production")
    assert set(production.metrics) == {"roc_auc", "log_loss"}
    assert production.metrics["log_loss"].max == 0.6
    assert production.beat_current is not None and production.beat_current.delta == 0.005
    assert production.beat_current.data is None
    staging = load_gates(str(path), "staging")
    assert staging.behavioural is False and staging.metrics == {}


def test_aliases_without_a_default_get_the_built_in_gates(tmp_path: Path) -> None:
    spec = load_gates({"aliases": {"production": {"fairness": False}}}, "staging")
    assert spec == GateSpec()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_gates(empty, "production") == GateSpec()


def test_an_unknown_field_is_named_with_where_it_was(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="metrcs"):
        load_gates({"metrcs": {"roc_auc": {"min": 0.7}}}, "production")
    path = tmp_path / "gates.yaml"
    path.write_text("aliases:\n  production:\n    metrics:\n      roc_auc: {minimum: 0.7}\n")
    with pytest.raises(ValidationError, match=r"aliases\.production.*metrics\.roc_auc\.minimum"):
        load_gates(path, "production")
    with pytest.raises(ValidationError, match="give min, max or both"):
        load_gates({"metrics": {"roc_auc": {}}}, "production")
    with pytest.raises(ValidationError, match="data_validation"):
        load_gates({"data_validation": "sometimes"}, "production")


def test_a_missing_or_malformed_gates_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_gates(tmp_path / "nope.yaml", "production")
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics: [unclosed\n")
    with pytest.raises(ValidationError, match="cannot be read"):
        load_gates(bad, "production")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ValidationError, match="expected a mapping of gates, got list"):
        load_gates(listed, "production")


# -- check_metrics ------------------------------------------------------------------------
def test_metric_bounds_pass_fail_and_name_the_missing() -> None:
    spec = load_gates({"metrics": {"roc_auc": {"min": 0.8}, "log_loss": {"max": 0.5},
                                   "f1": {"min": 0.1, "max": 0.2}, "recall": {"min": 0.5}}},
                      "production")
    results = {r.gate: r for r in check_metrics(
        spec, {"test_roc_auc": 0.85, "test_log_loss": 0.7, "test_f1": 0.3, "cv_roc_auc": 0.8})}
    assert results["metric roc_auc"].passed and "within bounds" in results["metric roc_auc"].detail
    assert not results["metric log_loss"].passed
    assert "0.7 > max 0.5" in results["metric log_loss"].detail
    assert not results["metric f1"].passed and "> max 0.2" in results["metric f1"].detail
    missing = results["metric recall"]
    assert not missing.passed
    assert "recall was not recorded" in missing.detail
    assert "f1, log_loss, roc_auc" in missing.detail


def test_a_bare_metric_name_counts_and_nan_is_missing() -> None:
    spec = load_gates({"metrics": {"rmse": {"max": 3}, "mae": {"max": 1}}}, "production")
    results = {r.gate: r for r in check_metrics(spec, {"rmse": 2.0, "test_mae": float("nan")})}
    assert results["metric rmse"].passed
    assert not results["metric mae"].passed and "not recorded" in results["metric mae"].detail


def test_a_value_below_min_says_by_how_much() -> None:
    spec = load_gates({"metrics": {"roc_auc": {"min": 0.9}}}, "production")
    (result,) = check_metrics(spec, {"test_roc_auc": 0.75})
    assert not result.passed and result.detail == "0.75 < min 0.9"
    assert result.to_dict() == {"gate": "metric roc_auc", "passed": False,
                                "detail": "0.75 < min 0.9"}


# -- check_recorded -----------------------------------------------------------------------
def test_recorded_behavioural_and_fairness_results() -> None:
    spec = GateSpec()
    nothing = {r.gate: r for r in check_recorded(spec, None)}
    assert nothing["behavioural tests"].passed and nothing["fairness"].passed
    assert "none declared" in nothing["behavioural tests"].detail
    failing = {r.gate: r for r in check_recorded(spec, {
        "behavioural_passed": False,
        "behavioural": [{"name": "age invariance", "passed": False},
                        {"name": "income up", "passed": True}],
        "fairness_passed": False,
        "fairness_failures": ["sex: demographic_parity 0.3 (must be <= 0.1)"],
    })}
    assert not failing["behavioural tests"].passed
    assert failing["behavioural tests"].detail == "failed: age invariance"
    assert not failing["fairness"].passed
    assert "sex: demographic_parity 0.3" in failing["fairness"].detail
    passing = {r.gate: r for r in check_recorded(spec, {"behavioural_passed": True,
                                                         "fairness_passed": True})}
    assert passing["behavioural tests"].passed and passing["fairness"].passed


def test_recorded_gates_can_be_turned_off() -> None:
    spec = GateSpec(behavioural=False, fairness=False)
    assert check_recorded(spec, {"behavioural_passed": False, "fairness_passed": False}) == []


# -- check_data_validation ----------------------------------------------------------------
@pytest.mark.parametrize(("mode", "status", "passed"), [
    ("not_failed", {"passed": None}, True),
    ("not_failed", {"passed": True, "version": "loans@1"}, True),
    ("not_failed", {"passed": False, "version": "loans@1"}, False),
    ("passed", {"passed": None}, False),
    ("passed", {"passed": True, "version": "loans@1"}, True),
    ("passed", {"passed": False, "version": "loans@1"}, False),
])
def test_data_validation_modes(mode: str, status: dict, passed: bool) -> None:
    (result,) = check_data_validation(GateSpec(data_validation=mode), status)
    assert result.gate == "data validation" and result.passed is passed
    if status["passed"] is not None:
        assert "loans@1" in result.detail
    elif mode == "passed":
        assert "requires a pass" in result.detail


def test_data_validation_off_checks_nothing() -> None:
    assert check_data_validation(GateSpec(data_validation="off"), {"passed": False}) == []


# -- check_beat_current -------------------------------------------------------------------
def _beat(delta: float, metric: str = "roc_auc") -> GateSpec:
    return load_gates({"beat_current": {"metric": metric, "delta": delta}}, "production")


def test_beat_current_for_a_metric_to_maximize() -> None:
    (win,) = check_beat_current(_beat(0.01), candidate=0.82, holder=0.80, holder_version=3,
                                direction="maximize", rows=200)
    assert win.passed and win.gate == "beat current on roc_auc"
    assert "0.82 vs version 3's 0.8 on the same 200 rows" in win.detail
    assert "gain +0.02" in win.detail
    (short,) = check_beat_current(_beat(0.05), candidate=0.82, holder=0.80, holder_version=3,
                                  direction="maximize", rows=200)
    assert not short.passed and "needed +0.05" in short.detail


def test_beat_current_for_a_metric_to_minimize() -> None:
    spec = _beat(0.0, metric="log_loss")
    (lower,) = check_beat_current(spec, candidate=0.30, holder=0.35, holder_version=1,
                                  direction="minimize", rows=50)
    assert lower.passed and "gain +0.05" in lower.detail
    (higher,) = check_beat_current(spec, candidate=0.40, holder=0.35, holder_version=1,
                                   direction="minimize", rows=50)
    assert not higher.passed and "gain -0.05" in higher.detail


def test_a_negative_delta_tolerates_a_small_loss() -> None:
    spec = _beat(-0.01)
    (slightly_worse,) = check_beat_current(spec, candidate=0.795, holder=0.80, holder_version=2,
                                           direction="maximize", rows=10)
    assert slightly_worse.passed
    (much_worse,) = check_beat_current(spec, candidate=0.75, holder=0.80, holder_version=2,
                                       direction="maximize", rows=10)
    assert not much_worse.passed


def test_beat_current_without_a_holder_or_scores() -> None:
    assert check_beat_current(GateSpec(), candidate=1.0, holder=0.0, holder_version=1,
                              direction="maximize", rows=1) == []
    (first,) = check_beat_current(_beat(0.5), candidate=None, holder=None, holder_version=None,
                                  direction="", rows=0)
    assert first.passed and "no holder yet" in first.detail
    (broken,) = check_beat_current(_beat(0.0), candidate=None, holder=None, holder_version=4,
                                   direction="", rows=0, error="could not score both models")
    assert not broken.passed and broken.detail == "could not score both models"

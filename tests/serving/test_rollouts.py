"""Each strategy's spec, built from what the endpoint serves now (pure, no store)."""

from __future__ import annotations

import pytest

from gapless import ValidationError
from gapless.serving.deployments import Ramp, route, single
from gapless.serving.feature_lookup import FeaturePolicy
from gapless.serving.rollouts import rollout


def test_single_and_blue_green_replace_the_current_model_atomically() -> None:
    for strategy in ("single", "blue-green"):
        spec = rollout(single("churn@1"), "churn@2", strategy, runtime="onnx")
        assert spec.strategy == strategy
        assert [(v.model, v.weight, v.runtime) for v in spec.variants] == [
            ("churn@2", 100.0, "onnx")]
    assert rollout(None, "churn@1").variants[0].model == "churn@1"  # a new endpoint


def test_shadow_and_champion_challenger_keep_the_incumbent_answering() -> None:
    for strategy, name in (("shadow", "shadow"), ("champion-challenger", "challenger")):
        spec = rollout(single("churn@1"), "churn@2", strategy)
        assert [(v.name, v.model, v.role) for v in spec.variants] == [
            ("primary", "churn@1", "primary"), (name, "churn@2", "shadow")]
        assert route(spec, key="anyone").answer.model == "churn@1"


def test_canary_starts_at_the_first_ramp_step_and_ab_splits_by_weight() -> None:
    canary = rollout(single("churn@1"), "churn@2", "canary", ramp=Ramp(steps=[10, 50, 100]))
    assert canary.canary == "canary" and canary.ramp.steps == [10, 50, 100]
    assert [(v.name, v.model, v.weight) for v in canary.variants] == [
        ("primary", "churn@1", 90.0), ("canary", "churn@2", 10.0)]
    ab = rollout(canary, "churn@3", "ab", weight=30)
    # the incumbent is the heaviest primary of the current deployment
    assert [(v.name, v.model, v.weight) for v in ab.variants] == [
        ("a", "churn@1", 70.0), ("b", "churn@3", 30.0)]
    picks = {route(ab, key=f"user-{i}").answer.name for i in range(200)}
    assert picks == {"a", "b"}
    assert all(route(ab, key="user-7").answer.name == route(ab, key="user-7").answer.name
               for _ in range(5))


def test_strategies_that_need_an_incumbent_say_so() -> None:
    with pytest.raises(ValidationError, match="has none; deploy one first"):
        rollout(None, "churn@2", "canary")
    with pytest.raises(ValidationError, match="strategy 'fast'"):
        rollout(single("churn@1"), "churn@2", "fast")


def test_the_endpoints_own_settings_survive_every_strategy() -> None:
    current = single("churn@1").model_copy(update={
        "unknown_categories": "pass", "log_fields": ["customer_id"],
        "features": FeaturePolicy(on_missing="reject", max_age="1h")})
    for strategy in ("single", "blue-green", "shadow", "champion-challenger", "canary", "ab"):
        spec = rollout(current, "churn@2", strategy)
        assert (spec.unknown_categories, spec.log_fields, spec.features) == (
            "pass", ["customer_id"], current.features), strategy

"""Windows over the prediction log: buckets, service, input and output metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import log_predictions
from gapless import ValidationError, Workspace
from gapless.core.schema import infer_signature
from gapless.monitoring.windows import LatencySketch, parse_window, windows

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary


def row(at: float, *, age: float | None = 30.0, plan: str = "basic", output=0,  # type: ignore[no-untyped-def]
        status: int = 200, latency: float = 2.0, version: int = 1, variant: str = "primary"):
    return {"created_at": START + at, "inputs": {"age": age, "plan": plan},
            "outputs": output, "status": status, "latency_ms": latency, "version": version,
            "variant": variant}


def test_windows_cut_by_time_version_and_variant(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, [row(10), row(20, status=500, output=None), row(70),
                         row(80, version=2, variant="canary"), row(400)])
    found = windows(workspace.metadata, "churn", window="5m", inputs=False)
    assert [(w.start - START, w.version, w.variant, w.requests) for w in found] == [
        (0, 1, "primary", 3), (0, 2, "canary", 1), (300, 1, "primary", 1)]
    first = found[0].to_dict()
    assert first["errors"] == 1 and first["error_rate"] == pytest.approx(1 / 3)
    assert first["rate_per_s"] == pytest.approx(3 / 300)
    assert first["outputs"]["classes"] == {"0": 1.0} and first["inputs"] == []
    assert windows(workspace.metadata, "churn", since=START + 300)[0].requests == 1
    assert windows(workspace.metadata, "other") == []


def test_inputs_are_judged_against_the_training_signature(workspace: Workspace) -> None:
    training = pd.DataFrame({"age": [20.0, 40.0, 60.0], "plan": ["basic", "pro", "basic"]})
    signature = infer_signature(training, pd.Series([0, 1, 0]), problem="binary")
    log_predictions(workspace.metadata, [row(1, age=30.0), row(2, age=90.0), row(3, age=None),
                         row(4, age=50.0, plan="gold"), row(5, output=1)])
    (window,) = windows(workspace.metadata, "churn", window="1h", signature=signature)
    features = {f["name"]: f for f in window.to_dict()["inputs"]}
    assert features["age"]["missing_share"] == pytest.approx(1 / 5)
    assert features["age"]["outside_share"] == pytest.approx(1 / 4)  # 90 > 60
    assert features["age"]["mean"] == pytest.approx(np.mean([30, 90, 50, 30]))
    assert features["age"]["std"] == pytest.approx(np.std([30, 90, 50, 30], ddof=1))
    assert features["plan"]["outside_share"] == pytest.approx(1 / 5)  # gold never seen
    assert window.to_dict()["outputs"]["classes"] == {"0": 0.8, "1": 0.2}


def test_the_latency_sketch_is_within_a_percent_and_adds_up() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(1.0, 1.0, 100_000)
    halves = LatencySketch(), LatencySketch()
    halves[0].add(values[:50_000])
    halves[1].add(values[50_000:])
    halves[0].merge(halves[1])
    for q in (0.5, 0.95, 0.99):
        assert halves[0].quantile(q) == pytest.approx(np.quantile(values, q), rel=0.01)
    assert halves[0].count == 100_000 and LatencySketch().quantile(0.5) is None


def test_window_lengths() -> None:
    assert [parse_window(t) for t in ("30s", "5m", "1h", "1.5d", 60)] == [
        30, 300, 3600, 129600, 60]
    for bad in ("5 minutes", "0m", "-1h", ""):
        with pytest.raises(ValidationError, match="window"):
            parse_window(bad)

"""Drift over time from the prediction log, in bounded memory: verdicts per window,
the binned scores against the exact ones, no-verdict reasons, the default reference."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import log_predictions
from gapless import ValidationError, Workspace
from gapless.monitoring import stattests
from gapless.monitoring.drift_sketch import DriftAccumulator, DriftProfile
from gapless.monitoring.drift_windows import drift_windows, judge

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary
PLANS = ["basic", "pro", "team"]


def reference_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40.0, 10.0, n),
                         "plan": rng.choice(PLANS, n, p=[0.6, 0.3, 0.1]),
                         "churned": rng.integers(0, 2, n)})


def rows(at: float, n: int, *, shift: float = 0.0, plans: Any = (0.6, 0.3, 0.1),
         seed: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """``n`` logged requests spread over the minute after ``START + at``."""
    rng = np.random.default_rng(seed)
    ages = rng.normal(40.0 + shift, 10.0, n)
    chosen = rng.choice(PLANS, n, p=list(plans))
    return [{"created_at": START + at + 60 * i / n,
             "inputs": {"age": float(a), "plan": str(p)}, "outputs": 0, **fields}
            for i, (a, p) in enumerate(zip(ages, chosen, strict=True))]


def test_shifted_windows_drift_and_unshifted_ones_do_not(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, rows(10, 400) + rows(3610, 400, shift=8.0,
                                                             plans=(0.2, 0.3, 0.5), seed=2))
    log_predictions(workspace.metadata, rows(20, 50, shift=30.0, status=500, seed=3)
                    + rows(30, 50, shift=30.0, role="shadow", seed=4))  # not judged
    found = drift_windows(workspace.metadata, "churn", reference_frame(), window="1h",
                          columns=["age", "plan"])
    assert [(w.start - START, w.rows) for w in found] == [(0, 400), (3600, 400)]
    calm, shifted = found
    assert calm.drifted is False and calm.drift_share == 0.0 and calm.reason is None
    assert shifted.drifted is True and shifted.drift_share == 1.0
    assert shifted.features["age"].method == "wasserstein"
    assert shifted.features["age"].score == pytest.approx(0.8, abs=0.1)
    assert shifted.features["plan"].method == "jensen_shannon"
    assert all(f.threshold == 0.1 for f in shifted.features.values())
    assert calm.features["age"].score < 0.1 and calm.features["plan"].score < 0.1
    assert drift_windows(workspace.metadata, "churn", reference_frame(),
                         since=START + 3600)[0].rows == 400
    assert drift_windows(workspace.metadata, "other", reference_frame()) == []


def test_to_dict_has_the_keys_the_dashboard_reads(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, rows(10, 100))
    (window,) = drift_windows(workspace.metadata, "churn", reference_frame(),
                              columns=["age", "plan"])
    out = window.to_dict()
    assert list(out) == ["start", "seconds", "endpoint", "version", "variant", "rows",
                         "drift_share", "drifted", "reason", "features"]
    assert out["start"] == START and out["seconds"] == 3600 and out["endpoint"] == "churn"
    assert (out["version"], out["variant"], out["rows"]) == (1, "primary", 100)
    for feature in out["features"].values():
        assert list(feature) == ["kind", "method", "score", "threshold", "drifted",
                                 "missing", "reason"]
    assert out["features"]["age"]["kind"] == "numeric"
    assert out["features"]["plan"]["kind"] == "categorical"


def test_buckets_split_by_version_and_variant(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, rows(10, 40) + rows(20, 35, version=2,
                                                            variant="canary", seed=5))
    found = drift_windows(workspace.metadata, "churn", reference_frame(), window="30m",
                          columns=["age", "plan"])
    assert [(w.version, w.variant, w.rows) for w in found] == [(1, "primary", 40),
                                                               (2, "canary", 35)]


def accumulate(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> Any:
    """Feed ``current`` straight into an accumulator, as one bucket."""
    profile = DriftProfile(**options).fit(reference)
    accumulator = DriftAccumulator(profile, 3600)
    n = len(current)
    accumulator.add(np.full(n, START), np.ones(n, np.int64), ["primary"] * n,
                    {c: current[c] for c in current.columns})
    return accumulator


@pytest.mark.parametrize("shift, spread", [(0.0, 1.0), (0.05, 1.0), (0.3, 1.5), (2.0, 0.5)])
def test_the_binned_wasserstein_is_within_its_bound_of_the_exact_one(
        shift: float, spread: float) -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.lognormal(1.0, 0.7, 20_000),
                              "k": rng.integers(0, 20, 20_000).astype(float)})
    current = pd.DataFrame({"x": rng.lognormal(1.0 + shift, 0.7 * spread, 5_000),
                            "k": rng.integers(0, 20, 5_000) + np.round(10 * shift)})
    (window,) = judge(accumulate(reference, current), "churn")
    for name in ("x", "k"):
        exact = stattests.run("wasserstein", stattests.prepare_numeric(reference[name]),
                              stattests.prepare_numeric(current[name])).statistic
        found = window.features[name]
        assert found.score is not None and found.bound is not None
        assert found.score <= exact + 1e-9
        assert exact <= found.score + found.bound + 1e-9
        assert found.score == pytest.approx(exact, rel=0.01, abs=0.005)  # well inside


def test_psi_is_the_textbook_formula_over_the_reference_deciles() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, 10_000)})
    current = pd.DataFrame({"x": rng.normal(0.4, 1.3, 4_000)})
    (window,) = judge(accumulate(reference, current), "churn", methods={"x": "psi"})
    ordered = np.sort(reference["x"].to_numpy())
    edges = ordered[(np.arange(1, 10) * ordered.size) // 10]
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    r = np.histogram(ordered, bins)[0] / ordered.size
    c = np.histogram(current["x"].to_numpy(), bins)[0] / len(current)
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    textbook = float(np.sum((c - r) * np.log(c / r)))
    assert window.features["x"].method == "psi"
    assert window.features["x"].score == pytest.approx(textbook, rel=1e-12)
    assert window.features["x"].score == pytest.approx(stattests.run(
        "psi", stattests.prepare_numeric(reference["x"]),
        stattests.prepare_numeric(current["x"])).statistic, rel=1e-12)


def test_jensen_shannon_over_categories_matches_the_stattest() -> None:
    reference = pd.DataFrame({"plan": ["basic"] * 600 + ["pro"] * 300 + ["team"] * 100})
    current = pd.DataFrame({"plan": ["basic"] * 200 + ["pro"] * 100 + ["gold"] * 50
                            + ["free"] * 30 + [None] * 20})
    (window,) = judge(accumulate(reference, current), "churn")
    exact = stattests.run("jensen_shannon", stattests.prepare_categorical(reference["plan"]),
                          stattests.prepare_categorical(current["plan"])).statistic
    plan = window.features["plan"]
    assert plan.score == pytest.approx(exact, rel=1e-12)  # unseen labels pooled: same JS
    assert plan.missing == pytest.approx(20 / 400) and plan.drifted is True


def test_small_buckets_get_no_verdict_and_say_how_many_rows_are_needed(
        workspace: Workspace) -> None:
    log_predictions(workspace.metadata, rows(10, 12, shift=50.0))
    (window,) = drift_windows(workspace.metadata, "churn", reference_frame(),
                              columns=["age", "plan"])
    assert window.drifted is None and window.drift_share is None
    assert window.reason == "12 row(s) in this window; a verdict needs at least 30"
    assert window.features["age"].drifted is None
    assert "at least 30" in window.features["age"].reason
    (loose,) = drift_windows(workspace.metadata, "churn", reference_frame(),
                             columns=["age", "plan"], min_rows=10)
    assert loose.drifted is True


def test_bad_inputs_get_a_reason_per_feature_never_a_crash(workspace: Workspace) -> None:
    n = 200
    reference = reference_frame(n).assign(
        empty=np.nan, flat=5.0, mixed=[1, "a"] * (n // 2), absent=np.arange(n) / n,
        when=pd.Timestamp("2024-01-01"), code=["x", "y"] * (n // 2))
    logged = [{"created_at": START + i, "outputs": 0,
               "inputs": {"age": 40.0 + i % 7, "plan": "pro", "empty": None, "flat": 5.0,
                          "mixed": "a", "when": "2024-01-01", "code": i if i % 2 else "x"}}
              for i in range(60)]
    log_predictions(workspace.metadata, logged)
    (window,) = drift_windows(workspace.metadata, "churn", reference,
                              columns=[*reference.columns, "nowhere"])
    reasons = {name: f.reason for name, f in window.features.items()}
    assert reasons["empty"] == "the reference has no values (all 200 missing)"
    assert "single distinct value (5)" in reasons["flat"]
    assert "values of different kinds" in reasons["mixed"]
    assert "none of the 60 request(s) in this window sent it" in reasons["absent"]
    assert "datetime" in reasons["when"]
    assert reasons["code"].startswith("types differ: text in the reference, 30 logged "
                                      "value(s) of another type")
    assert reasons["nowhere"] == "missing from the reference data"
    for name in ("empty", "flat", "mixed", "absent", "when", "code", "nowhere"):
        assert window.features[name].drifted is None
        assert window.features[name].score is None
    assert window.features["absent"].missing == 1.0
    assert window.features["age"].drifted is not None  # the good ones are still judged
    assert window.drifted is not None and window.reason is None
    text = pd.DataFrame({"age": np.arange(100.0)})
    log_predictions(workspace.metadata, [{"created_at": START + 7200 + i, "outputs": 0,
                                          "inputs": {"age": "n/a" if i < 3 else 50.0}}
                                         for i in range(40)])
    (later,) = drift_windows(workspace.metadata, "churn", text, since=START + 7200)
    assert later.features["age"].reason.startswith(
        "types differ: numbers in the reference, 3 logged value(s) of another type in this "
        "window (such as 'n/a')")
    assert later.drifted is None and "no feature could be judged" in later.reason


def test_options_are_checked_up_front(workspace: Workspace) -> None:
    for options, message in [({"methods": {"plan": "wasserstein"}}, "expected one of"),
                             ({"methods": {"zzz": "psi"}}, "not compared"),
                             ({"thresholds": {"age": -1}}, "finite distance"),
                             ({"share": 0}, "share"), ({"window": "soon"}, "window"),
                             ({"bins": 3}, "bins")]:
        with pytest.raises(ValidationError, match=message):
            drift_windows(workspace.metadata, "churn", reference_frame(), **options)


def test_memory_stays_with_buckets_features_and_bins_not_rows() -> None:
    reference = reference_frame(5000)
    small = accumulate(reference, reference_frame(1_000, seed=1))
    large = accumulate(reference, reference_frame(100_000, seed=2))

    def held(accumulator: Any) -> int:
        (bucket,) = accumulator.buckets.values()
        return sum(a.nbytes for a in [*bucket.counts.values(), *bucket.offsets.values()])

    assert held(small) == held(large) < 10_000
    assert next(iter(large.buckets.values())).rows == 100_000


def register_trained(ws: Workspace, frame: pd.DataFrame, dataset: str) -> str:
    """A model whose training run records ``dataset`` (its lineage) and a signature over
    the features of ``frame`` (all but ``churned``)."""
    from sklearn.dummy import DummyClassifier

    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    X, y = frame.drop(columns=["churned"]), frame["churned"]
    with ws.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        run.log_params({"dataset": dataset})
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(DummyClassifier().fit(X, y), None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
    return ws.models.register(run.id, "churn").ref


def test_the_reference_defaults_to_the_models_training_data(workspace: Workspace) -> None:
    frame = reference_frame()
    dataset = workspace.data.add("customers", frame).version.ref
    model = register_trained(workspace, frame, dataset)
    log_predictions(workspace.metadata, rows(10, 300) + rows(3610, 300, shift=8.0, seed=2))
    found = workspace.monitor.drift_windows("churn", model=model)
    assert [w.drifted for w in found] == [False, True]
    assert set(found[0].features) == {"age", "plan"}  # the target is left out
    by_name = workspace.monitor.drift_windows("churn", dataset, window="2h")
    assert len(by_name) == 1 and set(by_name[0].features) == {"age", "plan", "churned"}
    assert "none of the 600" in by_name[0].features["churned"].reason
    with pytest.raises(ValidationError, match="pass reference="):
        workspace.monitor.drift_windows("churn")

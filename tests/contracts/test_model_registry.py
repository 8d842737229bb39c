"""The model registry behaves the same on every metadata store and artifact store.

Runs are made by hand here (a small fitted Pipeline, its signature and one metric), so
the suite exercises the registry, not training. Concurrent promotions run in real
processes, each with its own Workspace on the same stores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from gapless import Workspace
from gapless.core.errors import (
    ConflictError,
    GaplessError,
    IntegrityError,
    PromotionRefusedError,
)
from gapless.core.schema import infer_signature
from gapless.registry.packaging import pack
from gapless.registry.repository import Transition
from gapless.stores.artifacts import blob_key

BARRIER_SECONDS = 60


# -- fixtures and helpers ---------------------------------------------------------------
@pytest.fixture
def stores(metadata_uri: str, artifact_location: tuple[str, dict], tmp_path: Path
           ) -> dict[str, Any]:
    uri, options = artifact_location
    return {"path": str(tmp_path / "ws"), "metadata_uri": metadata_uri, "artifact_uri": uri,
            "artifact_options": options}


@pytest.fixture
def ws(stores: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    for name in ("ENCRYPTION_KEY", "ADMINS", "USER"):
        monkeypatch.delenv(f"GAPLESS_{name}", raising=False)
    workspace = Workspace(stores["path"], metadata_uri=stores["metadata_uri"],
                          artifact_uri=stores["artifact_uri"],
                          artifact_options=stores["artifact_options"])
    yield workspace
    workspace.close()


def _frame(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"income": rng.normal(50, 10, 120), "debt": rng.normal(20, 5, 120)})
    y = pd.Series((X.income - 2 * X.debt + rng.normal(0, 5, 120) > 10).astype(int),
                  name="defaulted")
    return X, y


def make_run(ws: Workspace, tmp_path: Path, *, seed: int = 0, auc: float = 0.8) -> str:
    """A finished run holding ``model/model.skops``, ``signature.json`` and one metric."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _frame(seed)
    model = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    folder = tmp_path / f"model-{seed}"
    folder.mkdir(exist_ok=True)
    path = folder / "model.skops"
    path.write_bytes(pack(model, None).data)
    with ws.runs.start_run("exp", f"r{seed}", parent=None) as run:
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
        run.log_metrics({"test_roc_auc": auc})
    return run.id


def _overwrite(ws: Workspace, digest: str, content: bytes, tmp_path: Path) -> None:
    """Replace a stored blob's bytes behind the store's back (local folder or S3)."""
    bad = tmp_path / "tampered.bin"
    bad.write_bytes(content)
    ws.artifacts.bytes.put_file(bad, blob_key(digest))


def _outcomes(ws: Workspace, name: str, alias: str) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in ws.models.history(name, alias)]


# -- versions -----------------------------------------------------------------------------
def test_versions_are_numbered_and_found_by_number_alias_and_latest(
    ws: Workspace, tmp_path: Path
) -> None:
    first = ws.models.register(make_run(ws, tmp_path, seed=1), "churn", description="first",
                               tags={"team": "risk"})
    second = ws.models.register(make_run(ws, tmp_path, seed=2), "churn")
    assert (first.version, second.version) == (1, 2)
    assert first.ref == "churn@1" and first.description == "first"
    assert first.tags["team"] == "risk"
    assert first.signature["inputs"][0]["name"] == "income"
    assert first.signature["output"]["classes"] == [0, 1]
    assert first.metrics["test_roc_auc"] == pytest.approx(0.8)
    assert first.lineage["run_id"] == first.run_id
    assert ws.models.get("churn").version == ws.models.get("churn@latest").version == 2
    assert ws.models.get("churn@1").digest == first.digest
    assert [v.version for v in ws.models.versions("churn")] == [1, 2]
    ws.models.promote("churn@1", "production", reason="first release")
    assert ws.models.get("churn@production").version == 1
    assert ws.models.get("churn@1").aliases == ("production",)
    (summary,) = ws.models.list()
    assert summary["name"] == "churn" and summary["latest"] == 2
    assert summary["versions"] == 2 and summary["aliases"] == {"production": 1}
    registered = [e for e in ws.models.history("churn") if e.action == "register"]
    assert [(e.to_version, e.outcome) for e in registered] == [(1, "applied"), (2, "applied")]


def test_load_returns_the_model_and_checks_its_hash(ws: Workspace, tmp_path: Path) -> None:
    version = ws.models.register(make_run(ws, tmp_path), "churn")
    X, _ = _frame(0)
    model = ws.models.load("churn@1")
    assert model.predict_proba(X).shape == (len(X), 2)
    stored = ws.artifacts.get_bytes(version.digest)
    tampered = bytearray(stored)
    tampered[len(tampered) // 2] ^= 0xFF
    _overwrite(ws, version.digest, bytes(tampered), tmp_path)
    with pytest.raises(IntegrityError, match=version.digest):
        ws.models.load("churn@1")


def test_load_checks_the_plain_model_digest_too(ws: Workspace, tmp_path: Path) -> None:
    ws.models.register(make_run(ws, tmp_path), "churn")
    ws.metadata.write(lambda conn: conn.execute(sa.text(
        "UPDATE model_versions SET model_digest = :digest"), {"digest": "0" * 64}))
    with pytest.raises(IntegrityError, match="altered after registration"):
        ws.models.load("churn@1")


def test_a_truncated_model_file_is_refused(ws: Workspace, tmp_path: Path) -> None:
    version = ws.models.register(make_run(ws, tmp_path), "churn")
    stored = ws.artifacts.get_bytes(version.digest)
    _overwrite(ws, version.digest, stored[: len(stored) // 2], tmp_path)
    with pytest.raises(IntegrityError, match=version.digest):
        ws.models.load(version)


# -- aliases and audit ------------------------------------------------------------------
def test_promote_rollback_and_history_round_trip(ws: Workspace, tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        ws.models.register(make_run(ws, tmp_path, seed=seed), "churn")
    moves = [ws.models.promote(f"churn@{v}", "production", reason=f"release {v}")
             for v in (1, 2, 3)]
    assert [(m.from_version, m.to_version, m.outcome) for m in moves] == [
        (None, 1, "applied"), (1, 2, "applied"), (2, 3, "applied")]
    back = ws.models.rollback("churn", reason="bad release")
    assert (back.from_version, back.to_version) == (3, 2)
    assert ws.models.get("churn@production").version == 2
    assert ws.models.rollback("churn").to_version == 1
    entries = ws.models.history("churn", "production")
    assert [(e.action, e.from_version, e.to_version, e.outcome) for e in entries] == [
        ("promote", None, 1, "applied"), ("promote", 1, 2, "applied"),
        ("promote", 2, 3, "applied"), ("rollback", 3, 2, "applied"),
        ("rollback", 2, 1, "applied")]
    assert entries[0].reason == "release 1" and entries[3].reason == "bad release"
    assert all(e.actor for e in entries)
    assert entries[0].created_at <= entries[-1].created_at


def test_a_refused_promotion_is_logged_and_moves_nothing(ws: Workspace, tmp_path: Path) -> None:
    ws.models.register(make_run(ws, tmp_path, auc=0.6), "churn")
    with pytest.raises(PromotionRefusedError, match="metric roc_auc") as refused:
        ws.models.promote("churn@1", "production", reason="try",
                          gates={"metrics": {"roc_auc": {"min": 0.9}}})
    assert [g["gate"] for g in refused.value.gates if not g["passed"]] == ["metric roc_auc"]
    (entry,) = ws.models.history("churn", "production")
    assert (entry.action, entry.outcome, entry.to_version) == ("promote", "refused", 1)
    assert any(not g["passed"] for g in entry.gates)
    assert ws.models.repository.alias_state("churn", "production").version is None


def test_audit_entries_cannot_be_updated_or_deleted(ws: Workspace, tmp_path: Path) -> None:
    ws.models.register(make_run(ws, tmp_path), "churn")
    ws.models.promote("churn@1", "production", reason="first")
    before = [(e.id, e.action, e.outcome, e.reason) for e in ws.models.history("churn")]
    raised = []
    for statement in ("UPDATE model_audit SET outcome = 'applied', reason = 'rewritten'",
                      "DELETE FROM model_audit"):
        with pytest.raises(GaplessError, match="model_audit is append-only") as refused:
            ws.metadata.write(lambda conn, sql=statement: conn.execute(sa.text(sql)))
        raised.append(type(refused.value).__name__)
    after = [(e.id, e.action, e.outcome, e.reason) for e in ws.models.history("churn")]
    assert after == before
    # Every backend refuses the same way: changing something immutable is a conflict
    # (gapless.core.errors), not a store failure.
    assert raised == ["ConflictError", "ConflictError"]


# -- concurrency --------------------------------------------------------------------------
_BARRIER: Any = None


def _init_racer(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def _open(stores: dict[str, Any], env: dict[str, str], actor: str) -> Workspace:
    os.environ.update(env)
    os.environ["GAPLESS_USER"] = actor
    return Workspace(stores["path"], metadata_uri=stores["metadata_uri"],
                     artifact_uri=stores["artifact_uri"],
                     artifact_options=stores["artifact_options"])


def _race_once(stores: dict[str, Any], env: dict[str, str], actor: str, name: str,
               alias: str, to_version: int) -> str:
    """Read the alias, wait for the other process, then try to move it from that state."""
    ws = _open(stores, env, actor)
    try:
        state = ws.models.repository.alias_state(name, alias)
        _BARRIER.wait(BARRIER_SECONDS)
        try:
            ws.models.repository.move_alias(Transition(name, "promote", alias, to_version,
                                                       state, actor, "race"))
        except ConflictError:
            return "conflict"
        return "applied"
    finally:
        ws.close()


def _race_rounds(stores: dict[str, Any], env: dict[str, str], actor: str, index: int,
                 name: str, alias: str, rounds: int) -> list[str]:
    """Each round: both processes see the same holder, then promote a different version
    each (neither the holder) through the public API at the same moment."""
    ws = _open(stores, env, actor)
    outcomes = []
    try:
        for _ in range(rounds):
            _BARRIER.wait(BARRIER_SECONDS)
            holder = ws.models.repository.alias_state(name, alias).version
            target = [v for v in (1, 2, 3) if v != holder][index]
            _BARRIER.wait(BARRIER_SECONDS)
            try:
                ws.models.promote(f"{name}@{target}", alias, reason=f"{actor} wants {target}")
                outcomes.append("applied")
            except ConflictError:
                outcomes.append("conflict")
        return outcomes
    finally:
        ws.close()


@pytest.fixture(scope="module")
def racers() -> Iterator[tuple[Any, Any]]:
    """Two long-lived spawned processes sharing a barrier, reused by every backend."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    with ctx.Pool(2, initializer=_init_racer, initargs=(barrier,)) as pool:
        yield pool, barrier


def _aws_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def _both(pool: Any, barrier: Any, function: Any, args: list[tuple]) -> list[Any]:
    barrier.reset()
    pending = [pool.apply_async(function, a) for a in args]
    return [p.get(timeout=4 * BARRIER_SECONDS) for p in pending]


@pytest.mark.slow
def test_two_processes_promoting_at_once_one_wins_and_both_are_logged(
    ws: Workspace, stores: dict[str, Any], tmp_path: Path, racers: tuple[Any, Any]
) -> None:
    pool, barrier = racers
    for seed in (1, 2, 3):
        ws.models.register(make_run(ws, tmp_path, seed=seed), "churn")
    env = _aws_env()
    # First assignment (no alias row yet), then a move of an existing alias.
    for alias, start in (("production", None), ("staging", 1)):
        if start is not None:
            ws.models.alias(f"churn@{start}", alias)
        outcomes = _both(pool, barrier, _race_once,
                         [(stores, env, "p2", "churn", alias, 2),
                          (stores, env, "p3", "churn", alias, 3)])
        assert sorted(outcomes) == ["applied", "conflict"], (alias, outcomes)
        winner = 2 if outcomes[0] == "applied" else 3
        assert ws.models.get(f"churn@{alias}").version == winner
        raced = [e for e in ws.models.history("churn", alias) if e.reason == "race"]
        assert sorted((e.actor, e.outcome) for e in raced) == sorted(
            [(f"p{winner}", "applied"), (f"p{5 - winner}", "conflict")])
        assert {e.from_version for e in raced} == {start}
        assert ws.models.repository.alias_state("churn", alias).revision == (
            1 if start is None else 2)


def _register_many(stores: dict[str, Any], env: dict[str, str], actor: str, run_id: str,
                   name: str, count: int) -> list[int]:
    ws = _open(stores, env, actor)
    try:
        _BARRIER.wait(BARRIER_SECONDS)
        return [ws.models.register(run_id, name).version for _ in range(count)]
    finally:
        ws.close()


@pytest.mark.slow
def test_concurrent_registrations_get_distinct_numbers(
    ws: Workspace, stores: dict[str, Any], tmp_path: Path, racers: tuple[Any, Any]
) -> None:
    pool, barrier = racers
    run_id = make_run(ws, tmp_path)
    env = _aws_env()
    first, second = _both(pool, barrier, _register_many,
                          [(stores, env, "p0", run_id, "fresh", 4),
                           (stores, env, "p1", run_id, "fresh", 4)])
    assert sorted(first + second) == list(range(1, 9))
    assert first == sorted(first) and second == sorted(second)
    assert [v.version for v in ws.models.versions("fresh")] == list(range(1, 9))
    registered = [e for e in ws.models.history("fresh") if e.action == "register"]
    assert [e.to_version for e in registered] == list(range(1, 9))


@pytest.mark.slow
def test_concurrent_public_promotions_never_lose_an_update(
    ws: Workspace, stores: dict[str, Any], tmp_path: Path, racers: tuple[Any, Any]
) -> None:
    pool, barrier = racers
    for seed in (1, 2, 3):
        ws.models.register(make_run(ws, tmp_path, seed=seed), "churn")
    rounds = 4
    env = _aws_env()
    results = _both(pool, barrier, _race_rounds,
                    [(stores, env, "p0", 0, "churn", "production", rounds),
                     (stores, env, "p1", 1, "churn", "production", rounds)])
    entries = ws.models.history("churn", "production")
    assert len(entries) == 2 * rounds
    assert sorted(e.outcome for e in entries) == sorted(results[0] + results[1])
    assert {e.outcome for e in entries} <= {"applied", "conflict"}
    applied = [e for e in entries if e.outcome == "applied"]
    assert applied, "every round had a winner"
    # Each applied move starts where the previous one left the alias: no lost update.
    chain = [None] + [e.to_version for e in applied]
    assert [e.from_version for e in applied] == chain[:-1]
    froms = [e.from_version for e in applied]
    assert all(a != b for a, b in zip(froms, froms[1:], strict=False))
    assert ws.models.get("churn@production").version == applied[-1].to_version
    assert len(applied) >= rounds

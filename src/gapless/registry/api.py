"""``workspace.models``: the model registry's one Python API.

Every version comes from a tracked run (models trained here, or imported from a file,
an MLflow directory or an exported bundle, each import being a run of its own), so
every version traces back through run, commit and dataset versions to its source.
Aliases move only through :meth:`Models.promote` / :meth:`Models.alias` (gated) and
:meth:`Models.rollback`, and every attempt, applied or not, lands in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapless.core.errors import (
    ConflictError,
    NotFoundError,
    PromotionRefusedError,
    SecurityError,
    ValidationError,
)
from gapless.core.identity import current_user
from gapless.core.records import AuditEntry, ModelVersion
from gapless.core.refs import check_name, parse_ref
from gapless.data.versions import DataVersions
from gapless.registry import gates as gate_checks
from gapless.registry.encryption import is_encrypted
from gapless.registry.lineage import lineage_chain, run_lineage, validation_status
from gapless.registry.packaging import (
    Packed,
    check_loadable,
    cipher_for,
    plain_bytes,
    seal,
    unpack,
)
from gapless.registry.repository import AliasState, RegistryRepository, Transition
from gapless.stores.artifacts import ArtifactStore
from gapless.stores.sql import MetadataStore
from gapless.tracking import Tracking

MODEL_FILES = {"model/model.skops": "skops", "model/model.pkl": "pickle"}


@dataclass(frozen=True)
class Promotion:
    """What a promotion, alias change or rollback did."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    outcome: str  # applied | overridden
    gates: list[dict[str, Any]] = field(default_factory=list)


class Models:
    """Registered models of one workspace: versions, aliases, gates, audit, packaging."""

    def __init__(self, store: MetadataStore, artifacts: ArtifactStore, tracking: Tracking,
                 data: DataVersions, *, encryption_key: str | None = None,
                 admins: tuple[str, ...] = (), default_gates: Path | None = None) -> None:
        self.repository = RegistryRepository(store)
        self.artifacts = artifacts
        self.tracking = tracking
        self.data = data
        self.cipher = cipher_for(encryption_key)
        self.admins = admins
        self.default_gates = default_gates

    # -- registering ------------------------------------------------------------------
    def register(self, run_id: str, name: str, *, description: str | None = None,
                 tags: Mapping[str, Any] | None = None) -> ModelVersion:
        """Register the model a run saved as the next version of ``name``."""
        check_name(name, what="model name")
        run = self.tracking.get(run_id)
        stored = {a.path: a for a in self.tracking.artifacts(run.id)}
        path = next((p for p in MODEL_FILES if p in stored), None)
        if path is None:
            raise ValidationError(
                f"run {run.id} ({run.name}) has no model: none of "
                f"{', '.join(MODEL_FILES)} among its artifacts; register a training run "
                "(`gapless train SPEC --register NAME`) or import a model file")
        what = f"model of run {run.id}"
        data = self.tracking.read_artifact(run.id, path)  # verified against its SHA-256
        fmt = MODEL_FILES[path]
        plain = plain_bytes(data, self.cipher, what=what)
        # Refuse what could never load (foreign pickle, untrusted types) before recording it.
        check_loadable(plain, what=what, format=fmt,
                       trusted_pickle=run.tags.get("trusted_by") is not None)
        packed = Packed(data, hashlib.sha256(plain).hexdigest(), is_encrypted(data), fmt)
        if self.cipher is not None and not packed.encrypted:
            packed = seal(plain, self.cipher, format=fmt)
        blob = self.artifacts.put_bytes(packed.data)
        fields = {
            "run_id": run.id, "digest": blob.digest, "model_digest": packed.model_digest,
            "size": blob.size, "format": fmt, "encrypted": packed.encrypted,
            "signature_json": self._run_json(run.id, stored, "signature.json"),
            "lineage_json": json.dumps(run_lineage(self.tracking, run, stored)),
            "metrics_json": json.dumps(dict(run.metrics)),
            "evaluation_json": gate_checks.evaluation_facts(
                self._run_json(run.id, stored, "evaluation.json")),
            "tags_json": json.dumps({**{k: v for k, v in run.tags.items()
                                        if k in ("best_family", "problem", "source")},
                                     **{str(k): str(v) for k, v in (tags or {}).items()}}),
            "description": description, "source": run.tags.get("source", "run"),
            "trusted_by": run.tags.get("trusted_by"),
        }
        return self.repository.insert_version(name, fields, actor=current_user())

    def import_file(self, path: str | os.PathLike[str], name: str, *, trust: bool = False,
                    description: str | None = None) -> ModelVersion:
        """Register a model file: a ``.skops`` file (trusted types only), or a pickle /
        joblib file, loaded only with ``trust=True``."""
        from gapless.registry.imports import import_file

        return import_file(self, path, name, trust=trust, description=description)

    def import_mlflow(self, path: str | os.PathLike[str], name: str, *, trust: bool = False,
                      description: str | None = None) -> ModelVersion:
        """Register a model directory saved by MLflow's sklearn flavor, with its signature
        and environment; its pickle is loaded only with ``trust=True``."""
        from gapless.registry.imports import import_mlflow

        return import_mlflow(self, path, name, trust=trust, description=description)

    def import_bundle(self, path: str | os.PathLike[str], *, name: str | None = None,
                      alias: str | None = None) -> ModelVersion:
        """Register a bundle from :meth:`export` (digests checked first), keeping its lineage."""
        from gapless.registry.imports import import_bundle

        return import_bundle(self, path, name=name, alias=alias)

    # -- reading ----------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        return self.repository.models()

    def get(self, ref: str) -> ModelVersion:
        """The version ``ref`` names: ``churn@3``, ``churn@production`` or ``churn``."""
        return self.repository.find(parse_ref(ref, what="model reference"))

    def versions(self, name: str) -> list[ModelVersion]:
        return self.repository.versions(name)

    def load(self, ref: str | ModelVersion) -> Any:
        """The fitted model of a version, after checking its hash (and key, if sealed)."""
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return unpack(self.artifacts.get_bytes(version.digest), cipher=self.cipher,
                      what=f"model {version.ref}", format=version.format,
                      # Unencrypted, the store already checked these very bytes on read.
                      model_digest=(version.model_digest
                                    if version.model_digest != version.digest else None),
                      trusted_pickle=version.trusted_by is not None)

    def load_run(self, run_id: str) -> Any:
        """The model a training run saved (before or without registration)."""
        run = self.tracking.get(run_id)
        stored = {a.path for a in self.tracking.artifacts(run.id)}
        path = next((p for p in MODEL_FILES if p in stored), None)
        if path is None:
            raise NotFoundError(f"run {run.id} has no model artifact")
        return unpack(self.tracking.read_artifact(run.id, path), cipher=self.cipher,
                      what=f"model of run {run.id}", format=MODEL_FILES[path],
                      trusted_pickle=run.tags.get("trusted_by") is not None)

    def history(self, name: str, alias: str | None = None) -> list[AuditEntry]:
        return self.repository.history(name, alias)

    def lineage(self, ref: str | ModelVersion) -> list[dict[str, Any]]:
        """The chain behind a version, back to its sources:
        version -> run -> commit -> dataset version -> parents -> source."""
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return lineage_chain(self.data, version)

    # -- aliases ----------------------------------------------------------------------
    def promote(self, ref: str, to: str, *, reason: str, gates: Any = None,
                override: bool = False) -> Promotion:
        """Point alias ``to`` at the version ``ref`` names, if it passes the gates declared
        for ``to``. A refusal lists every failing gate; ``override`` (admins only, with a
        reason) applies it anyway. Applied or not, the attempt is in the audit log."""
        return self._move("promote", ref, to, reason=reason, gates=gates, override=override)

    def alias(self, ref: str, alias: str, *, reason: str | None = None, gates: Any = None,
              override: bool = False) -> Promotion:
        """Set any alias (``staging``, ``challenger``, ...); gated like :meth:`promote`."""
        return self._move("alias", ref, alias, reason=reason, gates=gates, override=override)

    def remove_alias(self, name: str, alias: str, *, reason: str | None = None) -> Promotion:
        state = self.repository.alias_state(name, alias)
        if state.version is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}")
        self.repository.move_alias(Transition(name, "remove", alias, None, state,
                                              current_user(), reason))
        return Promotion(name, alias, state.version, None, "applied")

    def rollback(self, name: str, alias: str = "production", *,
                 reason: str | None = None) -> Promotion:
        """Point ``alias`` back at the version that held it before the current one.

        Not gated: rollback is the way out of a bad release and must always work."""
        state = self.repository.alias_state(name, alias)
        holders = self._holders(name, alias)
        if state.version is None or len(holders) < 2:
            raise ValidationError(f"{name}@{alias}: there is no previous holder to roll back to "
                                  f"(holders so far: {holders or 'none'})")
        target = holders[-2]
        self.repository.move_alias(Transition(name, "rollback", alias, target, state,
                                              current_user(), reason or "rollback"))
        return Promotion(name, alias, state.version, target, "applied")

    def gates_for(self, alias: str, gates: Any = None) -> gate_checks.GateSpec:
        """The gates guarding ``alias``: from ``gates`` if given, else the workspace's
        gates file (none: no gates)."""
        return gate_checks.load_gates(self._gate_source(gates), alias)

    def check_gates(self, ref: str, alias: str, gates: Any = None) -> list[dict[str, Any]]:
        """Every gate declared for ``alias``, evaluated for ``ref``, without moving anything."""
        candidate = self.get(ref)
        spec = gate_checks.load_gates(self._gate_source(gates), alias)
        holder = self.repository.alias_state(candidate.model, alias)
        return [r.to_dict() for r in self._evaluate(spec, candidate, holder)]

    def _move(self, action: str, ref: str, alias: str, *, reason: str | None, gates: Any,
              override: bool) -> Promotion:
        check_name(alias, what="alias")
        if alias.isdigit() or alias == "latest":
            raise ValidationError(f"alias {alias!r} would read as a version; pick a word")
        if action == "promote" and not (reason or "").strip():
            raise ValidationError("a promotion needs a reason (--reason \"...\")")
        candidate = self.get(ref)
        actor = current_user()
        state = self.repository.alias_state(candidate.model, alias)
        if state.version == candidate.version:
            raise ConflictError(f"{candidate.model}@{alias} already points at version "
                                f"{candidate.version}")
        spec = gate_checks.load_gates(self._gate_source(gates), alias)
        results = [r.to_dict() for r in self._evaluate(spec, candidate, state)]
        failed = [r for r in results if not r["passed"]]
        change = Transition(candidate.model, action, alias, candidate.version, state, actor,
                            reason, results)
        if failed and not override:
            self.repository.log_attempt(Transition(**{**change.__dict__, "outcome": "refused"}))
            raise PromotionRefusedError(
                f"{candidate.ref} cannot become {candidate.model}@{alias}; failing gates: "
                + "; ".join(f"{r['gate']}: {r['detail']}" for r in failed), gates=results)
        if failed:
            if actor not in self.admins or not (reason or "").strip():
                self.repository.log_attempt(Transition(**{**change.__dict__,
                                                          "outcome": "refused"}))
                raise SecurityError(
                    f"overriding failed gates needs an admin identity and a reason; {actor!r} "
                    f"is {'' if actor in self.admins else 'not '}an admin (setting `admins`, "
                    "GAPLESS_ADMINS) and the reason is "
                    f"{'given' if (reason or '').strip() else 'missing'}")
            change = Transition(**{**change.__dict__, "outcome": "overridden"})
        self.repository.move_alias(change)
        return Promotion(candidate.model, alias, state.version, candidate.version,
                         change.outcome, results)

    def _gate_source(self, gates: Any) -> Any:
        if gates is not None:
            return gates
        if self.default_gates is not None and self.default_gates.is_file():
            return self.default_gates
        return None

    def _evaluate(self, spec: gate_checks.GateSpec, candidate: ModelVersion,
                  holder: AliasState) -> list[gate_checks.GateResult]:
        evaluation = candidate.evaluation or {}
        results = gate_checks.check_metrics(spec, candidate.metrics)
        results += gate_checks.check_recorded(spec, evaluation)
        results += gate_checks.check_data_validation(spec, validation_status(self.data, candidate))
        if spec.beat_current is not None:
            results += self._beat_current(spec, candidate, holder)
        return results

    def _beat_current(self, spec: gate_checks.GateSpec, candidate: ModelVersion,
                      holder: AliasState) -> list[gate_checks.GateResult]:
        """Score the candidate and the holder on the same rows: a named dataset version,
        or by default the candidate's own test split."""
        from gapless.evaluation import score_model, scorer_for

        rule = spec.beat_current
        assert rule is not None
        beaten: int | str | None = rule.against or holder.version
        if beaten is None:
            return gate_checks.check_beat_current(spec, candidate=None, holder=None,
                                                  holder_version=None, direction="", rows=0)
        try:
            X, y, problem = self.evaluation_rows(candidate, rule.data)
            scorer = scorer_for(rule.metric, problem)
            rival = self.get(rule.against or f"{candidate.model}@{holder.version}")
            scores = []
            for version in (candidate, rival):
                positive = (version.evaluation or {}).get("positive_label")
                report = score_model(self.load(version), _own_columns(X, version), y, problem,
                                     positive_label=positive)
                scores.append(float(report[scorer.name]))
        except (ValidationError, NotFoundError, KeyError, ValueError) as exc:
            return gate_checks.check_beat_current(
                spec, candidate=None, holder=None, holder_version=beaten,
                direction="", rows=0, error=f"could not score both models: {exc}")
        return gate_checks.check_beat_current(
            spec, candidate=scores[0], holder=scores[1], holder_version=beaten,
            direction=scorer.direction, rows=len(X))

    def evaluation_rows(self, candidate: ModelVersion, dataset: str | None
                        ) -> tuple[Any, Any, str]:
        """``(X, y, problem)`` to score a version on: a named dataset version, or the test
        split of the spec it was trained with (rebuilt deterministically)."""
        from gapless.training.plan import holdout

        if candidate.run_id is None:
            raise ValidationError(f"{candidate.ref} has no training run to take a spec from")
        spec = json.loads(self.tracking.read_artifact(candidate.run_id, "spec.json"))
        if dataset is not None:
            spec = {**spec, "dataset": dataset, "split": {"method": "random", "test_size": 1.0}}
            frame = self.data.load(dataset)
            target = spec["target"]
            problem = str((candidate.signature or {}).get("output", {}).get("problem")
                          or spec.get("problem"))
            return frame.drop(columns=[target]), frame[target], problem
        X, y, problem, _ = holdout(self.data, spec)
        return X, y, problem

    def _holders(self, name: str, alias: str) -> list[int]:
        """Who held ``alias`` in order, replaying applied moves: promote/alias push,
        rollback pops, remove clears."""
        stack: list[int] = []
        for entry in self.repository.history(name, alias):
            if entry.outcome not in ("applied", "overridden"):
                continue
            if entry.action == "rollback" and stack:
                stack.pop()
            elif entry.action == "remove":
                stack.clear()
            elif entry.to_version is not None:
                stack.append(entry.to_version)
        return stack

    # -- export and bundles -----------------------------------------------------------
    def export(self, ref: str, out: str | os.PathLike[str], *, format: str = "bundle"
               ) -> dict[str, Any]:
        """Write ``ref`` as a deployable bundle, or as ONNX with a comparison report."""
        from gapless.registry.export import export_bundle, export_onnx

        exporters = {"bundle": export_bundle, "onnx": export_onnx}
        if format not in exporters:
            raise ValidationError(f"export format {format!r} is not one of "
                                  f"{', '.join(exporters)}")
        return exporters[format](self, self.get(ref), Path(out))

    # -- helpers ------------------------------------------------------------------------
    def _run_json(self, run_id: str, stored: Mapping[str, Any], path: str) -> str | None:
        if path not in stored:
            return None
        return self.tracking.read_artifact(run_id, path).decode("utf-8")


def _own_columns(X: Any, version: ModelVersion) -> Any:  # noqa: N803
    """``X`` narrowed to the columns ``version``'s signature lists, when it has them all
    (a bare estimator refuses columns it was not fitted on; a pipeline ignores them)."""
    names = [c["name"] for c in (version.signature or {}).get("inputs", [])]
    if names and all(n in X.columns for n in names):
        return X[names]
    return X

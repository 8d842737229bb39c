"""The built-in steps that let a retrained model take over safely.

``feedback``: the endpoint's labelled requests as a dataset version, to retrain on.
``update``: the incremental alternative to ``train``: ``partial_fit`` of the served model
on new rows, for models that support it.

``challenge``: the challenger must beat the model an endpoint serves (the champion) on
the challenger's own holdout (its test split, the freshest data) and, when labels came
back, on the endpoint's labelled feedback, and pass every other gate of the alias it is
headed for. Nothing moves: a loss fails the step, naming each failing gate, so the
steps after it (the canary, the promotion) never run.

``canary``: deploys the challenger beside the champion with a ramp and guardrails, and
waits while the canary controller (this step's, and any server's: their decisions are
applied once, by revision) ramps it to 100 % or rolls it back. A rollback, or no verdict
before ``timeout`` (then the champion is put back), fails the step with the reason.

Each decision is recorded where it belongs: the gates and the promotion in the
registry's audit log, every deployment change in the endpoint's history, and the
pipeline run keeps each step's log.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from gapless.core.errors import PromotionRefusedError, ValidationError

if TYPE_CHECKING:
    from gapless.pipelines.steps import StepContext


def feedback(ctx: StepContext, *, endpoint: str, target: str, since: float | None = None,
             distinct: bool = True) -> dict[str, Any]:
    """The endpoint's labelled requests (inputs, and the label as ``target``) as the next
    version of dataset ``feedback-ENDPOINT``: what production saw, to retrain on; each
    distinct row once unless ``distinct`` is false."""
    from gapless.serving.challenger import feedback_dataset

    ref = feedback_dataset(ctx.workspace, endpoint, target, since=since, distinct=distinct)
    rows = ctx.workspace.data.get(ref).row_count
    ctx.log(f"{ref}: {rows:,} labelled requests of {endpoint}")
    return {"dataset": ref, "rows": rows}


def challenge(ctx: StepContext, *, challenger: str, endpoint: str,
              alias: str = "production", metric: str | None = None, delta: float = 0.0,
              feedback: bool = True, since: float | None = None,
              gates: Any = None) -> dict[str, Any]:
    from gapless.evaluation import scorer_for
    from gapless.registry.gates import BeatCurrent, GateSpec
    from gapless.serving.challenger import _problem, _target, feedback_dataset, labelled

    ws = ctx.workspace
    spec = ws.deployments.get(endpoint).spec
    champion = ws.models.get(next(v.model for v in spec.variants if v.role == "primary")).ref
    candidate = ws.models.get(challenger)
    if candidate.ref == champion:
        raise ValidationError(f"{candidate.ref} already serves endpoint {endpoint!r}; "
                              "nothing to challenge")
    name = scorer_for(metric, _problem(ws, candidate.ref)).name
    gates = ws.models.gates_for(alias, gates).model_copy(update={"beat_current": BeatCurrent(
        metric=name, delta=delta, against=champion)})
    checks = {"holdout": ws.models.check_gates(candidate.ref, alias, gates)}
    if feedback and any(r["role"] == "primary" for r in labelled(ws.metadata, endpoint,
                                                                   since=since)):
        data = feedback_dataset(ws, endpoint, _target(ws, candidate), since=since)
        only = GateSpec(beat_current=BeatCurrent(metric=name, delta=delta, data=data,
                                                 against=champion),
                        behavioural=False, fairness=False, data_validation="off")
        checks["feedback"] = ws.models.check_gates(candidate.ref, alias, only)
    for where, results in checks.items():
        for gate in results:
            ctx.log(f"{where}: {gate['gate']} {'passed' if gate['passed'] else 'FAILED'}: "
                    f"{gate.get('detail', '')}")
    failing = [dict(g, on=where) for where, results in checks.items()
               for g in results if not g["passed"]]
    if failing:
        raise PromotionRefusedError(
            f"{candidate.ref} does not replace {champion} on endpoint {endpoint}: "
            + "; ".join(f"{g['on']}: {g['gate']}: {g.get('detail', '')}" for g in failing),
            gates=failing)
    return {"challenger": candidate.ref, "champion": champion, "metric": name,
            "checked": sorted(checks)}


def canary(ctx: StepContext, *, endpoint: str, model: str,
           steps: list[float] | None = None, interval: float = 60.0,
           guardrails: dict[str, Any] | None = None, timeout: float = 3600.0,
           poll: float = 0.5) -> dict[str, Any]:
    from gapless.serving.canary import CanaryController
    from gapless.serving.deployments import Guardrails, Ramp

    ws = ctx.workspace
    before = ws.deployments.get(endpoint).spec
    champion = next(v.model for v in before.variants if v.role == "primary")
    started = ws.deploy(endpoint, model, strategy="canary",
                        ramp=Ramp(steps=steps or [10.0, 50.0, 100.0], interval_s=interval),
                        guardrails=Guardrails(**(guardrails or {})),
                        reason=f"pipeline run {ctx.run_id}: canary of {model}")
    ctx.log(f"{endpoint}: canary of {model} beside {champion}, revision {started.revision}")
    controller = CanaryController(ws.metadata, period=poll)
    deadline = time.monotonic() + timeout
    while ws.deployments.get(endpoint).spec.strategy == "canary":
        if time.monotonic() > deadline:
            ws.deploy(endpoint, champion, strategy="single",
                      reason=f"pipeline run {ctx.run_id}: canary of {model} had no verdict "
                             f"after {timeout:g}s; champion restored")
            raise ValidationError(f"the canary of {model} on {endpoint} reached no verdict "
                                  f"in {timeout:g}s (too little traffic?); {champion} "
                                  "serves again")
        controller.tick()
        time.sleep(poll)
    final = ws.deployments.get(endpoint)
    reason = ws.deployments.history(endpoint)[-1]["reason"]
    ctx.log(f"{endpoint}: revision {final.revision}: {reason}")
    if [v.model for v in final.spec.variants if v.role == "primary"] != [model]:
        raise ValidationError(f"the canary of {model} on {endpoint} was rolled back: {reason}")
    return {"outcome": "promoted", "revision": final.revision, "reason": reason,
            "champion": champion}


def update(ctx: StepContext, *, model: str, dataset: str, name: str | None = None,
           description: str | None = None) -> dict[str, Any]:
    """Incremental update: ``partial_fit`` the registered ``model`` (or the final step of
    its pipeline, behind the transforms it was fitted with) on the rows of ``dataset``,
    and register the result as the next version, with the same signature and training
    spec and a lineage naming both the model it started from and the new data. Models
    without ``partial_fit`` get a clear error: retrain them with the ``train`` step."""
    import json
    import tempfile
    from pathlib import Path

    from sklearn.pipeline import Pipeline

    from gapless.core.schema import Signature
    from gapless.registry.packaging import pack
    from gapless.serving.challenger import _target

    ws = ctx.workspace
    base = ws.models.get(model)
    estimator = ws.models.load(base)
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not hasattr(final, "partial_fit"):
        raise ValidationError(f"{base.ref} ends in {type(final).__name__}, which has no "
                              "partial_fit; retrain it with the train step instead")
    if not base.signature:
        raise ValidationError(f"{base.ref} has no signature, so its input columns are "
                              "unknown; register it from a training run")
    target = _target(ws, base)
    frame = ws.data.load(dataset)
    columns = Signature.from_dict(base.signature).names
    missing = [c for c in [*columns, target] if c not in frame.columns]
    if missing:
        raise ValidationError(f"{dataset} lacks column(s) {missing} that {base.ref} needs")
    X, y = frame[columns], frame[target]
    if isinstance(estimator, Pipeline):
        final.partial_fit(estimator[:-1].transform(X), y)
    else:
        estimator.partial_fit(X, y)
    spec = json.loads(ws.models.tracking.read_artifact(base.run_id, "spec.json"))
    with ws.start_run(f"update-{base.model}", f"partial_fit of {base.ref}",
                      parent=None) as run, tempfile.TemporaryDirectory() as tmp:
        run.log_param("dataset", dataset)
        run.log_param("updated_from", base.ref)
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(estimator, ws.models.cipher).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(dict(base.signature), "signature.json")
        run.log_dict({**spec, "dataset": dataset}, "spec.json")
    version = ws.models.register(run.id, name or base.model, description=description or (
        f"{base.ref} updated with partial_fit on {dataset}"))
    ctx.log(f"{base.ref} + partial_fit on {len(frame):,} rows of {dataset} -> {version.ref}")
    return {"version": version.ref, "rows": len(frame), "updated_from": base.ref}

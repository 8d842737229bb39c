"""Champion-challenger: the challenger answers nobody, is judged on labelled feedback, and
takes over only through the registry's promotion gates.

A ``champion-challenger`` deployment serves the champion (the primary) and runs each
challenger as a shadow on the same requests; the prediction log keeps both answers
under one prediction id, so one feedback label scores both. :func:`compare_on_feedback`
reports, per variant, how the logged answers did against the labels that came back.
:func:`promote_challenger` is the decision: the labelled requests become a dataset
version (``feedback-ENDPOINT``, inputs and the label under the training target's name),
and the challenger is promoted to the alias through the alias's own gates, its
``beat_current`` gate replaced by one against the deployed champion scored on that
dataset, so the challenger must beat the champion on what production actually saw. A
refusal raises PromotionRefusedError naming every failing gate and is in the registry's
audit log; on success the endpoint is redeployed to the challenger alone, with the
promotion as the recorded reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from gapless.core.errors import NotFoundError, ValidationError
from gapless.serving.deployments import DeploymentSpec, DeploymentStore, endpoint_settings
from gapless.serving.feedback import read_predictions

CLASSIFICATION = ("binary", "multiclass")


def labelled(store: Any, endpoint: str, *, since: float | None = None) -> list[dict[str, Any]]:
    """Logged predictions of ``endpoint`` (every variant) that received a label."""
    return [row for row in read_predictions(store, endpoint, since=since, with_labels=True)
            if row["label"] is not None]


def compare_on_feedback(workspace: Any, endpoint: str, *, since: float | None = None
                        ) -> list[dict[str, Any]]:
    """Per variant (champion first): ``variant``, ``role``, ``model`` (NAME@VERSION),
    ``rows`` labelled, ``errors`` (rows it failed on), and ``accuracy`` (classifiers; a
    failed row counts as wrong) or ``mae``/``rmse`` (regressors; of the rows it answered)
    of the answers it logged, all on the same labelled requests."""
    rows = labelled(workspace.metadata, endpoint, since=since)
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_variant.setdefault(row["variant"], []).append(row)
    report = []
    for variant, found in sorted(by_variant.items(), key=lambda kv: kv[1][0]["role"] != "primary"):
        first = found[0]
        problem = _problem(workspace, f"{first['model']}@{first['version']}")
        entry: dict[str, Any] = {"variant": variant, "role": first["role"],
                                 "model": f"{first['model']}@{first['version']}",
                                 "rows": len(found),
                                 "errors": sum(1 for r in found if r["status"] != 200)}
        if problem in CLASSIFICATION:
            hits = sum(1 for r in found if r["status"] == 200
                       and _same(r["outputs"], r["label"]))
            entry["accuracy"] = hits / len(found)
        else:
            errors = [float(r["outputs"]) - float(r["label"]) for r in found
                      if r["status"] == 200 and r["outputs"] is not None]
            entry["mae"] = sum(abs(e) for e in errors) / len(errors) if errors else None
            entry["rmse"] = (math.sqrt(sum(e * e for e in errors) / len(errors))
                             if errors else None)
        report.append(entry)
    return report


def feedback_dataset(workspace: Any, endpoint: str, target: str, *,
                     since: float | None = None, distinct: bool = False) -> str:
    """The labelled requests of ``endpoint`` saved as the next version of dataset
    ``feedback-ENDPOINT`` (inputs, and the label as column ``target``); its reference.
    ``distinct``: each distinct row once (a retried or replayed request would otherwise
    weigh twice, and land on both sides of a cross-validation split)."""
    import pandas as pd

    rows = [r for r in labelled(workspace.metadata, endpoint, since=since)
            if r["role"] == "primary" and r["status"] == 200]
    if not rows:
        raise ValidationError(f"endpoint {endpoint!r} has no labelled predictions yet; send "
                              "labels to POST /v1/endpoints/{name}/feedback first")
    frame = pd.DataFrame([{**r["inputs"], target: r["label"]} for r in rows])
    if distinct:
        frame = frame.drop_duplicates(ignore_index=True)
    added = workspace.data.add(f"feedback-{endpoint}", frame, kind="derived",
                               description=f"labelled predictions of endpoint {endpoint}")
    return added.version.ref


def promote_challenger(workspace: Any, endpoint: str, *, alias: str = "production",
                       variant: str | None = None, metric: str | None = None,
                       delta: float = 0.0, reason: str | None = None,
                       since: float | None = None) -> dict[str, Any]:
    """Promote the challenger of a champion-challenger ``endpoint`` to ``alias`` if it
    passes the alias's gates and beats the champion on the labelled feedback (by
    ``delta`` on ``metric``, default the problem's headline metric); then deploy it.

    Returns ``promotion`` (the registry's Promotion as a dict), ``dataset`` (the feedback
    version both were scored on) and ``revision`` (the endpoint's new deployment).
    Raises PromotionRefusedError (every failing gate) and deploys nothing when refused.
    """
    from gapless.evaluation.scoring import scorer_for
    from gapless.registry.gates import BeatCurrent

    deployments = DeploymentStore(workspace.metadata)
    current = deployments.get(endpoint)
    spec = current.spec
    if spec.strategy != "champion-challenger":
        raise ValidationError(f"endpoint {endpoint!r} runs a {spec.strategy} deployment; "
                              "deploy a champion-challenger first (gapless deploy ENDPOINT "
                              "--model CHALLENGER --strategy champion-challenger)")
    shadows = [v for v in spec.variants if v.role == "shadow"]
    chosen = next((v for v in shadows if variant in (None, v.name)), None)
    if chosen is None:
        raise NotFoundError(f"endpoint {endpoint!r} has no challenger {variant!r}; its "
                            f"challengers are {[v.name for v in shadows]}")
    challenger = workspace.models.get(chosen.model)
    champion = workspace.models.get(next(v.model for v in spec.variants if v.role == "primary"))
    target = _target(workspace, challenger)
    dataset = feedback_dataset(workspace, endpoint, target, since=since)
    problem = _problem(workspace, challenger.ref)
    gates = workspace.models.gates_for(alias)
    rule = BeatCurrent(metric=scorer_for(metric, problem).name, delta=delta, data=dataset,
                       against=champion.ref)
    gates = gates.model_copy(update={"beat_current": rule})
    why = reason or f"challenger {chosen.name} of endpoint {endpoint} on feedback {dataset}"
    promotion = workspace.models.promote(challenger.ref, alias, reason=why, gates=gates)
    winner = chosen.model_copy(update={"role": "primary", "weight": 100.0,
                                       "model": challenger.ref})
    applied = deployments.put(endpoint, DeploymentSpec(
        strategy="single", variants=[winner], **endpoint_settings(spec)),
        reason=f"challenger promoted to {challenger.model}@{alias}: {why}",
        expected_revision=current.revision)
    return {"promotion": asdict(promotion), "dataset": dataset, "revision": applied.revision}


# -- helpers ---------------------------------------------------------------------------
def _problem(workspace: Any, ref: str) -> str:
    version = workspace.models.get(ref)
    return str(((version.signature or {}).get("output") or {}).get("problem") or "regression")


def _target(workspace: Any, version: Any) -> str:
    """The column the version was trained to predict (from its training spec)."""
    if version.run_id is None:
        raise ValidationError(f"{version.ref} has no training run, so its target column is "
                              "unknown; register challengers from `gapless train` runs")
    spec = json.loads(workspace.models.tracking.read_artifact(version.run_id, "spec.json"))
    return str(spec["target"])


def _same(prediction: Any, label: Any) -> bool:
    return prediction == label or str(prediction) == str(label)

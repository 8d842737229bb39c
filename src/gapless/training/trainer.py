"""The trainer: from a task spec to a tracked, evaluated, saved model.

Order matters and is the point of this module: every check that can refuse the spec
runs before any model is fitted; the heuristic baseline is trained first; the search
only ever sees the training split; the best candidate is refit on the whole training
split and the test split is scored exactly once, after the search ended.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError
from gapless.data.versions import DataVersions
from gapless.tracking import Tracking
from gapless.training.specs import TaskSpec, load_task_spec

MODEL_ARTIFACT = "model/model.skops"
SPEC_ARTIFACT = "spec.json"
EVALUATION_ARTIFACT = "evaluation.json"
CARD_ARTIFACT = "model_card.html"
SIGNATURE_ARTIFACT = "signature.json"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced; the full record is in the run ``run_id``."""

    run_id: str
    experiment: str
    dataset: str
    problem: str
    metric: str
    best_family: str
    best_params: dict[str, Any]
    cv_score: float
    test_metrics: dict[str, Any]
    baseline_cv_score: float
    baseline_test_metrics: dict[str, Any]
    trials: dict[str, int]
    evaluation: dict[str, Any] = field(repr=False)
    model: Any = field(repr=False)  # the fitted pipeline
    registered: str | None = None  # NAME@VERSION when the model was registered

    def what_if(self, row: Mapping[str, Any], feature: str, values: list[Any]) -> list[dict]:
        """How the prediction for ``row`` moves as ``feature`` takes each of ``values``."""
        from gapless.evaluation.whatif import what_if

        return what_if(self.model, dict(row), feature, values)


class Trainer:
    """Trains task specs against one workspace's data and tracking.

    ``render_card(evaluation) -> html`` and ``package(model) -> bytes`` (skops, sealed
    when an encryption key is set) are injected by the workspace, since reports and the
    registry sit above training.
    """

    def __init__(
        self,
        data: DataVersions,
        tracking: Tracking,
        *,
        executor_uri: str = "local",
        render_card: Callable[[dict[str, Any]], str] | None = None,
        package: Callable[[Any], bytes] | None = None,
    ) -> None:
        from gapless.training.persist import dumps

        self.data = data
        self.tracking = tracking
        self.executor_uri = executor_uri
        self.render_card = render_card
        self.package = package or dumps

    def train(
        self,
        spec: TaskSpec | Mapping[str, Any] | str,
        *,
        executor: str | None = None,
        on_progress: Callable[[Any], None] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> TrainResult:
        from gapless.compute import open_executor
        from gapless.training.plan import plan_training

        task = load_task_spec(spec)
        plan = plan_training(self.data, task)  # every refusal happens here, before fitting
        with self.tracking.start_run(task.experiment, f"train {plan.version.ref}",
                                     parent=None, tags=dict(tags or {})) as run:
            run.log_params(plan.run_params())
            run.log_dict(task.model_dump(mode="json"), SPEC_ARTIFACT)
            baseline = plan.evaluate_baseline()
            self._log_child(run, plan, "baseline", baseline.family, baseline.params,
                            baseline.fold_scores, baseline.started, baseline.finished,
                            {"role": "baseline"})
            with open_executor(executor or self.executor_uri) as pool:
                search = plan.search(pool, on_trial=lambda outcome: self._log_child(
                    run, plan, f"trial-{outcome.number} {outcome.family}", outcome.family,
                    outcome.params, outcome.fold_scores, outcome.started, outcome.finished,
                    {"role": "trial", "state": outcome.state,
                     **({"error": outcome.error[:500]} if outcome.error else {})},
                    status="FAILED" if outcome.state == "failed" else "FINISHED",
                ), on_progress=on_progress)
            if search.best is None:
                raise ValidationError(
                    f"every one of the {len(search.trials)} trials failed or was pruned; the "
                    f"first error: {next((t.error for t in search.trials if t.error), 'none')}"
                )
            final = plan.refit_and_evaluate(search.best, baseline)
            run.log_metrics(final.run_metrics())
            run.set_tags({"best_family": search.best.family, "problem": plan.problem})
            run.log_params({f"best.{k}": v for k, v in search.best.params.items()})
            self._save(run, plan, final)
        return TrainResult(
            run_id=run.id, experiment=task.experiment, dataset=plan.version.ref,
            problem=plan.problem, metric=plan.metric, best_family=search.best.family,
            best_params=search.best.params, cv_score=plan.display(search.best.value),
            test_metrics=final.test_metrics,
            baseline_cv_score=plan.display(baseline.value),
            baseline_test_metrics=final.baseline_test_metrics,
            trials={s: search.count(s) for s in ("complete", "pruned", "failed")},
            evaluation=final.evaluation, model=final.model,
        )

    def _log_child(self, run: Any, plan: Any, name: str, family: str, params: dict[str, Any],
                   fold_scores: list[float], started: float, finished: float,
                   tags: dict[str, str], status: str = "FINISHED") -> None:
        metrics: dict[str, Any] = {}
        if fold_scores:
            metrics[f"fold_{plan.metric}"] = [plan.display(s) for s in fold_scores]
            metrics[f"cv_{plan.metric}"] = plan.display(sum(fold_scores) / len(fold_scores))
        self.tracking.log_run(
            run.experiment, name, parent=run, start_time=started, end_time=finished,
            status=status, params={"family": family, **params}, metrics=metrics, tags=tags,
        )

    def _save(self, run: Any, plan: Any, final: Any) -> None:
        from gapless.core.schema import infer_signature
        from gapless.training.pipeline import used_columns

        with tempfile.TemporaryDirectory(prefix="gapless-model-") as tmp:
            path = Path(tmp) / "model.skops"
            path.write_bytes(self.package(final.model))
            run.log_artifact(path, artifact_path="model")
        X, y = plan.xy(plan.train)
        X = X[used_columns(final.model, list(X.columns))]
        signature = infer_signature(X, y, problem=plan.problem,
                                    classes=getattr(final.model, "classes_", None))
        run.log_dict(signature.to_dict(), SIGNATURE_ARTIFACT)
        run.log_dict(final.evaluation, EVALUATION_ARTIFACT)
        if self.render_card is not None:
            run.log_text(self.render_card(final.evaluation), CARD_ARTIFACT)


def spec_of_run(tracking: Tracking, run_id: str) -> dict[str, Any]:
    """The task spec a training run recorded, for ``--reproduce``."""
    return json.loads(tracking.read_artifact(run_id, SPEC_ARTIFACT))


def model_of_run(tracking: Tracking, run_id: str) -> Any:
    """The fitted pipeline a training run saved, loaded with trusted types only."""
    from gapless.training.persist import loads

    return loads(tracking.read_artifact(run_id, MODEL_ARTIFACT), what=f"model of run {run_id}")


def compare_runs(tracking: Tracking, original: str, again: str) -> list[dict[str, Any]]:
    """Metric by metric, the original run against its reproduction."""
    old, new = tracking.get(original).metrics, tracking.get(again).metrics
    rows = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        same = a == b or (a is not None and b is not None and a != a and b != b)
        rows.append({"metric": key, "original": a, "reproduced": b, "equal": same})
    return rows

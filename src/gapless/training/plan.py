"""A training plan: the spec checked against the data, split, and ready to run.

:func:`plan_training` does every check that can refuse a spec (target, problem, columns,
transforms, families and spaces, folds against class counts, behavioural tests,
fairness columns, metric name) by building the real objects, so a mistake surfaces
before the first fit, with the field and column named.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import ValidationError
from gapless.core.records import DatasetVersion
from gapless.data.versions import DataVersions
from gapless.training.search import ModelSearch, SearchResult, TrialData, TrialOutcome
from gapless.training.specs import TaskSpec


@dataclass
class FinalModel:
    model: Any
    test_metrics: dict[str, Any]
    baseline_test_metrics: dict[str, Any]
    evaluation: dict[str, Any]

    def run_metrics(self) -> dict[str, float]:
        from gapless.evaluation import scalar_metrics

        metrics = {f"test_{k}": v for k, v in scalar_metrics(self.test_metrics).items()}
        if self.baseline_test_metrics:
            metrics.update({f"baseline_test_{k}": v
                            for k, v in scalar_metrics(self.baseline_test_metrics).items()})
        metrics["cv_" + self.evaluation["metric"]] = self.evaluation["cv_score"]
        return metrics


class TrainingPlan:
    def __init__(self, version: DatasetVersion, frame: Any, spec: TaskSpec) -> None:
        from gapless.evaluation import scorer_for
        from gapless.training.candidates import default_candidates, get_family, resolve_space
        from gapless.training.pipeline import build_pipeline
        from gapless.training.problem import check_target, detect_problem
        from gapless.training.splits import cv_groups, cv_splitter, train_test

        self.version, self.frame, self.spec = version, frame, spec
        self.target = spec.target
        if self.target is not None and self.target not in frame.columns:
            raise ValidationError(f"target {self.target!r} is not a column of {version.ref}; "
                                  f"columns: {list(frame.columns)[:30]}")
        self.problem = spec.problem or detect_problem(frame[self.target])
        check_target(frame, self.target, self.problem)
        self.scorer = scorer_for(spec.metric, self.problem)
        self.metric = self.scorer.name
        self.train_idx, self.test_idx = train_test(frame, spec, target=self.target,
                                                   problem=self.problem, seed=spec.seed)
        train = frame.iloc[self.train_idx].reset_index(drop=True)
        y_train = train[self.target] if self.target else None
        splitter = cv_splitter(spec, problem=self.problem, seed=spec.seed,
                               groups=cv_groups(train, spec), y=y_train)
        groups = cv_groups(train, spec)
        X_train = train.drop(columns=[self.target]) if self.target else train
        self.folds = tuple((tr, va) for tr, va in splitter.split(X_train, y_train, groups))
        candidates = spec.candidates or default_candidates(self.problem, len(train))
        self.spaces: dict[str, dict[str, Any]] = {}
        for candidate in candidates:
            family = get_family(candidate.family, self.problem)
            overrides = dict(candidate.params)
            if self.problem == "clustering" and spec.clusters and "n_clusters" in family.accepts():
                overrides.setdefault("n_clusters", spec.clusters)
            self.spaces[family.name] = resolve_space(family, overrides)
            # Build (not fit) one pipeline per family: transforms naming missing columns,
            # numeric steps on text and size guards fail here, before any training.
            build_pipeline(train, spec, family, {}, target=self.target, problem=self.problem,
                           seed=spec.seed)
        self._check_columns(X_train)
        self.train = train
        self.data = TrialData(frame=train, target=self.target,
                              spec=spec.model_dump(mode="json"), problem=self.problem,
                              folds=self.folds, scoring=self.scorer.sklearn_name or "silhouette",
                              seed=spec.seed)

    def _check_columns(self, X: Any) -> None:
        named = [(f"behavioural test {t.name or i}", t.column)
                 for i, t in enumerate(self.spec.behavioural_tests) if hasattr(t, "column")]
        if self.spec.fairness:
            if self.problem != "binary":
                raise ValidationError(
                    f"fairness needs a binary problem (selection rate, TPR and FPR are "
                    f"defined for one positive class); this one is {self.problem}")
            named += [("fairness.sensitive", c) for c in self.spec.fairness.sensitive]
        named += [("slices", c) for c in self.spec.slices or []]
        for where, column in named:
            if column not in X.columns:
                raise ValidationError(f"{where}: column {column!r} is not a feature of "
                                      f"{self.version.ref}")

    # -- scores in the metric's own units -----------------------------------------------
    def display(self, score: float | None) -> float:
        return float("nan") if score is None else score * self.scorer.sign

    def run_params(self) -> dict[str, Any]:
        return {"dataset": self.version.ref, "dataset_digest": self.version.digest,
                "target": self.target, "problem": self.problem, "metric": self.metric,
                "seed": self.spec.seed, "cv_folds": len(self.folds),
                "train_rows": len(self.train_idx), "test_rows": len(self.test_idx),
                "families": ",".join(sorted(self.spaces))}

    # -- stages ----------------------------------------------------------------------------
    def evaluate_baseline(self) -> TrialOutcome:
        """Cross-validate the heuristic baseline on the same folds as every trial."""
        from sklearn.metrics import get_scorer

        from gapless.training.baselines import baseline_from_spec

        outcome = TrialOutcome(-1, "baseline", {}, "complete", started=time.time())
        baseline = baseline_from_spec(self.spec.baseline.strategy, self.spec.baseline.rule,
                                      self.problem)
        self.baseline = baseline
        if baseline is None or self.scorer.sklearn_name is None:
            outcome.finished = time.time()
            return outcome
        outcome.params = {"strategy": baseline.strategy, "rule": baseline.rule}
        scorer = get_scorer(self.scorer.sklearn_name)
        X, y = self.xy(self.train)
        for train, valid in self.folds:
            model = _clone(baseline).fit(X.iloc[train], y.iloc[train])
            outcome.fold_scores.append(float(scorer(model, X.iloc[valid], y.iloc[valid])))
        outcome.finished = time.time()
        return outcome

    def search(self, executor: Any, *, on_trial: Callable[[TrialOutcome], None],
               on_progress: Callable[[Any], None] | None) -> SearchResult:
        return ModelSearch(self.data, self.spaces, trials=self.spec.budget.trials,
                           minutes=self.spec.budget.minutes, executor=executor,
                           on_trial=on_trial,
                           on_progress=on_progress or (lambda progress: None)).run()

    def refit_and_evaluate(self, best: TrialOutcome, baseline: TrialOutcome) -> FinalModel:
        """Refit the best candidate on the whole training split, score the test split once,
        and evaluate it (curves, slices, fairness, explanations, behavioural tests)."""
        from gapless.training.evaluate import evaluate_final
        from gapless.training.pipeline import build_pipeline, fit_params
        from gapless.training.search import quiet_convergence

        X, y = self.xy(self.train)
        model = build_pipeline(self.train, self.spec, best.family, best.params,
                               target=self.target, problem=self.problem, seed=self.spec.seed)
        with quiet_convergence():
            model.fit(X, y, **fit_params(best.family, y, self.spec, problem=self.problem))
        test = self.frame.iloc[self.test_idx].reset_index(drop=True)
        X_test, y_test = self.xy(test)
        baseline_model = None
        if self.baseline is not None:
            baseline_model = _clone(self.baseline).fit(X, y)
        return evaluate_final(self, model, baseline_model, X, y, X_test, y_test, best, baseline)

    def xy(self, frame: Any) -> tuple[Any, Any]:
        if self.target is None:
            return frame, None
        return frame.drop(columns=[self.target]), frame[self.target]


def plan_training(data: DataVersions, spec: TaskSpec) -> TrainingPlan:
    version = data.get(spec.dataset)
    return TrainingPlan(version, data.load(version), spec)


def _clone(estimator: Any) -> Any:
    from sklearn.base import clone

    return clone(estimator)


def holdout(data: DataVersions, spec: Any) -> tuple[Any, Any, str, str]:
    """The test split a task spec defines, rebuilt from its dataset version and seed:
    ``(X, y, problem, dataset_ref)``. The split is deterministic, so these are exactly
    the rows the model was scored on at training."""
    from gapless.training.problem import detect_problem
    from gapless.training.specs import load_task_spec
    from gapless.training.splits import train_test

    task = load_task_spec(spec)
    version = data.get(task.dataset)
    frame = data.load(version)
    if task.target is None or task.target not in frame.columns:
        raise ValidationError(f"{version.ref} has no target column {task.target!r} to score on")
    problem = task.problem or detect_problem(frame[task.target])
    _, test_idx = train_test(frame, task, target=task.target, problem=problem, seed=task.seed)
    test = frame.iloc[test_idx].reset_index(drop=True)
    return test.drop(columns=[task.target]), test[task.target], problem, version.ref

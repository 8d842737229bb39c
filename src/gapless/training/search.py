"""Model search: Optuna's TPE over candidate families and their spaces.

The coordinator (this process) asks Optuna for trials and hands each to an executor
(local processes or Dask), keeping every worker busy. A worker cross-validates one
trial fold by fold and stops early when its running mean falls below the median of the
finished trials at the same fold (median pruning, with the medians sent along with the
trial, since workers cannot see the study). Outcomes come back as plain data: the
coordinator tells Optuna and records each trial as a child run. A trial that crashes
is recorded as failed and the search goes on.
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gapless.core.errors import GaplessError

# Median pruning starts once this many trials finished, and never before this many folds.
STARTUP_TRIALS = 5
WARMUP_FOLDS = 2


@dataclass(frozen=True)
class TrialData:
    """What every trial needs; pickled once per task (or shared by the executor)."""

    frame: Any  # the training split: features and target
    target: str | None
    spec: dict[str, Any]  # TaskSpec.model_dump(), rebuilt in the worker
    problem: str
    folds: tuple[tuple[Any, Any], ...]  # (train positions, validation positions)
    scoring: str  # a scikit-learn scorer name (greater is better)
    seed: int


@dataclass
class TrialOutcome:
    number: int
    family: str
    params: dict[str, Any]
    state: str  # complete | pruned | failed
    fold_scores: list[float] = field(default_factory=list)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def value(self) -> float | None:
        return statistics.fmean(self.fold_scores) if self.fold_scores else None


def evaluate_trial(data: TrialData, number: int, family: str, params: dict[str, Any],
                   medians: dict[int, float]) -> TrialOutcome:
    """Cross-validate one candidate; runs in a worker, so it never raises."""
    outcome = TrialOutcome(number, family, params, "complete", started=time.time())
    try:
        from sklearn.metrics import get_scorer

        from gapless.training.pipeline import build_pipeline
        from gapless.training.specs import TaskSpec

        spec = TaskSpec.model_validate(data.spec)
        scorer = silhouette if data.scoring == "silhouette" else get_scorer(data.scoring)
        X = data.frame.drop(columns=[data.target]) if data.target else data.frame
        y = data.frame[data.target] if data.target else None
        # Planned once per trial on the whole training split (the columns and their types
        # are the split's), then cloned unfitted for each fold.
        template = build_pipeline(data.frame, spec, family, params, target=data.target,
                                  problem=data.problem, seed=data.seed)
        for fold, (train, valid) in enumerate(data.folds):
            with quiet_convergence():
                score = _fold_score(data, spec, family, template, X, y, train, valid, scorer)
            outcome.fold_scores.append(score)
            running = statistics.fmean(outcome.fold_scores)
            if fold + 1 >= WARMUP_FOLDS and fold in medians and running < medians[fold]:
                outcome.state = "pruned"
                break
    except Exception as exc:  # noqa: BLE001 - a broken trial must not stop the search
        outcome.state = "failed"
        outcome.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    outcome.finished = time.time()
    return outcome


def _fold_score(data: TrialData, spec: Any, family: str, template: Any, X: Any,
                y: Any, train: Any, valid: Any, scorer: Any) -> float:
    """Fit a fresh copy of ``template`` on one fold's training rows, score its validation rows."""
    from sklearn.base import clone

    from gapless.training.pipeline import fit_params

    model = clone(template)
    if y is None:
        model.fit(X.iloc[train])
        return float(scorer(model, X.iloc[valid]))
    model.fit(X.iloc[train], y.iloc[train],
              **fit_params(family, y.iloc[train], spec, problem=data.problem))
    return float(scorer(model, X.iloc[valid], y.iloc[valid]))


@contextmanager
def quiet_convergence() -> Iterator[None]:
    """Iterative solvers that stop at ``max_iter`` still give a model the search can judge;
    their warnings would flood the console from every worker."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def silhouette(model: Any, X: Any, y: Any = None) -> float:
    """Clustering score: silhouette of the clusters in the model's own feature space
    (preprocessed, before the clusterer), on a seeded sample of at most 5,000 rows."""
    from sklearn.metrics import silhouette_score

    labels = model.predict(X)
    if len(set(labels)) < 2:
        return -1.0
    features = model[:-1].transform(X) if len(model) > 1 else X
    return float(silhouette_score(features, labels, sample_size=min(5000, len(labels)),
                                  random_state=0))


@dataclass(frozen=True)
class SearchProgress:
    done: int
    total: int | None
    best: float | None
    elapsed: float
    remaining: float | None  # seconds, estimated


@dataclass
class SearchResult:
    trials: list[TrialOutcome]
    best: TrialOutcome | None

    def count(self, state: str) -> int:
        return sum(t.state == state for t in self.trials)


class ModelSearch:
    """Runs the search; ``on_trial`` is called with each outcome as it arrives (the
    trainer records it as a child run), ``on_progress`` with counts for a progress bar."""

    def __init__(
        self,
        data: TrialData,
        spaces: dict[str, dict[str, Any]],
        *,
        trials: int | None,
        minutes: float | None,
        executor: Any,
        on_trial: Callable[[TrialOutcome], None] = lambda outcome: None,
        on_progress: Callable[[SearchProgress], None] = lambda progress: None,
    ) -> None:
        if trials is None and minutes is None:
            raise GaplessError("a search needs a budget: trials and/or minutes")
        self.data = data
        self.spaces = spaces
        self.trials = trials
        self.seconds = None if minutes is None else minutes * 60
        self.executor = executor
        self.on_trial = on_trial
        self.on_progress = on_progress

    def run(self) -> SearchResult:

        from gapless.core.search_space import tpe_study

        study = tpe_study(self.data.seed)
        start = time.monotonic()
        outcomes: list[TrialOutcome] = []
        in_flight: dict[Any, Any] = {}
        asked = 0

        def budget_left() -> bool:
            if self.trials is not None and asked >= self.trials:
                return False
            return self.seconds is None or time.monotonic() - start < self.seconds

        while budget_left() or in_flight:
            while budget_left() and len(in_flight) < max(1, self.executor.workers):
                trial = study.ask()
                family, params = self._sample(trial)
                future = self.executor.submit(evaluate_trial, self.data, trial.number, family,
                                              params, self._medians(outcomes))
                in_flight[future] = trial
                asked += 1
            future = next(iter(self.executor.as_completed(list(in_flight))))
            trial = in_flight.pop(future)
            outcome = self._outcome(future, trial)
            self._tell(study, trial, outcome)
            outcomes.append(outcome)
            self.on_trial(outcome)
            self.on_progress(self._progress(outcomes, asked, start))
        complete = [o for o in outcomes if o.state == "complete"]
        best = max(complete, key=lambda o: o.value) if complete else None  # type: ignore[arg-type,return-value]
        return SearchResult(sorted(outcomes, key=lambda o: o.number), best)

    def _sample(self, trial: Any) -> tuple[str, dict[str, Any]]:
        family = trial.suggest_categorical("family", sorted(self.spaces))
        params = {}
        for name, space in self.spaces[family].items():
            key = f"{family}.{name}"
            params[name] = space.sample(trial, key) if hasattr(space, "sample") else space
        return family, params

    @staticmethod
    def _medians(outcomes: Sequence[TrialOutcome]) -> dict[int, float]:
        finished = [o for o in outcomes if o.state == "complete"]
        if len(finished) < STARTUP_TRIALS:
            return {}
        medians = {}
        for fold in range(max(len(o.fold_scores) for o in finished)):
            running = [statistics.fmean(o.fold_scores[: fold + 1]) for o in finished
                       if len(o.fold_scores) > fold]
            medians[fold] = statistics.median(running)
        return medians

    @staticmethod
    def _outcome(future: Any, trial: Any) -> TrialOutcome:
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - the worker itself died
            family = trial.params.get("family", "?")
            return TrialOutcome(trial.number, family, {}, "failed",
                                error=f"{type(exc).__name__}: {exc}", started=time.time(),
                                finished=time.time())

    @staticmethod
    def _tell(study: Any, trial: Any, outcome: TrialOutcome) -> None:
        import optuna

        for fold in range(len(outcome.fold_scores)):
            trial.report(statistics.fmean(outcome.fold_scores[: fold + 1]), fold)
        if outcome.state == "complete":
            study.tell(trial, outcome.value)
        elif outcome.state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _progress(self, outcomes: list[TrialOutcome], asked: int, start: float
                  ) -> SearchProgress:
        elapsed = time.monotonic() - start
        values = [o.value for o in outcomes if o.state == "complete" and o.value is not None]
        remaining = None
        if self.trials is not None and outcomes:
            remaining = elapsed / len(outcomes) * max(0, self.trials - len(outcomes))
        if self.seconds is not None:
            left = max(0.0, self.seconds - elapsed)
            remaining = left if remaining is None else min(remaining, left)
        return SearchProgress(len(outcomes), self.trials, max(values) if values else None,
                              elapsed, remaining)

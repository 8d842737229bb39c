"""The recommender training task: from a spec to tracked runs, a searched model and a card.

Order matters, as in the tabular trainer (:mod:`gapless.training.trainer`, whose ideas
are reused here but not imported: recommenders sit below training in the layers):

1. Every check that can refuse the spec runs before any run is started: the spec itself
   (unknown field, family, parameter or metric), the datasets and their columns, and
   both temporal splits.
2. The events are split twice by time. **Test**: each user's last ``holdout`` events.
   **Validation**: of what is left, each user's last ``holdout`` events again. The
   search fits on the rest and is judged on validation only; the test events are never
   seen by the search.
3. The popularity baseline is fitted and judged first (a child run, ``role=baseline``),
   then a seeded Optuna TPE search over the candidate families and their spaces, one
   child run per trial (``role=trial``) with every ranking metric on validation.
4. The best trial of each family, and the baseline, are refit on train + validation and
   scored once on test: the comparison table (``evaluation.json``), each row saying on
   which metrics it beats the baseline ("none" when it beats it on none).
5. The winner (best on validation) is refit on every event and saved as
   ``model/model.skops`` with ``signature.json``, ``spec.json`` and ``model_card.html``,
   so ``workspace.models.register(run_id, name)`` registers it like any other model.

Metric names follow :func:`gapless.evaluation.ranking.ranking_metrics` (``ndcg@10``,
``recall@10``, ``mrr``, ``coverage`` ...). Tracking keys cannot hold ``@``, so metrics
are logged with ``_at_`` in its place (``validation_ndcg_at_10``, ``test_ndcg_at_10``).
"""

from __future__ import annotations

import math
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError
from gapless.recsys.base import COLD_START
from gapless.recsys.evaluate import BASELINE, evaluate
from gapless.recsys.interactions import load_interactions, temporal_split
from gapless.recsys.specs import (
    FAMILIES,
    ITEM,
    RANKED,
    TIME,
    USER,
    WEIGHT,
    Fixed,
    RecommenderSpec,
    accepted_params,
    load_recommender_spec,
    resolve_space,
)

MODEL_ARTIFACT = "model/model.skops"
SPEC_ARTIFACT = "spec.json"
EVALUATION_ARTIFACT = "evaluation.json"
CARD_ARTIFACT = "model_card.html"
SIGNATURE_ARTIFACT = "signature.json"
PROBLEM = "recommendation"

# -- results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RecommenderProgress:
    """Same fields as the tabular search's progress, so the same progress bar works."""

    done: int
    total: int | None
    best: float | None
    elapsed: float
    remaining: float | None


@dataclass(frozen=True)
class TrialRecord:
    """One search trial: its family and sampled params, and its validation metrics."""

    number: int
    family: str
    params: dict[str, Any]
    state: str  # complete | failed
    value: float | None = None  # the objective metric on the validation events
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class RecommenderResult:
    """What a recommender training run produced; the full record is in run ``run_id``.

    ``best_score`` / ``baseline_score``: ``metric`` on the validation events (what the
    search judged); ``test_metrics`` / ``baseline_test_metrics``: scored once on the test
    events after refitting on train + validation."""

    run_id: str
    experiment: str
    dataset: str
    metric: str
    best_family: str
    best_params: dict[str, Any]
    best_score: float
    baseline_score: float
    test_metrics: dict[str, float]
    baseline_test_metrics: dict[str, float]
    table: list[dict[str, Any]]
    trials: dict[str, int]
    evaluation: dict[str, Any] = field(repr=False)
    model: Any = field(repr=False)
    registered: str | None = None


def metric_key(name: str) -> str:
    """A metric name as a tracking key (``ndcg@10`` -> ``ndcg_at_10``)."""
    return name.replace("@", "_at_")


# -- preparing the data ------------------------------------------------------------------
@dataclass
class _Prepared:
    events: Any  # every event, canonical columns
    items: Any  # item attributes with an item_id column, or None
    catalogue: list[str] | None
    dataset: Any  # DatasetVersion of the interactions
    items_version: Any  # DatasetVersion of the attributes, or None
    fit: Any  # search training events
    valid: Any  # validation events
    dev: Any  # train + validation events
    test: Any  # test events
    content_columns: dict[str, tuple[str, ...]] | None


def _prepare(data: Any, spec: RecommenderSpec) -> _Prepared:
    """Load, check and split; every refusal happens here, before any run starts."""
    version = data.get(spec.dataset)
    needed = {"user": spec.user, "item": spec.item, "timestamp": spec.timestamp,
              **({"weight": spec.weight} if spec.weight else {})}
    present = set(version.column_names)
    for field_name, column in needed.items():
        if column not in present:
            raise ValidationError(f"recommender spec `{field_name}`: dataset {version.ref} has "
                                  f"no column {column!r}; it has {sorted(present)[:20]}")
    if version.row_count == 0:
        raise ValidationError(f"recommender spec `dataset`: {version.ref} is empty; a "
                              "recommender needs events")
    frame = data.load(version, columns=list(dict.fromkeys(needed.values())))
    events = frame.rename(columns={spec.user: USER, spec.item: ITEM, spec.timestamp: TIME,
                                   **({spec.weight: WEIGHT} if spec.weight else {})})
    events = events[[USER, ITEM, TIME, *([WEIGHT] if spec.weight else [])]]
    # validates ids and weights (row and column named) before any fitting
    load_interactions(events, weight=WEIGHT if spec.weight else None,
                      what=f"dataset {version.ref}")

    items = items_version = catalogue = content_columns = None
    if spec.items is not None:
        items_version = data.get(spec.items)
        if spec.item not in items_version.column_names:
            raise ValidationError(f"recommender spec `items`: dataset {items_version.ref} has "
                                  f"no column {spec.item!r} (the `item` column); it has "
                                  f"{sorted(items_version.column_names)[:20]}")
        items = data.load(items_version)
        if spec.item != ITEM:
            items = items.drop(columns=[ITEM], errors="ignore").rename(columns={spec.item: ITEM})
        if items[ITEM].isna().any():
            raise ValidationError(f"recommender spec `items`: {items_version.ref} has a row "
                                  f"without {spec.item}")
        items = items.assign(**{ITEM: items[ITEM].astype(str)})
        catalogue = items[ITEM].tolist()
        content_columns = infer_content_columns(items)

    def split(frame: Any, what: str) -> Any:
        try:
            return temporal_split(frame, user=USER, timestamp=TIME, holdout=spec.holdout)
        except ValidationError as exc:
            raise ValidationError(f"recommender spec `holdout`: the {what} split of "
                                  f"{version.ref} failed: {exc}") from exc

    outer = split(events, "test")
    inner = split(outer.train, "validation")
    return _Prepared(events, items, catalogue, version, items_version, inner.train, inner.test,
                     outer.train, outer.test, content_columns)


def infer_content_columns(items: Any) -> dict[str, tuple[str, ...]]:
    """Text and attribute columns of an item table, for the content model's defaults:
    text columns average three or more words; attributes are text with at most 50 distinct
    values, or whole numbers with at most 20 (ids and ranks are neither)."""
    import pandas as pd

    text, attributes = [], []
    n = len(items)
    for column in items.columns:
        if column == ITEM:
            continue
        values = items[column].dropna()
        if not len(values):
            continue
        distinct = values.astype(str).nunique()
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            words = values.astype(str).str.split().str.len().mean()
            if words >= 3:
                text.append(str(column))
            elif distinct <= 50 and distinct < n:
                attributes.append(str(column))
        elif (pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values)
              and distinct <= 20 and distinct < n):
            attributes.append(str(column))
    return {"text_columns": tuple(text), "attribute_columns": tuple(attributes)}


# -- the task ----------------------------------------------------------------------------
class _Task:
    def __init__(self, spec: RecommenderSpec, prepared: _Prepared) -> None:
        self.spec = spec
        self.p = prepared
        self.k = spec.k
        self.metric = spec.objective
        self.weight = WEIGHT if spec.weight else None
        self.spaces = {}
        for candidate in spec.lineup():
            space = resolve_space(candidate.family, candidate.params)
            if candidate.family == "content" and prepared.content_columns is not None:
                for name, columns in prepared.content_columns.items():
                    space.setdefault(name, Fixed(columns))
            self.spaces[candidate.family] = space  # a family listed twice: the last wins
        self.search_data = self._interactions(prepared.fit)
        self.dev_data = self._interactions(prepared.dev)

    def _interactions(self, frame: Any) -> Any:
        return load_interactions(frame, weight=self.weight, items=self.p.catalogue)

    def make(self, family: str, params: Mapping[str, Any]) -> Any:
        arguments = dict(params)
        if "seed" in accepted_params(family):
            arguments.setdefault("seed", self.spec.seed)
        return FAMILIES[family](**arguments)

    def fit_score(self, family: str, params: Mapping[str, Any], data: Any, held: Any
                  ) -> tuple[Any, dict[str, float]]:
        model = self.make(family, params).fit(data, self.p.items)
        metrics = evaluate(model, data, held, k=self.k)
        return model, metrics


def train_recommender(
    data: Any,
    tracking: Any,
    spec: RecommenderSpec | Mapping[str, Any] | str,
    *,
    package: Callable[[Any], bytes] | None = None,
    render_card: Callable[[dict[str, Any]], str] | None = None,
    on_progress: Callable[[RecommenderProgress], None] | None = None,
    tags: Mapping[str, str] | None = None,
) -> RecommenderResult:
    """Train a recommender spec against ``data`` (:class:`gapless.data.versions.DataVersions`)
    and ``tracking`` (:class:`gapless.tracking.Tracking`); see the module docstring for the
    order of events. ``package(model) -> bytes``: the skops bytes saved as the model
    (sealed when the workspace has a key; plain skops by default); ``render_card``: the
    model card (default :func:`gapless.recsys.card.recommender_card_html`)."""

    from gapless.recsys.card import recommender_card_html

    task_spec = load_recommender_spec(spec)
    prepared = _prepare(data, task_spec)  # every refusal happens here, before any run
    task = _Task(task_spec, prepared)
    render = render_card or recommender_card_html
    pack = package or _skops_bytes
    metric = task.metric
    with tracking.start_run(task_spec.experiment, f"recommend {prepared.dataset.ref}",
                            parent=None, tags={"task": PROBLEM, **dict(tags or {})}) as run:
        run.log_params(_run_params(task_spec, task))
        run.log_dict(task_spec.model_dump(mode="json"), SPEC_ARTIFACT)

        # the baseline first, on the same split every trial sees
        started = time.time()
        _, baseline_valid = task.fit_score(BASELINE, {}, task.search_data, prepared.valid)
        _log_child(tracking, run, "baseline popularity", BASELINE, {}, baseline_valid,
                   started, {"role": "baseline"})
        trials = _search(task, tracking, run, on_progress)
        complete = [t for t in trials if t.state == "complete"]
        if not complete:
            first = next((t.error for t in trials if t.error), "none")
            raise ValidationError(f"every one of the {len(trials)} trials failed; the first "
                                  f"error: {first}")
        best = max(complete, key=lambda t: (t.value, -t.number))
        family_best: dict[str, TrialRecord] = {}
        for trial in complete:
            held = family_best.get(trial.family)
            if held is None or trial.value > held.value:  # type: ignore[operator]
                family_best[trial.family] = trial

        # the test events, scored once per row after the search ended
        _, baseline_test = task.fit_score(BASELINE, {}, task.dev_data, prepared.test)
        table = [_row(BASELINE, "baseline", None, {}, baseline_valid[metric], baseline_test)]
        ordered = sorted(family_best.values(), key=lambda t: (t is not best, -t.value))  # type: ignore[operator]
        for trial in ordered:
            _, test_metrics = task.fit_score(trial.family, trial.params, task.dev_data,
                                             prepared.test)
            table.append(_row(trial.family, "selected" if trial is best else "candidate",
                              trial.number, trial.params, trial.value, test_metrics))
        _judge(table)
        best_test = next(r["test"] for r in table if r["role"] == "selected")

        # the saved model: the winner refit on every event
        everything = task._interactions(prepared.events)
        model = task.make(best.family, best.params).fit(everything, prepared.items)
        model.default_k_ = task_spec.k  # what serving answers when a request names no k
        counts = {s: sum(t.state == s for t in trials) for s in ("complete", "failed")}
        evaluation = _evaluation(task, best, baseline_valid, baseline_test, best_test, table,
                                 counts, model, everything)
        run.log_metrics({
            f"validation_{metric_key(metric)}": float(best.value),  # type: ignore[arg-type]
            f"baseline_validation_{metric_key(metric)}": float(baseline_valid[metric]),
            **{f"test_{metric_key(k)}": v for k, v in best_test.items()},
            **{f"baseline_test_{metric_key(k)}": v for k, v in baseline_test.items()},
        })
        run.set_tags({"best_family": best.family, "problem": PROBLEM})
        run.log_params({f"best.{k}": _plain(v) for k, v in best.params.items()})
        with tempfile.TemporaryDirectory(prefix="gapless-model-") as tmp:
            path = Path(tmp) / "model.skops"
            path.write_bytes(pack(model))
            run.log_artifact(path, artifact_path="model")
        run.log_dict(recommender_signature(task_spec).to_dict(), SIGNATURE_ARTIFACT)
        run.log_dict(evaluation, EVALUATION_ARTIFACT)
        run.log_text(render(evaluation), CARD_ARTIFACT)
    return RecommenderResult(
        run_id=run.id, experiment=task_spec.experiment, dataset=prepared.dataset.ref,
        metric=metric, best_family=best.family, best_params=dict(best.params),
        best_score=float(best.value),  # type: ignore[arg-type]
        baseline_score=float(baseline_valid[metric]), test_metrics=best_test,
        baseline_test_metrics=baseline_test, table=evaluation["table"], trials=counts,
        evaluation=evaluation, model=model,
    )


def recommender_signature(spec: RecommenderSpec) -> Any:
    """What a saved recommender takes and gives: a user id in, the ids of the top ``k``
    items out (best first), unknown users answered by popularity."""
    from gapless.core.schema import ColumnSchema, OutputSchema, Signature

    return Signature(
        inputs=(ColumnSchema(USER, "string", nullable=False),
                ColumnSchema("k", "integer", nullable=True)),  # default: extras["k"]
        output=OutputSchema(problem=PROBLEM, type="string", name="items"),
        extras={"k": spec.k, "output": "list of item ids, best first",
                "user_column": spec.user, "item_column": spec.item,
                "cold_start": COLD_START},
    )


def _skops_bytes(model: Any) -> bytes:
    import skops.io

    return skops.io.dumps(model)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _run_params(spec: RecommenderSpec, task: _Task) -> dict[str, Any]:
    p = task.p
    params: dict[str, Any] = {
        "dataset": p.dataset.ref, "dataset_digest": p.dataset.digest,
        "task": PROBLEM, "metric": task.metric, "k": spec.k, "holdout": spec.holdout,
        "seed": spec.seed, "user": spec.user, "item": spec.item, "timestamp": spec.timestamp,
        "families": ",".join(sorted(task.spaces)), "trials": spec.budget.trials,
        "events": len(p.events), "search_events": len(p.fit),
        "validation_events": len(p.valid), "test_events": len(p.test),
        "users": task.dev_data.shape[0], "catalogue_items": task.dev_data.shape[1],
    }
    if spec.weight:
        params["weight"] = spec.weight
    if p.items_version is not None:
        params["items_dataset"] = p.items_version.ref
        params["items_dataset_digest"] = p.items_version.digest
    if spec.budget.minutes is not None:
        params["minutes"] = spec.budget.minutes
    return params


def _log_child(tracking: Any, run: Any, name: str, family: str, params: Mapping[str, Any],
               metrics: Mapping[str, float], started: float, tags: Mapping[str, str],
               status: str = "FINISHED") -> None:
    tracking.log_run(run.experiment, name, parent=run, start_time=started,
                     end_time=time.time(), status=status,
                     params={"family": family, **{k: _plain(v) for k, v in params.items()}},
                     metrics={metric_key(k): v for k, v in metrics.items()
                              if isinstance(v, int | float) and math.isfinite(v)},
                     tags={"family": family, **tags})


def _search(task: _Task, tracking: Any, run: Any,
            on_progress: Callable[[RecommenderProgress], None] | None) -> list[TrialRecord]:
    """Seeded TPE over the families and their spaces, one trial at a time (each fit is
    seconds at most, and one process keeps the trials' order, hence the result, fixed).
    The first trials try each family once, in the spec's order, so none is left out."""
    import optuna

    from gapless.core.search_space import tpe_study

    study = tpe_study(task.spec.seed)
    budget = task.spec.budget
    seconds = None if budget.minutes is None else budget.minutes * 60
    start = time.monotonic()
    families = sorted(task.spaces)
    # every family gets one trial first (its params still sampled), then TPE chooses
    for family in list(task.spaces)[:budget.trials]:
        study.enqueue_trial({"family": family})
    records: list[TrialRecord] = []
    for _ in range(budget.trials):
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        trial = study.ask()
        family = trial.suggest_categorical("family", families)
        params = {name: space.sample(trial, f"{family}.{name}")
                  for name, space in task.spaces[family].items()}
        started = time.time()
        try:
            _, metrics = task.fit_score(family, params, task.search_data, task.p.valid)
            value = float(metrics[task.metric])
            if not math.isfinite(value):
                raise ValueError(f"{task.metric} is {value}")
        except Exception as exc:  # noqa: BLE001 - a broken trial must not stop the search
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
            record = TrialRecord(trial.number, family, params, "failed", error=error)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            _log_child(tracking, run, f"trial-{trial.number} {family}", family, params, {},
                       started, {"role": "trial", "state": "failed", "error": error[:500]},
                       status="FAILED")
        else:
            record = TrialRecord(trial.number, family, params, "complete", value, metrics)
            study.tell(trial, value)
            _log_child(tracking, run, f"trial-{trial.number} {family}", family, params, metrics,
                       started, {"role": "trial", "state": "complete"})
        records.append(record)
        if on_progress is not None:
            elapsed = time.monotonic() - start
            values = [r.value for r in records if r.value is not None]
            remaining = elapsed / len(records) * (budget.trials - len(records))
            if seconds is not None:
                remaining = min(remaining, max(0.0, seconds - elapsed))
            on_progress(RecommenderProgress(len(records), budget.trials,
                                            max(values) if values else None, elapsed,
                                            remaining))
    return records


def _row(model: str, role: str, trial: int | None, params: Mapping[str, Any],
         validation: float | None, test: Mapping[str, float]) -> dict[str, Any]:
    return {"model": model, "role": role, "trial": trial,
            "params": {k: _plain(v) for k, v in params.items()},
            "validation_score": validation, "test": dict(test)}


def _judge(table: list[dict[str, Any]]) -> None:
    """Each row's ``beats_baseline``: the ranking metrics on which its test score is higher
    than the baseline's, or "none" (the baseline row says "(baseline)")."""
    base = table[0]["test"]
    for row in table:
        if row["role"] == "baseline":
            row["beats_baseline"] = "(baseline)"
            continue
        better = [name for name, value in row["test"].items()
                  if name.split("@")[0] in RANKED and value > base.get(name, math.inf)]
        row["beats_baseline"] = ", ".join(better) or "none"


def _evaluation(task: _Task, best: TrialRecord, baseline_valid: Mapping[str, float],
                baseline_test: Mapping[str, float], best_test: Mapping[str, float],
                table: list[dict[str, Any]], counts: Mapping[str, int], model: Any,
                everything: Any) -> dict[str, Any]:
    """The JSON-safe record of the run: what the card draws and the registry keeps."""
    import numpy as np

    spec, p = task.spec, task.p
    visited = np.asarray((everything.matrix > 0).sum(axis=0)).ravel()
    never = int((visited == 0).sum())
    selected = next(r for r in table if r["role"] == "selected")
    return {
        "task": PROBLEM, "problem": PROBLEM, "metric": task.metric, "direction": "maximize",
        "k": spec.k, "dataset": p.dataset.ref, "dataset_digest": p.dataset.digest,
        "items_dataset": p.items_version.ref if p.items_version is not None else None,
        "split": {
            "method": "temporal", "holdout": spec.holdout,
            "description": (f"test: each user's last {spec.holdout} event(s); validation: the "
                            f"{spec.holdout} before those; the search fitted on the rest and "
                            "was judged on validation; the table's models were refit on "
                            "train + validation and scored once on test; the saved model "
                            "is refit on every event"),
            "events": len(p.events), "search_events": len(p.fit),
            "validation_events": len(p.valid), "test_events": len(p.test),
            "validation_users": int(p.valid[USER].nunique()),
            "test_users": int(p.test[USER].nunique()),
        },
        "best": {"family": best.family, "params": {k: _plain(v) for k, v in best.params.items()},
                 "trial": best.number},
        "cv_score": best.value, "validation_score": best.value,
        "test_metrics": dict(best_test),
        "beats_baseline": selected["beats_baseline"],
        "baseline": {"family": BASELINE, "validation_score": baseline_valid[task.metric],
                     "test_metrics": dict(baseline_test)},
        "table": table,
        "trials": dict(counts),
        "catalogue": {"users": int(everything.shape[0]), "items": int(everything.shape[1]),
                      "never_visited_items": never},
        "cold_start": {
            "unknown_users": f"answered by the popularity ranking (strategy {COLD_START!r})",
            "new_items": ("recommendable from their attributes (content model)"
                          if best.family == "content" else
                          "never recommended by the model until it is retrained with events "
                          "for them" if best.family != BASELINE else
                          "never recommended (popularity needs visits)"),
            "test_users_unknown": best_test.get("cold_start_users"),
        },
        "limitations": spec.limitations,
        "spec": spec.model_dump(mode="json"),
        "model_class": type(model).__name__,
    }

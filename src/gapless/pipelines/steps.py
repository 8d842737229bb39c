"""What a step does: the built-in steps over a workspace, and user functions.

A step is a function ``fn(ctx, **with) -> dict`` of JSON-able outputs; ``ctx`` is a
:class:`StepContext` (the workspace, the run and step, and ``ctx.log(...)``, kept with
the step's record). ``uses: NAME`` picks a built-in from :data:`BUILTINS`;
``uses: python:MODULE:FUNCTION`` a user function, which must be decorated with
:func:`step` (so that a typo in a spec cannot call an arbitrary function, and so that its
declared outputs are checked)::

    from gapless.pipelines import step

    @step(outputs=["rows"])
    def count_rows(ctx, dataset):
        return {"rows": ctx.workspace.data.get(dataset).row_count}

The cache key of a step includes its code version: the gapless version for built-ins,
the hash of the function's source for user functions (``version=`` overrides it), and for
``ingest`` of a local file, the hash of the file's bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from gapless.core.errors import GaplessError, ValidationError
from gapless.pipelines import retraining

PYTHON = "python:"


@dataclass
class StepContext:
    """What a running step sees besides its parameters."""

    workspace: Any
    run_id: str
    step: str
    lines: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        self.lines.append(str(message))


def step(fn: Callable[..., Any] | None = None, *, outputs: Sequence[str] = (),
         version: str | None = None) -> Any:
    """Mark ``fn`` as a pipeline step declaring ``outputs`` (checked after each run);
    ``version`` replaces the hash of its source in the cache key."""

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        target.__gapless_step__ = {"outputs": tuple(outputs), "version": version}  # type: ignore[attr-defined]
        return target

    return mark(fn) if fn is not None else mark


def resolve_step(uses: str) -> tuple[Callable[..., Any], str, tuple[str, ...]]:
    """``(function, code version, declared outputs)`` of ``uses``."""
    if uses.startswith(PYTHON):
        target = uses[len(PYTHON):]
        module_name, _, name = target.partition(":")
        if not module_name or not name:
            raise ValidationError(f"uses {uses!r}: expected python:MODULE:FUNCTION")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValidationError(f"uses {uses!r}: cannot import {module_name!r}: {exc}") \
                from None
        fn = getattr(module, name, None)
        marked = getattr(fn, "__gapless_step__", None)
        if fn is None or marked is None:
            raise ValidationError(f"uses {uses!r}: {module_name}.{name} is not a function "
                                  "decorated with @gapless.pipelines.step")
        code = marked["version"] or hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
        return fn, code, marked["outputs"]
    if uses not in BUILTINS:
        raise ValidationError(f"uses {uses!r}: not a built-in step ({', '.join(BUILTINS)}) "
                              "nor python:MODULE:FUNCTION")
    fn, outputs = BUILTINS[uses]
    return fn, f"gapless {version('gapless')}", outputs


def fingerprint(uses: str, params: Mapping[str, Any], root: Path) -> str | None:
    """What the parameters alone do not say: the content of a local file ingested."""
    source = params.get("source")
    if uses != "ingest" or not isinstance(source, str) or "://" in source:
        return None
    path = Path(source) if Path(source).is_absolute() else root / source
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- built-in steps --------------------------------------------------------------------------
def _path(ctx: StepContext, value: Any) -> Any:
    """A relative file path is relative to the workspace."""
    if isinstance(value, str) and "://" not in value and "@" not in value:
        candidate = Path(value)
        if not candidate.is_absolute():
            return str(ctx.workspace.root / candidate)
    return value


def ingest(ctx: StepContext, *, name: str, source: str, time_column: str | None = None,
           description: str | None = None) -> dict[str, Any]:
    added = ctx.workspace.data.add(name, _path(ctx, source), time_column=time_column,
                                   description=description)
    ctx.log(added.message)
    return {"dataset": added.version.ref, "rows": added.version.row_count}


def validate(ctx: StepContext, *, dataset: str, schema: Any,
             on_fail: str = "fail") -> dict[str, Any]:
    outcome = ctx.workspace.data.validate(dataset, _path(ctx, schema),
                                          on_fail="warn" if on_fail == "fail" else on_fail)
    failed = [o.id for o in outcome.result.failed]
    ctx.log(f"{dataset}: {'passed' if outcome.passed else 'failed: ' + ', '.join(failed)}")
    if not outcome.passed and on_fail == "fail":
        raise ValidationError(f"{dataset} failed validation: {', '.join(failed)}")
    quarantine = outcome.quarantine.ref if outcome.quarantine is not None else None
    return {"dataset": dataset, "passed": outcome.passed, "quarantine": quarantine}


def clean(ctx: StepContext, *, dataset: str, spec: Any) -> dict[str, Any]:
    cleaned = ctx.workspace.data.clean(dataset, _path(ctx, spec))
    ctx.log(cleaned.message)
    return {"dataset": cleaned.version.ref, "rows": cleaned.version.row_count}


def train(ctx: StepContext, *, spec: Any, dataset: str | None = None,
          executor: str | None = None) -> dict[str, Any]:
    from gapless.training.specs import load_task_spec

    task = load_task_spec(_path(ctx, spec))
    if dataset is not None:  # e.g. the version an earlier step made
        task = load_task_spec({**task.model_dump(by_alias=True, exclude_none=True),
                               "dataset": dataset})
    result = ctx.workspace.train(task, executor=executor)
    ctx.log(f"run {result.run_id}: best {result.best_family}, cv {result.cv_score:.4f}")
    return {"run_id": result.run_id, "cv_score": result.cv_score,
            "test_metrics": dict(result.test_metrics), "family": result.best_family}


def register(ctx: StepContext, *, run_id: str, model: str,
             description: str | None = None) -> dict[str, Any]:
    version = ctx.workspace.models.register(run_id, model, description=description)
    ctx.log(f"registered {version.ref}")
    return {"version": version.ref}


def promote(ctx: StepContext, *, version: str, alias: str, gates: Any = None,
            required: bool = True, reason: str | None = None) -> dict[str, Any]:
    """Promote through the gates; a refusal fails the step unless ``required`` is false."""
    from gapless.core.errors import PromotionRefusedError

    why = reason or f"pipeline run {ctx.run_id}, step {ctx.step}"
    try:
        ctx.workspace.models.promote(version, alias, gates=_path(ctx, gates), reason=why)
    except PromotionRefusedError as exc:
        ctx.log(str(exc))
        if required:
            raise
        return {"promoted": False, "version": version, "alias": alias, "reason": str(exc)}
    ctx.log(f"{version} is now @{alias}")
    return {"promoted": True, "version": version, "alias": alias, "reason": why}


def deploy(ctx: StepContext, *, endpoint: str, model: str, strategy: str = "single",
           **options: Any) -> dict[str, Any]:
    done = ctx.workspace.deploy(endpoint, model, strategy=strategy,
                                reason=f"pipeline run {ctx.run_id}", **options)
    ctx.log(f"{endpoint}: revision {done.revision}, {strategy} of {model}")
    return {"endpoint": endpoint, "revision": done.revision}


def select_rows(ctx: StepContext, *, dataset: str, column: str, start: str, end: str,
                into: str) -> dict[str, Any]:
    """The rows of ``dataset`` with ``start <= column < end``, stored as the next version
    of dataset ``into`` (the same content again is not stored twice)."""
    import pandas as pd

    frame = ctx.workspace.data.load(dataset)
    if column not in frame.columns:
        raise ValidationError(f"select_rows: {dataset} has no column {column!r}")
    times = pd.to_datetime(frame[column], utc=True)
    low, high = pd.Timestamp(start), pd.Timestamp(end)
    low = low.tz_localize("UTC") if low.tzinfo is None else low
    high = high.tz_localize("UTC") if high.tzinfo is None else high
    chosen = frame[(times >= low) & (times < high)].reset_index(drop=True)
    added = ctx.workspace.data.add(into, chosen, parents=[dataset], kind="derived",
                                   spec={"rows_of": dataset, "column": column,
                                         "start": start, "end": end},
                                   description=f"{dataset} rows from {start} to {end}")
    ctx.log(added.message)
    return {"dataset": added.version.ref, "rows": len(chosen)}


def batch_predict(ctx: StepContext, *, input: str, output: str, model: str | None = None,
                  endpoint: str | None = None, record_as: str | None = None) -> dict[str, Any]:
    from gapless.serving.batch import predict_batch

    result = predict_batch(ctx.workspace, model=model, endpoint=endpoint,
                           input=_path(ctx, input), output=_path(ctx, output),
                           record_as=record_as)
    ctx.log(f"scored {result.rows:,} rows with {result.model} into {result.output}")
    return {"rows": result.rows, "output": result.output, "model": result.model,
            "dataset": result.dataset}


BUILTINS: dict[str, tuple[Callable[..., dict[str, Any]], tuple[str, ...]]] = {
    "ingest": (ingest, ("dataset", "rows")),
    "validate": (validate, ("dataset", "passed")),
    "clean": (clean, ("dataset", "rows")),
    "train": (train, ("run_id", "cv_score", "test_metrics")),
    "register": (register, ("version",)),
    "promote": (promote, ("promoted", "version")),
    "deploy": (deploy, ("endpoint", "revision")),
    "batch_predict": (batch_predict, ("rows", "output")),
    "select_rows": (select_rows, ("dataset", "rows")),
    "feedback": (retraining.feedback, ("dataset", "rows")),
    "challenge": (retraining.challenge, ("challenger", "champion")),
    "canary": (retraining.canary, ("outcome", "revision")),
    "update": (retraining.update, ("version", "rows")),
}


def call(fn: Callable[..., Any], ctx: StepContext, params: Mapping[str, Any],
         outputs: Sequence[str], uses: str) -> dict[str, Any]:
    """Run one step and check what it returned."""
    try:
        inspect.signature(fn).bind(ctx, **params)
    except TypeError as exc:
        raise ValidationError(f"step {ctx.step!r} ({uses}): its parameters do not fit: "
                              f"{exc}") from None
    result = fn(ctx, **params)
    if result is None:
        result = {}
    if not isinstance(result, Mapping):
        raise ValidationError(f"step {ctx.step!r} ({uses}) returned "
                              f"{type(result).__name__}; a step returns a dict of outputs")
    missing = [name for name in outputs if name not in result]
    if missing:
        raise ValidationError(f"step {ctx.step!r} ({uses}) did not return its declared "
                              f"output(s) {missing}")
    return dict(result)


__all__ = ["BUILTINS", "GaplessError", "StepContext", "call", "fingerprint", "resolve_step",
           "step"]

"""Running a pipeline: its steps as a DAG on an executor, cached, recorded, resumable.

Every step whose dependencies are done is started at once, so independent steps run in
parallel (on ``local:1`` they run one after another, in this process). Before a step
starts, its parameters are resolved from the outputs it reads and its **cache key** is
computed: the SHA-256 of what it uses, its code version, its resolved parameters and,
for a local file it ingests, the file's bytes. A step whose key already succeeded (in
any run) is not run again: its outputs are reused and the step says ``cached`` and from
which run. A step that raises is ``failed`` with the error; the steps that wait for it
are ``skipped``, the others still run, and the run is ``failed``. Running the pipeline
again (or ``resume=RUN_ID``, which also reuses that run's steps marked ``cache: false``)
skips everything that succeeded and starts from the failed step.

Steps that run in other processes (local workers, Dask) reopen the workspace there with
the same settings, and run their own nested work (a training search) in that process
(``compute_uri`` ``local:1``): the parallelism is the pipeline's, across steps.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from gapless.core.errors import GaplessError
from gapless.pipelines.dag import dependencies, downstream
from gapless.pipelines.records import PipelineRun, RunRecords
from gapless.pipelines.spec import PipelineSpec, load_spec, resolve
from gapless.pipelines.steps import StepContext, call, fingerprint, resolve_step

OnStep = Callable[[str, str, str], None]  # (step, status, detail)


def execute_step(workspace: Any, run_id: str, name: str, uses: str,
                 params: dict[str, Any]) -> dict[str, Any]:
    """One step, as a task: ``workspace`` is the live workspace (in this process) or a
    callable that opens it. Never raises: the outcome says ``ok``, the outputs or the
    error, and the step's log."""
    opened = None
    try:
        if callable(workspace):
            workspace = opened = workspace()
        fn, _, outputs = resolve_step(uses)
        ctx = StepContext(workspace, run_id, name)
        try:
            result = call(fn, ctx, params, outputs, uses)
        except GaplessError as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                    "log": "\n".join(ctx.lines)}
        except Exception as exc:  # noqa: BLE001 - a user step may raise anything
            trace = traceback.format_exc(limit=8)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                    "log": "\n".join([*ctx.lines, trace])}
        json.dumps(result, default=str)
        return {"ok": True, "outputs": result, "log": "\n".join(ctx.lines)}
    except Exception as exc:  # noqa: BLE001 - opening the workspace, an unknown step
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "log": ""}
    finally:
        if opened is not None:
            opened.close()


def cache_key(uses: str, code: str, params: dict[str, Any], extra: str | None) -> str:
    text = json.dumps({"uses": uses, "code": code, "with": params, "extra": extra},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_pipeline(workspace: Any, spec_source: Any, *, executor: Any, opener: Any,
                 trigger: str = "manual", resume: str | None = None,
                 on_step: OnStep | None = None) -> PipelineRun:
    """Run ``spec_source`` (a spec, a YAML path or a mapping) on ``executor`` (an open
    :class:`~gapless.compute.Executor`); ``opener`` reopens the workspace in a worker.
    Returns the finished run's record. Raises ValidationError before anything runs when
    the spec is invalid (an unknown step, a cycle, a missing reference)."""
    records = RunRecords(workspace.metadata)
    prior = records.get(resume) if resume is not None else None
    if spec_source is None and prior is not None:
        spec_source = prior.spec
    spec = load_spec(spec_source)
    edges = dependencies(spec)
    code = {s.name: resolve_step(s.uses)[1] for s in spec.steps}  # unknown uses: fail now
    run_id = records.start(spec.name, spec.model_dump(by_alias=True), spec.digest,
                           [s.name for s in spec.steps], trigger=trigger,
                           executor=executor.name,
                           resumed_from=prior.id if prior is not None else None)
    reuse = {s.step: (s.cache_key, (prior.id, s.outputs or {}))
             for s in (prior.steps if prior else ()) if s.status in ("succeeded", "cached")}
    target = workspace if executor.name == "local:1" else opener
    state = _State(spec, edges)
    notify = on_step or (lambda step, status, detail: None)
    try:
        while True:
            ready = state.ready()
            while ready:  # a cached or failed step may make others ready at once
                for name in ready:
                    _start(name, spec, state, records, run_id, code, reuse, workspace,
                           executor, target, notify)
                ready = state.ready()
            if not state.running:
                break
            done, _ = wait(list(state.running), return_when=FIRST_COMPLETED)
            for future in done:
                _finish(state.running.pop(future), future, state, records, run_id, notify)
    except BaseException as exc:
        for future, name in state.running.items():
            future.cancel()
            records.update_step(run_id, name, status="failed", finished_at=time.time(),
                                error=f"the run stopped: {type(exc).__name__}: {exc}")
        records.finish(run_id, "failed", f"the run stopped: {type(exc).__name__}: {exc}")
        raise
    failed = [n for n, s in state.status.items() if s == "failed"]
    records.finish(run_id, "failed" if failed else "succeeded",
                   f"step(s) failed: {', '.join(failed)}" if failed else None)
    return records.get(run_id)


class _State:
    def __init__(self, spec: PipelineSpec, edges: dict[str, set[str]]) -> None:
        self.order = [s.name for s in spec.steps]
        self.edges = edges
        self.status: dict[str, str] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.running: dict[Future[Any], str] = {}

    def ready(self) -> list[str]:
        return [n for n in self.order if n not in self.status
                and all(self.status.get(b) in ("succeeded", "cached") for b in self.edges[n])]

    def fail(self, name: str) -> list[str]:
        self.status[name] = "failed"
        skipped = [n for n in downstream(self.edges, name) if n not in self.status]
        for n in skipped:
            self.status[n] = "skipped"
        return skipped


def _start(name: str, spec: PipelineSpec, state: _State, records: RunRecords, run_id: str,
           code: dict[str, str], reuse: dict[str, Any], workspace: Any, executor: Any,
           target: Any, notify: OnStep) -> None:
    step = spec.step(name)
    now = time.time()
    try:
        params = resolve(step.with_, spec.params, state.outputs, f"step {name!r}, with")
        key = cache_key(step.uses, code[name], params,
                        fingerprint(step.uses, params, workspace.root))
    except GaplessError as exc:
        _failed(name, state, records, run_id, str(exc), "", now, notify)
        return
    earlier = reuse.get(name)
    hit = (earlier[1] if earlier is not None and earlier[0] == key
           else records.cached(key) if step.cache else None)
    if hit is not None:
        source, outputs = hit
        state.status[name], state.outputs[name] = "cached", outputs
        records.update_step(run_id, name, status="cached", cache_key=key, cached_from=source,
                            outputs=outputs, started_at=now, finished_at=now,
                            log=f"unchanged: outputs of run {source} reused")
        notify(name, "cached", f"unchanged since run {source[:8]}")
        return
    state.status[name] = "running"
    records.update_step(run_id, name, status="running", cache_key=key, started_at=now)
    notify(name, "running", step.uses)
    state.running[executor.submit(execute_step, target, run_id, name, step.uses, params)] = name


def _finish(name: str, future: Future[Any], state: _State, records: RunRecords, run_id: str,
            notify: OnStep) -> None:
    now = time.time()
    try:
        outcome = future.result()
    except Exception as exc:  # noqa: BLE001 - the worker itself died (a process, Dask)
        outcome = {"ok": False, "error": f"the worker running it died: "
                                         f"{type(exc).__name__}: {exc}", "log": ""}
    if not outcome["ok"]:
        _failed(name, state, records, run_id, outcome["error"], outcome["log"], now, notify)
        return
    state.status[name], state.outputs[name] = "succeeded", outcome["outputs"]
    records.update_step(run_id, name, status="succeeded", outputs=outcome["outputs"],
                        log=outcome["log"], finished_at=now)
    notify(name, "succeeded", "")


def _failed(name: str, state: _State, records: RunRecords, run_id: str, error: str, log: str,
            now: float, notify: OnStep) -> None:
    records.update_step(run_id, name, status="failed", error=error, log=log, finished_at=now)
    notify(name, "failed", error)
    for skipped in state.fail(name):
        records.update_step(run_id, skipped, status="skipped",
                            error=f"not run: step {name!r} failed")
        notify(skipped, "skipped", f"step {name!r} failed")

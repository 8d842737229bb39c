"""Pipeline runs and their steps in the metadata store: written as they happen, so a
run that dies leaves a record of how far it got, and read back for ``gapless pipeline
list|show``, for the cache and for resuming."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import NotFoundError
from gapless.core.identity import current_user
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import pipeline_runs, pipeline_steps

LOG_LIMIT = 20_000  # characters of a step's log kept


@dataclass(frozen=True)
class StepRecord:
    step: str
    position: int
    status: str  # pending | running | succeeded | cached | failed | skipped
    cache_key: str | None = None
    cached_from: str | None = None
    outputs: dict[str, Any] | None = None
    log: str | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class PipelineRun:
    id: str
    pipeline: str
    status: str  # running | succeeded | failed
    trigger: str
    executor: str
    spec: dict[str, Any]
    spec_digest: str
    created_by: str
    started_at: float
    finished_at: float | None = None
    error: str | None = None
    resumed_from: str | None = None
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {s.step: s.outputs or {} for s in self.steps
                if s.status in ("succeeded", "cached")}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "pipeline": self.pipeline, "status": self.status,
                "trigger": self.trigger, "executor": self.executor,
                "created_by": self.created_by, "started_at": self.started_at,
                "finished_at": self.finished_at, "error": self.error,
                "resumed_from": self.resumed_from,
                "steps": [{**s.__dict__, "seconds": s.seconds} for s in self.steps]}


class RunRecords:
    """Reads and writes of ``pipeline_runs`` and ``pipeline_steps``."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def start(self, pipeline: str, spec: dict[str, Any], digest: str, steps: list[str], *,
              trigger: str, executor: str, resumed_from: str | None) -> str:
        run_id = uuid.uuid4().hex
        now = time.time()

        def work(conn: sa.Connection) -> None:
            conn.execute(pipeline_runs.insert().values(
                id=run_id, pipeline=pipeline, spec_json=json.dumps(spec, default=str),
                spec_digest=digest, status="running", trigger=trigger, executor=executor,
                resumed_from=resumed_from, created_by=current_user(), started_at=now))
            conn.execute(pipeline_steps.insert(), [
                {"run_id": run_id, "step": name, "position": i, "status": "pending"}
                for i, name in enumerate(steps)])

        self.store.write(work)
        return run_id

    def update_step(self, run_id: str, step: str, **values: Any) -> None:
        if "outputs" in values:
            values["outputs_json"] = json.dumps(values.pop("outputs"), default=str)
        if values.get("log") is not None:
            values["log"] = values["log"][-LOG_LIMIT:]
        self.store.write(lambda conn: conn.execute(
            sa.update(pipeline_steps).where(pipeline_steps.c.run_id == run_id,
                                            pipeline_steps.c.step == step).values(**values)))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        self.store.write(lambda conn: conn.execute(
            sa.update(pipeline_runs).where(pipeline_runs.c.id == run_id)
            .values(status=status, error=error, finished_at=time.time())))

    def cached(self, cache_key: str) -> tuple[str, dict[str, Any]] | None:
        """The run and outputs of the latest step that succeeded with ``cache_key``."""
        s = pipeline_steps
        stmt = (sa.select(s.c.run_id, s.c.outputs_json, s.c.cached_from)
                .where(s.c.cache_key == cache_key, s.c.status.in_(("succeeded", "cached")))
                .order_by(s.c.finished_at.desc()).limit(1))
        with self.store.read() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return row.cached_from or row.run_id, json.loads(row.outputs_json or "{}")

    def get(self, run_id: str) -> PipelineRun:
        r = pipeline_runs
        with self.store.read() as conn:
            row = conn.execute(sa.select(r).where(r.c.id == run_id)).first()
            if row is None:
                found = conn.execute(sa.select(r.c.id).where(r.c.id.startswith(run_id))
                                     .limit(2)).all() if len(run_id) >= 4 else []
                if len(found) != 1:
                    raise NotFoundError(f"no pipeline run {run_id!r}; `gapless pipeline "
                                        "list` shows the runs")
                row = conn.execute(sa.select(r).where(r.c.id == found[0].id)).first()
            steps = conn.execute(sa.select(pipeline_steps)
                                 .where(pipeline_steps.c.run_id == row.id)
                                 .order_by(pipeline_steps.c.position)).all()
        return _run(row, [_step(s) for s in steps])

    def list(self, pipeline: str | None = None, limit: int = 20) -> list[PipelineRun]:
        r = pipeline_runs
        stmt = sa.select(r).order_by(r.c.started_at.desc()).limit(limit)
        if pipeline is not None:
            stmt = stmt.where(r.c.pipeline == pipeline)
        with self.store.read() as conn:
            rows = conn.execute(stmt).all()
            steps = conn.execute(sa.select(pipeline_steps).where(
                pipeline_steps.c.run_id.in_([row.id for row in rows]))
                .order_by(pipeline_steps.c.position)).all() if rows else []
        by_run: dict[str, list[StepRecord]] = {}
        for s in steps:
            by_run.setdefault(s.run_id, []).append(_step(s))
        return [_run(row, by_run.get(row.id, [])) for row in rows]


def _run(row: Any, steps: list[StepRecord]) -> PipelineRun:
    return PipelineRun(row.id, row.pipeline, row.status, row.trigger, row.executor,
                       json.loads(row.spec_json), row.spec_digest, row.created_by,
                       row.started_at, row.finished_at, row.error, row.resumed_from, steps)


def _step(row: Any) -> StepRecord:
    return StepRecord(row.step, row.position, row.status, row.cache_key, row.cached_from,
                      json.loads(row.outputs_json) if row.outputs_json else None, row.log,
                      row.error, row.started_at, row.finished_at)

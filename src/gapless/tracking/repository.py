"""SQL persistence of experiments and runs; the only tracking module that writes SQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ConflictError, NotFoundError, ValidationError
from gapless.core.records import ArtifactRecord, Experiment, MetricPoint, RunRecord
from gapless.stores.sql import MetadataStore, upsert
from gapless.stores.tables import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    run_environments,
    runs,
    tags,
)
from gapless.tracking.query import compile_filter, order_columns
from gapless.tracking.search import parse_filter, parse_order_by

_IN_CHUNK = 500


class TrackingRepository:
    """Reads and writes tracking records in one :class:`MetadataStore`."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._experiment_ids: dict[str, int] = {}
        self._stored_environments: set[str] = set()

    # -- experiments ---------------------------------------------------
    def experiment_id(self, name: str) -> int:
        """The id of experiment ``name``, created on first use (safe under concurrency)."""
        if name in self._experiment_ids:
            return self._experiment_ids[name]

        def work(conn: sa.Connection) -> int:
            upsert(conn, experiments, [{"name": name, "created_at": time.time()}],
                   keys=["name"], update=[])
            return conn.execute(
                sa.select(experiments.c.id).where(experiments.c.name == name)
            ).scalar_one()

        self._experiment_ids[name] = self.store.write(work)
        return self._experiment_ids[name]

    def list_experiments(self) -> list[Experiment]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.id)).all()
        return [Experiment(r.id, r.name, r.created_at) for r in rows]

    # -- runs ----------------------------------------------------------
    def create_run(
        self,
        *,
        run_id: str,
        experiment: str,
        name: str,
        user: str,
        parent_id: str | None,
        start_time: float,
        run_tags: dict[str, str],
        environment: dict[str, Any] | None = None,
    ) -> None:
        experiment_id = self.experiment_id(experiment)
        content = json.dumps(environment, sort_keys=True) if environment else None
        digest = hashlib.sha256(content.encode()).hexdigest() if content else None

        def work(conn: sa.Connection) -> None:
            if digest and digest not in self._stored_environments:
                upsert(conn, run_environments, [{"digest": digest, "content": content}],
                       keys=["digest"], update=[])
            conn.execute(runs.insert().values(
                id=run_id, experiment_id=experiment_id, name=name, status="RUNNING",
                start_time=start_time, end_time=None, parent_id=parent_id, user=user,
                environment=digest,
            ))
            if run_tags:
                conn.execute(tags.insert(), [
                    {"run_id": run_id, "key": k, "value": v} for k, v in run_tags.items()
                ])

        self.store.write(work)
        if digest:
            self._stored_environments.add(digest)

    def write_batch(
        self,
        run_id: str,
        *,
        run_params: Sequence[tuple[str, str]] = (),
        run_metrics: Sequence[MetricPoint] = (),
        run_tags: Sequence[tuple[str, str]] = (),
        finish: tuple[str, float] | None = None,
    ) -> None:
        """Write params, metrics and tags of one run in a single transaction; with
        ``finish=(status, end_time)`` the run is also marked ended in that transaction.

        Params are immutable: a key already stored with another value raises
        ConflictError and nothing of the batch is written.
        """
        param_rows = [
            {"run_id": run_id, "key": k, "value": v, "value_num": _as_number(v)}
            for k, v in run_params
        ]
        metric_rows = [
            {"run_id": run_id, "key": m.key, "value": _finite_or_none(m.value),
             "step": m.step, "timestamp": m.timestamp}
            for m in run_metrics
        ]
        latest: dict[str, dict[str, Any]] = {}
        for row in metric_rows:
            held = latest.get(row["key"])
            if held is None or (row["step"], row["timestamp"]) >= (held["step"], held["timestamp"]):
                latest[row["key"]] = row
        tag_rows = [{"run_id": run_id, "key": k, "value": v} for k, v in dict(run_tags).items()]

        def work(conn: sa.Connection) -> None:
            if param_rows:
                upsert(conn, params, param_rows, keys=["run_id", "key"], update=[])
                self._check_params(conn, run_id, param_rows)
            if metric_rows:
                conn.execute(metrics.insert(), metric_rows)
                upsert(
                    conn, latest_metrics, list(latest.values()), keys=["run_id", "key"],
                    update=["value", "step", "timestamp"],
                    where=lambda t, new: sa.or_(
                        new.step > t.c.step,
                        sa.and_(new.step == t.c.step, new.timestamp >= t.c.timestamp),
                    ),
                )
            if tag_rows:
                upsert(conn, tags, tag_rows, keys=["run_id", "key"], update=["value"])
            if finish is not None:
                conn.execute(runs.update().where(runs.c.id == run_id).values(
                    status=finish[0], end_time=finish[1]))

        self.store.write(work)

    @staticmethod
    def _check_params(conn: sa.Connection, run_id: str, rows: list[dict[str, Any]]) -> None:
        wanted = {row["key"]: row["value"] for row in rows}
        stored = conn.execute(
            sa.select(params.c.key, params.c.value).where(
                params.c.run_id == run_id, params.c.key.in_(list(wanted))
            )
        ).all()
        for key, value in stored:
            if value != wanted[key]:
                raise ConflictError(
                    f"run {run_id}: param {key!r} is already {value!r} and params cannot "
                    f"change (got {wanted[key]!r}); log a new run or use a tag instead"
                )

    def record_artifact(self, run_id: str, path: str, digest: str, size: int) -> ArtifactRecord:
        record = ArtifactRecord(run_id, path, digest, size, time.time())

        def work(conn: sa.Connection) -> None:
            upsert(conn, run_artifacts, [record.__dict__], keys=["run_id", "path"],
                   update=["digest", "size", "created_at"])

        self.store.write(work)
        return record

    # -- reads -----------------------------------------------------------
    def resolve_run_id(self, run_id: str) -> str:
        """Accept a full run id or a unique prefix of at least 6 characters."""
        if not isinstance(run_id, str) or len(run_id) < 6:
            raise ValidationError(f"run id {run_id!r} is too short; give at least 6 characters")
        with self.store.read() as conn:
            found = conn.execute(
                sa.select(runs.c.id).where(runs.c.id.startswith(run_id, autoescape=True)).limit(2)
            ).scalars().all()
        if not found:
            raise NotFoundError(f"no run with id {run_id!r}; list runs with `gapless runs list`")
        if len(found) > 1:
            raise ValidationError(f"run id prefix {run_id!r} is ambiguous; give more characters")
        return found[0]

    def get_run(self, run_id: str) -> RunRecord:
        full_id = self.resolve_run_id(run_id)
        with self.store.read() as conn:
            row = conn.execute(_run_select().where(runs.c.id == full_id)).one()
            record = _load_runs(conn, [row])[0]
            content = None
            if row.environment:
                content = conn.execute(sa.select(run_environments.c.content).where(
                    run_environments.c.digest == row.environment)).scalar()
        if content is None:
            return record
        return dataclasses.replace(record, environment=json.loads(content))

    def search(
        self,
        filter_string: str | None = None,
        *,
        experiments_named: Iterable[str] | None = None,
        order_by: Sequence[str] = (),
        limit: int | None = 1000,
    ) -> list[RunRecord]:
        node = parse_filter(filter_string or "")
        order = [parse_order_by(clause) for clause in order_by]
        if limit is not None and limit < 1:
            raise ValidationError(f"limit must be a positive number of runs, got {limit}")
        stmt = _run_select().where(compile_filter(node))
        if experiments_named is not None:
            stmt = stmt.where(experiments.c.name.in_(list(experiments_named)))
        columns, joins = order_columns(order)
        for table, on in joins:
            stmt = stmt.outerjoin(table, on)
        stmt = stmt.order_by(*columns).limit(limit)
        with self.store.read() as conn:
            # The matching ids go back to the database as a subquery, not as bound values.
            return _load_runs(conn, conn.execute(stmt).all(), stmt.with_only_columns(runs.c.id))

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        full_id = self.resolve_run_id(run_id)
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp)
                .where(metrics.c.run_id == full_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
            ).all()
        return [MetricPoint(r.key, _nan_if_none(r.value), r.step, r.timestamp) for r in rows]

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        full_id = self.resolve_run_id(run_id)
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(run_artifacts).where(run_artifacts.c.run_id == full_id)
                .order_by(run_artifacts.c.path)
            ).all()
        return [ArtifactRecord(r.run_id, r.path, r.digest, r.size, r.created_at) for r in rows]


def _run_select() -> sa.Select[Any]:
    return sa.select(runs, experiments.c.name.label("experiment_name")).join(
        experiments, experiments.c.id == runs.c.experiment_id
    )


def _load_runs(
    conn: sa.Connection, rows: Sequence[Any], matching: sa.Select[Any] | None = None
) -> list[RunRecord]:
    """Records for ``rows`` with their params, latest metrics and tags.

    ``matching`` selects the same run ids in SQL; without it the ids are bound in chunks.
    """
    ids = [row.id for row in rows]
    found: dict[str, dict[str, dict[str, Any]]] = {
        run_id: {"params": {}, "metrics": {}, "tags": {}} for run_id in ids
    }
    selections = [matching] if matching is not None else [
        ids[start : start + _IN_CHUNK] for start in range(0, len(ids), _IN_CHUNK)
    ]
    for selection in selections if ids else []:
        for name, table in (("params", params), ("metrics", latest_metrics), ("tags", tags)):
            for run_id, key, value in conn.execute(
                sa.select(table.c.run_id, table.c.key, table.c.value).where(
                    table.c.run_id.in_(selection)
                )
            ).all():
                found[run_id][name][key] = _nan_if_none(value) if name == "metrics" else value
    return [
        RunRecord(
            id=row.id, experiment=row.experiment_name, name=row.name, status=row.status,
            start_time=row.start_time, end_time=row.end_time, parent_id=row.parent_id,
            user=row.user, params=MappingProxyType(found[row.id]["params"]),
            metrics=MappingProxyType(found[row.id]["metrics"]),
            tags=MappingProxyType(found[row.id]["tags"]),
        )
        for row in rows
    ]


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value

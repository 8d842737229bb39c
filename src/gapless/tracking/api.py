"""``workspace.runs``: start, search and read tracked runs."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gapless.core.errors import NotFoundError, ValidationError
from gapless.core.identity import current_user
from gapless.core.records import (
    RUN_STATUSES,
    ArtifactRecord,
    Experiment,
    MetricPoint,
    RunRecord,
)
from gapless.core.refs import safe_relative_path
from gapless.stores.artifacts import ArtifactStore
from gapless.stores.sql import MetadataStore
from gapless.tracking.environment import capture_environment
from gapless.tracking.repository import TrackingRepository
from gapless.tracking.runs import ACTIVE_RUN, ActiveRun, check_key

_AUTO: Any = object()
DEFAULT_EXPERIMENT = "default"


class Tracking:
    """Experiment tracking over one metadata store and one artifact store."""

    def __init__(
        self,
        store: MetadataStore,
        artifacts: ArtifactStore,
        *,
        flush_interval: float = 1.0,
        capture_env: bool = True,
    ) -> None:
        self.repository = TrackingRepository(store)
        self.artifact_store = artifacts
        self.flush_interval = flush_interval
        self._capture_env = capture_env
        self._environment: dict[str, Any] | None = None

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        *,
        parent: ActiveRun | str | None = _AUTO,
        tags: Mapping[str, Any] | None = None,
    ) -> ActiveRun:
        """Create a run and make it the active one.

        ``parent`` defaults to the active run, so runs started inside another run
        are nested under it; pass ``parent=None`` for a top-level run.
        """
        experiment = check_key(experiment, "experiment")
        if parent is _AUTO:
            parent = ACTIVE_RUN.get()
        parent_id = parent.id if isinstance(parent, ActiveRun) else parent
        if parent_id is not None:
            parent_id = self.repository.resolve_run_id(parent_id)
        run_id = uuid.uuid4().hex
        run_name = name or f"run-{run_id[:8]}"
        if not isinstance(run_name, str) or len(run_name) > 250:
            raise ValidationError(f"run name must be text of at most 250 characters, got {name!r}")
        run_tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        self.repository.create_run(
            run_id=run_id, experiment=experiment, name=run_name, user=current_user(),
            parent_id=parent_id, start_time=time.time(), run_tags=run_tags,
            environment=self._environment_once(),
        )
        return ActiveRun(self, run_id=run_id, name=run_name, experiment=experiment,
                         parent_id=parent_id, flush_interval=self.flush_interval)

    def log_run(
        self,
        experiment: str,
        name: str,
        *,
        parent: ActiveRun | str | None = None,
        start_time: float,
        end_time: float,
        status: str = "FINISHED",
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float | Sequence[float]] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Record a whole run that happened elsewhere (a trial on a worker) in one write.

        A metric given as a sequence is logged with steps 0, 1, ... (e.g. fold scores).
        Returns the new run's id. Unlike :meth:`start_run`, it never becomes the active run.
        """
        if status not in RUN_STATUSES:
            raise ValidationError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        experiment = check_key(experiment, "experiment")
        parent_id = parent.id if isinstance(parent, ActiveRun) else parent
        run_id = uuid.uuid4().hex
        self.repository.create_run(
            run_id=run_id, experiment=experiment, name=name, user=current_user(),
            parent_id=parent_id, start_time=start_time,
            run_tags={check_key(k, "tag"): str(v) for k, v in (tags or {}).items()},
            environment=self._environment_once(),
        )
        points = []
        for key, value in (metrics or {}).items():
            check_key(key, "metric")
            values = value if isinstance(value, Sequence) else [value]
            points += [MetricPoint(key, float(v), step, end_time) for step, v in enumerate(values)]
        self.repository.write_batch(
            run_id,
            run_params=[(check_key(k, "param"), str(v)) for k, v in (params or {}).items()],
            run_metrics=points, finish=(status, end_time),
        )
        return run_id

    def get(self, run_id: str) -> RunRecord:
        """The run with this id (or unique id prefix of 6+ characters)."""
        return self.repository.get_run(run_id)

    def search(
        self,
        filter: str | None = None,
        *,
        experiment: str | Iterable[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = 1000,
    ) -> list[RunRecord]:
        """Runs matching ``filter`` (grammar in :mod:`gapless.tracking.search`), newest first
        unless ``order_by`` says otherwise (e.g. ``["metrics.auc DESC"]``)."""
        names = [experiment] if isinstance(experiment, str) else experiment
        orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
        return self.repository.search(filter, experiments_named=names, order_by=orders,
                                      limit=limit)

    def experiments(self) -> list[Experiment]:
        return self.repository.list_experiments()

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return self.repository.metric_history(run_id, key)

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        return self.repository.artifacts(run_id)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of a run's artifact, verified against their SHA-256."""
        return self.artifact_store.get_bytes(self._artifact(run_id, path).digest)

    def download_artifact(self, run_id: str, path: str, target: str | os.PathLike[str]) -> Path:
        return self.artifact_store.download(self._artifact(run_id, path).digest, target)

    def store_artifact(self, run_id: str, source: Path, target: str) -> ArtifactRecord:
        """Upload first, record second: a failed upload leaves no record."""
        target = safe_relative_path(target, what="artifact path")
        blob = self.artifact_store.put_file(source)
        return self.repository.record_artifact(run_id, target, blob.digest, blob.size)

    def _artifact(self, run_id: str, path: str) -> ArtifactRecord:
        path = safe_relative_path(path, what="artifact path")
        for record in self.repository.artifacts(run_id):
            if record.path == path:
                return record
        raise NotFoundError(f"run {run_id} has no artifact {path!r}")

    def _environment_once(self) -> dict[str, Any] | None:
        """Captured on the first run of this process, then reused (git calls are slow)."""
        if not self._capture_env:
            return None
        if self._environment is None:
            self._environment = capture_environment(os.getcwd())
        return self._environment



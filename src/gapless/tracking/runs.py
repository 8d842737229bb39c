"""A live run: the object user code logs params, metrics, tags and artifacts to.

The active run is held in the ContextVar :data:`ACTIVE_RUN`, the one piece of
module-level state in gapless, so nested ``start_run`` calls find their parent and
threads or asyncio tasks each see their own.
"""

from __future__ import annotations

import atexit
import json
import numbers
import os
import re
import tempfile
import time
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapless.core.errors import ConflictError, NotFoundError, ValidationError
from gapless.core.records import ArtifactRecord, MetricPoint
from gapless.core.refs import safe_relative_path
from gapless.tracking.buffer import Batch, WriteBuffer

if TYPE_CHECKING:
    from gapless.tracking.api import Tracking

ACTIVE_RUN: ContextVar[ActiveRun | None] = ContextVar("gapless_active_run", default=None)

_KEY = re.compile(r"^[\w\-. /:]{1,250}$")


def check_key(key: str, what: str) -> str:
    """Keys may hold letters, digits, ``_ - . / :`` and spaces, up to 250 characters."""
    if not isinstance(key, str) or not _KEY.match(key) or key != key.strip():
        raise ValidationError(
            f"{what} key {key!r} is not valid: use 1-250 letters, digits, spaces or _ - . / : "
            "with no leading or trailing space"
        )
    return key


def active_run() -> ActiveRun | None:
    """The run started most recently in this context and not yet ended."""
    return ACTIVE_RUN.get()


class ActiveRun:
    """A run being recorded. Use it as a context manager, or call :meth:`end`.

    Writes are buffered (see :mod:`gapless.tracking.buffer`); everything logged is in
    the store once the run ends, and at least every second before that.
    """

    def __init__(
        self,
        tracking: Tracking,
        *,
        run_id: str,
        name: str,
        experiment: str,
        parent_id: str | None,
        flush_interval: float,
    ) -> None:
        self.tracking = tracking
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.parent_id = parent_id
        self.status = "RUNNING"
        self._params: dict[str, str] = {}
        self._steps: dict[str, int] = {}
        self._buffer = WriteBuffer(self._write, interval=flush_interval)
        self._previous = ACTIVE_RUN.get()
        ACTIVE_RUN.set(self)
        atexit.register(self.end)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.experiment}/{self.name} {self.status}>"

    # -- logging -----------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        """Params are immutable: logging a key again with another value raises ConflictError."""
        fresh = []
        for key, value in values.items():
            check_key(key, "param")
            text = value if isinstance(value, str) else str(value)
            held = self._params.get(key)
            if held is not None and held != text:
                raise ConflictError(
                    f"run {self.id}: param {key!r} is already {held!r}, cannot change it to "
                    f"{text!r}; start a new run or record it as a tag"
                )
            if held is None:
                self._params[key] = text
                fresh.append((key, text))
        self._buffer.add(params=fresh)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record one value; ``step`` defaults to one more than this key's last step (from 0)."""
        self._buffer.add(metrics=[self._point(key, value, step, timestamp)])

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        now = time.time()
        self._buffer.add(metrics=[self._point(k, v, step, now) for k, v in values.items()])

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self._buffer.add(tags={check_key(k, "tag"): str(v) for k, v in values.items()})

    def log_artifact(self, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> ArtifactRecord:
        """Store a file in the artifact store and record it under ``artifact_path/<name>``."""
        source = Path(local_path)
        if not source.is_file():
            raise NotFoundError(f"cannot log artifact {source}: no such file")
        target = f"{artifact_path}/{source.name}" if artifact_path else source.name
        return self.tracking.store_artifact(self.id, source, target)

    def log_artifacts(self, local_dir: str | os.PathLike[str],
                      artifact_path: str | None = None) -> list[ArtifactRecord]:
        """Store every file under ``local_dir``, keeping its relative layout."""
        folder = Path(local_dir)
        if not folder.is_dir():
            raise NotFoundError(f"cannot log artifacts from {folder}: no such folder")
        records = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            target = f"{artifact_path}/{relative}" if artifact_path else relative
            records.append(self.tracking.store_artifact(self.id, path, target))
        return records

    def log_text(self, text: str, artifact_file: str) -> ArtifactRecord:
        return self._log_content(text.encode("utf-8"), artifact_file)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> ArtifactRecord:
        """Store ``data`` as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            content = yaml.safe_dump(dict(data), sort_keys=False)
        else:
            content = json.dumps(data, indent=2, default=str)
        return self._log_content(content.encode("utf-8"), artifact_file)

    # -- lifecycle -----------------------------------------------------------
    def flush(self) -> None:
        """Write everything logged so far now."""
        self._buffer.flush()

    def end(self, status: str = "FINISHED") -> None:
        """Flush, mark the run ended with ``status`` and make its parent active again."""
        if self.status != "RUNNING":
            return
        self._buffer.close(final=lambda batch: self._write(batch, finish=(status, time.time())))
        atexit.unregister(self.end)
        self.status = status
        if ACTIVE_RUN.get() is self:
            ACTIVE_RUN.set(self._previous)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")

    # -- internals -----------------------------------------------------------
    def _point(self, key: str, value: Any, step: int | None, timestamp: float | None
               ) -> MetricPoint:
        check_key(key, "metric")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError(
                f"metric {key!r}: expected a number, got {type(value).__name__} {value!r}"
            )
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif not isinstance(step, numbers.Integral) or isinstance(step, bool):
            raise ValidationError(f"metric {key!r}: step must be an integer, got {step!r}")
        self._steps[key] = max(int(step), self._steps.get(key, -1))
        when = time.time() if timestamp is None else float(timestamp)
        return MetricPoint(key, float(value), int(step), when)

    def _write(self, batch: Batch, finish: tuple[str, float] | None = None) -> None:
        self.tracking.repository.write_batch(
            self.id, run_params=batch.params, run_metrics=batch.metrics,
            run_tags=list(batch.tags.items()), finish=finish,
        )

    def _log_content(self, content: bytes, artifact_file: str) -> ArtifactRecord:
        target = safe_relative_path(artifact_file, what="artifact path")
        with tempfile.TemporaryDirectory(prefix="gapless-artifact-") as tmp:
            path = Path(tmp) / Path(target).name
            path.write_bytes(content)
            return self.tracking.store_artifact(self.id, path, target)

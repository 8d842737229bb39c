"""Frozen records that stages hand to each other and to the skins (CLI, REST, UI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen(mapping: Mapping[str, object] | None) -> Mapping[str, object]:
    """A read-only view; an existing view is kept as is (no copy on the hot path)."""
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class MetricPoint:
    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class ArtifactRecord:
    """A file logged to a run: its path inside the run and the blob that holds it."""

    run_id: str
    path: str
    digest: str
    size: int
    created_at: float


@dataclass(frozen=True)
class RunRecord:
    """One tracked run with its params, latest metric values and tags."""

    id: str
    experiment: str
    name: str
    status: str
    start_time: float
    end_time: float | None
    parent_id: str | None
    user: str
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, object] | None = None  # loaded by get(), not by search()

    def __post_init__(self) -> None:
        for name in ("params", "metrics", "tags"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time


RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset: a Parquet snapshot plus what is known about it."""

    id: int
    dataset: str
    version: int
    digest: str
    size: int
    row_count: int
    columns: tuple[Mapping[str, object], ...]
    kind: str  # ingest | clean | quarantine | derived
    source_uri: str | None
    query: str | None
    time_column: str | None
    description: str | None
    spec: Mapping[str, object] | None
    created_by: str
    created_at: float
    parents: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def column_names(self) -> list[str]:
        return [str(c["name"]) for c in self.columns]

    def column(self, name: str) -> Mapping[str, object]:
        for column in self.columns:
            if column["name"] == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class LineageNode:
    """A dataset version and the versions it was derived from, back to the sources."""

    version: DatasetVersion
    parents: tuple[LineageNode, ...] = ()


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: the file it points at and what it came from."""

    id: int
    model: str
    version: int
    run_id: str | None
    digest: str  # SHA-256 of the stored bytes (ciphertext when encrypted)
    model_digest: str  # SHA-256 of the plain model file
    size: int
    format: str  # skops | pickle
    encrypted: bool
    signature: Mapping[str, object] | None
    lineage: Mapping[str, object]
    metrics: Mapping[str, float]
    evaluation: Mapping[str, object] | None  # gate-relevant results recorded at training
    tags: Mapping[str, str]
    description: str | None
    source: str  # run | mlflow | bundle
    trusted_by: str | None  # who vouched for a pickle at import
    created_by: str
    created_at: float
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class AuditEntry:
    """One attempted registry transition, applied or not, as the append-only log holds it."""

    id: int
    model: str
    action: str  # register | promote | alias | rollback
    alias: str | None
    from_version: int | None
    to_version: int | None
    outcome: str  # applied | overridden | refused | conflict
    actor: str
    reason: str | None
    gates: tuple[Mapping[str, object], ...]
    created_at: float

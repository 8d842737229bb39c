"""Frozen records that stages hand to each other and to the skins (CLI, REST, UI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen(mapping: Mapping[str, object] | None) -> Mapping[str, object]:
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

    def __post_init__(self) -> None:
        for name in ("params", "metrics", "tags"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time


RUN_STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")

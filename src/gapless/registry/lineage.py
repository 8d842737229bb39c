"""Where a version came from: the lineage recorded at registration, the chain shown to
users (version -> run -> commit -> dataset version -> parents -> source), and the data
validation verdict the promotion gates read from that chain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gapless.core.errors import NotFoundError
from gapless.core.records import ModelVersion
from gapless.data.versions import DataVersions
from gapless.tracking import Tracking


def lineage_chain(data: DataVersions, version: ModelVersion) -> list[dict[str, Any]]:
    """The chain behind a version, from itself back to its sources:
    version -> run -> commit -> dataset version -> parents -> source."""
    facts = dict(version.lineage)
    chain: list[dict[str, Any]] = [{
        "kind": "version", "name": version.ref, "digest": version.model_digest,
        "detail": f"{version.format}{', encrypted' if version.encrypted else ''}"}]
    chain.append({"kind": "run", "name": facts.get("run_id"),
                  "detail": f"{facts.get('experiment')} / {facts.get('run_name')} by "
                            f"{facts.get('user')}"})
    chain.append({"kind": "commit", "name": facts.get("git_commit") or "not in git",
                  "detail": "dirty working tree" if facts.get("git_dirty") else ""})
    dataset = facts.get("dataset")
    if dataset:
        try:
            node = data.lineage(str(dataset))
        except NotFoundError:
            chain.append({"kind": "dataset", "name": dataset, "depth": 0,
                          "detail": "no longer in this workspace"})
        else:
            _walk(node, chain, depth=0)
    if facts.get("import"):
        chain.append({"kind": "source", "name": facts["import"].get("path"),
                      "detail": f"imported from {version.source}"})
    return chain


def validation_status(data: DataVersions, candidate: ModelVersion) -> dict[str, Any]:
    """The most recent validation of the training data, or of its nearest validated
    ancestor (a cleaned version inherits its source's verdict unless re-validated)."""
    dataset = candidate.lineage.get("dataset")
    if not dataset:
        return {"passed": None}
    try:
        node = data.lineage(str(dataset))
    except NotFoundError:
        return {"passed": None}
    frontier = [node]
    while frontier:
        for item in frontier:
            found = data.validations(item.version)
            if found:
                return {"passed": bool(found[0]["passed"]), "version": item.version.ref}
        frontier = [parent for item in frontier for parent in item.parents]
    return {"passed": None}


def run_lineage(tracking: Tracking, run: Any, stored: Mapping[str, Any]) -> dict[str, Any]:
    environment = run.environment or {}
    spec = stored.get("spec.json")
    lineage: dict[str, Any] = {
        "run_id": run.id, "experiment": run.experiment, "run_name": run.name,
        "user": run.user, "dataset": run.params.get("dataset"),
        "dataset_digest": run.params.get("dataset_digest"),
        "spec_digest": spec.digest if spec is not None else None,
        "git_commit": environment.get("git_commit"),
        "git_dirty": environment.get("git_dirty"),
        "python": environment.get("python"),
    }
    if "source.json" in stored:
        lineage["import"] = json.loads(tracking.read_artifact(run.id, "source.json"))
    return lineage


def _walk(node: Any, chain: list[dict[str, Any]], *, depth: int) -> None:
    version = node.version
    chain.append({"kind": "dataset", "name": version.ref, "depth": depth,
                  "digest": version.digest,
                  "detail": f"{version.kind}, {version.row_count:,} rows"})
    for parent in node.parents:
        _walk(parent, chain, depth=depth + 1)
    if not node.parents and version.source_uri:
        chain.append({"kind": "source", "name": version.source_uri, "depth": depth + 1,
                      "detail": version.query or ""})

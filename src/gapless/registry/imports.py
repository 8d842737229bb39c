"""Models made elsewhere, brought into the registry: model files, MLflow directories and
bundles exported by another workspace.

A file or MLflow import is recorded as a run of its own (experiment ``imports``) holding
the model, its signature and where it came from, then registered like any trained model,
so every version's lineage has one shape. A pickle is loaded only when the caller trusts
it; if its types allow, it is re-saved as skops, and who vouched for it is recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapless.core.errors import NotFoundError, SecurityError, ValidationError
from gapless.core.identity import current_user
from gapless.core.records import ModelVersion
from gapless.core.refs import check_name
from gapless.registry.packaging import check_loadable, pack, seal, unpack

if TYPE_CHECKING:
    from gapless.registry.api import Models

IMPORT_EXPERIMENT = "imports"


def import_file(models: Models, path: str | os.PathLike[str], name: str, *,
                trust: bool = False, description: str | None = None) -> ModelVersion:
    """Register a model file: a ``.skops`` file (trusted types only), or a pickle /
    joblib file, which is loaded only with ``trust=True``."""
    from gapless.registry.packaging import looks_like_pickle

    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise NotFoundError(f"model file {source} does not exist")
    raw = source.read_bytes()
    if not looks_like_pickle(raw):
        model = unpack(raw, cipher=None, what=str(source))
    elif not trust:
        raise SecurityError(
            f"{source} is a pickle, which can run arbitrary code when loaded; it was not "
            "loaded. Pass --trust (trust=True) only if you trust where it came from")
    else:
        model = _load_pickle(source)
    return _register_import(models, model, name, source="file", description=description,
                            details={"path": str(source),
                                     "sha256": hashlib.sha256(raw).hexdigest()},
                            trusted=trust, signature=None)


def import_mlflow(models: Models, path: str | os.PathLike[str], name: str, *,
                  trust: bool = False, description: str | None = None) -> ModelVersion:
    """Register a model directory saved by MLflow's sklearn flavor, with its signature
    and environment; its pickle is loaded only with ``trust=True``."""
    from gapless.registry.mlflow_import import read_mlflow_model

    imported = read_mlflow_model(path, trust=trust)
    return _register_import(
        models, imported.model, name, source="mlflow", description=description,
        details={**imported.source, "requirements": imported.requirements,
                 "python_version": imported.python_version,
                 "sha256": imported.model_bytes_sha256},
        trusted=trust and imported.serialization_format != "skops",
        signature=imported.signature.to_dict() if imported.signature else None)


def _register_import(models: Models, model: Any, name: str, *, source: str,
                     description: str | None, details: dict[str, Any], trusted: bool,
                     signature: dict[str, Any] | None) -> ModelVersion:
    """Record an import as a run (so lineage has one shape), then register it. A trusted
    pickle whose types skops can hold is re-saved as skops; otherwise the pickle is kept
    and only ever loaded because ``trusted_by`` names who vouched for it."""
    check_name(name, what="model name")
    tags = {"source": source, "role": "import"}
    try:
        packed = pack(model, models.cipher)
        unpack(packed.data, cipher=models.cipher, what=f"imported {name}")
        file_name = "model.skops"
    except SecurityError:
        if not trusted:
            raise
        # Stored as a plain pickle (whatever compression the original used), loaded
        # later only because trusted_by names who vouched for it.
        packed = seal(pickle.dumps(model), models.cipher, format="pickle")
        file_name = "model.pkl"
    if trusted:
        tags["trusted_by"] = current_user()
    with models.tracking.start_run(IMPORT_EXPERIMENT, f"import {name} from {source}",
                                   parent=None, tags=tags) as run:
        run.log_params({"source": source, **{f"source.{k}": v for k, v in details.items()
                                             if isinstance(v, str | int | float)}})
        run.log_dict(details, "source.json")
        if signature is not None:
            run.log_dict(signature, "signature.json")
        with tempfile.TemporaryDirectory(prefix="gapless-import-") as tmp:
            target = Path(tmp) / file_name
            target.write_bytes(packed.data)
            run.log_artifact(target, artifact_path="model")
    return models.register(run.id, name, description=description)


def import_bundle(models: Models, path: str | os.PathLike[str], *, name: str | None = None,
                  alias: str | None = None) -> ModelVersion:
    """Register an exported bundle (digests checked first), keeping its lineage."""
    from gapless.registry.export import read_bundle

    manifest, data = read_bundle(path)
    name = check_name(name or manifest["name"], what="model name")
    if not manifest["encrypted"]:
        check_loadable(data, what=f"bundle {path}", format=manifest["format"],
                       trusted_pickle=manifest.get("trusted_by") is not None)
    blob = models.artifacts.put_bytes(data)
    lineage = {**manifest["lineage"], "bundle": {
        "path": str(Path(path).resolve()), "from": f"{manifest['name']}@{manifest['version']}",
        "exported_by": manifest.get("exported_by")}}
    version = models.repository.insert_version(name, {
        "run_id": None, "digest": blob.digest, "model_digest": manifest["model_digest"],
        "size": blob.size, "format": manifest["format"], "encrypted": manifest["encrypted"],
        "signature_json": json.dumps(manifest["signature"]) if manifest["signature"] else None,
        "lineage_json": json.dumps(lineage), "metrics_json": json.dumps(manifest["metrics"]),
        "evaluation_json": (json.dumps(manifest["evaluation"])
                            if manifest.get("evaluation") else None),
        "tags_json": json.dumps(manifest.get("tags") or {}),
        "description": manifest.get("description"), "source": "bundle",
        "trusted_by": manifest.get("trusted_by"),
    }, actor=current_user())
    if alias is not None:
        models.alias(version.ref, alias, reason=f"imported from bundle {path}")
        version = models.get(version.ref)
    return version


def _load_pickle(path: Path) -> Any:
    """Load a pickle or joblib file (any protocol or compression) the user trusted."""
    try:
        import joblib

        return joblib.load(path)  # noqa: S301 - the user passed trust=True
    except Exception as exc:  # noqa: BLE001 - any failure of a foreign file is its fault
        raise ValidationError(f"{path} could not be loaded as a pickle/joblib file: {exc}"
                              ) from exc

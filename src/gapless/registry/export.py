"""Exporting a version: a deployable bundle, or ONNX with its accuracy and speed trade.

A bundle is a folder anyone can ship: the model file exactly as stored (still sealed
when the workspace encrypts models, so no key is baked into an image), its signature,
a manifest with lineage and digests, pinned requirements from the training run's
environment, and a Dockerfile that imports the bundle into a fresh workspace and runs
``gapless serve``. ``import_bundle`` is the other half: it checks every digest first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapless.core.errors import IntegrityError, NotFoundError, ValidationError
from gapless.core.identity import current_user
from gapless.core.records import ModelVersion

if TYPE_CHECKING:
    from gapless.registry.api import Models

BUNDLE_FORMAT = 1
MANIFEST = "model.json"
MODEL_FILE = {"skops": "model.skops", "pickle": "model.pkl"}
PINNED = ("scikit-learn", "numpy", "scipy", "pandas", "skops", "pyarrow")

DOCKERFILE = """\
# Serves {ref} with gapless. Build: docker build -t {image} .
FROM python:{python}-slim
WORKDIR /srv
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . /srv/bundle
RUN gapless init /srv/workspace \\
    && gapless -w /srv/workspace models import-bundle /srv/bundle --alias production
{key_note}EXPOSE 8000
CMD ["gapless", "-w", "/srv/workspace", "serve", "--host", "0.0.0.0", "--port", "8000"]
"""


def export_bundle(models: Models, version: ModelVersion, out: Path) -> dict[str, Any]:
    stored = models.artifacts.get_bytes(version.digest)  # verified on read
    environment: dict[str, Any] = {}
    if version.run_id is not None:
        environment = dict(models.tracking.get(version.run_id).environment or {})
    packages = dict(environment.get("packages") or {})
    from importlib import metadata

    try:
        ours = metadata.version("gapless")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        ours = "0.1.0"
    requirements = [f"gapless=={ours}"] + [f"{name}=={packages[name]}" for name in PINNED
                                            if name in packages]
    python = ".".join(str(environment.get("python") or "3.11").split(".")[:2])
    manifest = {
        "gapless_bundle": BUNDLE_FORMAT, "name": version.model, "version": version.version,
        "file": MODEL_FILE[version.format], "sha256": version.digest,
        "model_digest": version.model_digest, "format": version.format,
        "encrypted": version.encrypted, "signature": version.signature,
        "lineage": version.lineage, "metrics": version.metrics,
        "evaluation": version.evaluation, "tags": version.tags,
        "description": version.description, "trusted_by": version.trusted_by,
        "exported_by": current_user(), "exported_at": time.time(),
    }
    key_note = ("# The model is encrypted: pass GAPLESS_ENCRYPTION_KEY at run time "
                "(docker run -e GAPLESS_ENCRYPTION_KEY=...).\n" if version.encrypted else "")
    files = {
        MODEL_FILE[version.format]: stored,
        MANIFEST: json.dumps(manifest, indent=2, default=str).encode(),
        "signature.json": json.dumps(version.signature, indent=2).encode(),
        "requirements.txt": ("\n".join(requirements) + "\n").encode(),
        "Dockerfile": DOCKERFILE.format(ref=version.ref, python=python, key_note=key_note,
                                        image=f"{version.model}:{version.version}").encode(),
    }
    _write_all(out, files)
    return {"path": str(out), "files": sorted(files), "requirements": requirements}


def export_onnx(models: Models, version: ModelVersion, out: Path) -> dict[str, Any]:
    from gapless.registry.onnx import OnnxModel, compare, to_onnx

    model = models.load(version)
    X, _, _ = models.evaluation_rows(version, None)
    data = to_onnx(model, X, what=version.ref)
    comparison = compare(model, OnnxModel(data), X)
    comparison["skops_bytes"] = version.size
    files = {"model.onnx": data,
             "signature.json": json.dumps(version.signature, indent=2).encode(),
             "comparison.json": json.dumps(comparison, indent=2).encode()}
    _write_all(out, files)
    return {"path": str(out / "model.onnx"), "files": sorted(files), "comparison": comparison}


def read_bundle(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """A bundle's manifest and model bytes, after checking the bytes against the manifest."""
    folder = Path(path).expanduser().resolve()
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise NotFoundError(f"{folder} is not a gapless bundle: it has no {MANIFEST}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if manifest.get("gapless_bundle") != BUNDLE_FORMAT:
        raise ValidationError(f"{manifest_path}: bundle format {manifest.get('gapless_bundle')!r}"
                              f" is not {BUNDLE_FORMAT}, the one this gapless reads")
    if manifest.get("format") not in MODEL_FILE or manifest.get("file") != MODEL_FILE[
            manifest["format"]]:
        raise ValidationError(f"{manifest_path}: unknown model file/format "
                              f"{manifest.get('file')!r}/{manifest.get('format')!r}")
    model_path = folder / manifest["file"]
    if not model_path.is_file():
        raise NotFoundError(f"bundle {folder} lacks its model file {manifest['file']}")
    data = model_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise IntegrityError(f"{model_path} does not hash to the SHA-256 in {MANIFEST}; the "
                             "bundle was altered or truncated")
    return manifest, data


def _write_all(out: Path, files: dict[str, bytes]) -> None:
    """Write each file through a temporary name and a rename: never a half-written file."""
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        temporary = out / f".{name}.tmp"
        temporary.write_bytes(content)
        os.replace(temporary, out / name)

"""Read a model directory saved by MLflow's scikit-learn flavor, without importing MLflow.

``mlflow.sklearn.save_model`` (and ``log_model``) writes a folder holding ``MLmodel`` (YAML:
flavors, signature, lineage), the model file (``model.pkl`` for pickle/cloudpickle,
``model.skops`` for skops), ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.
:func:`read_mlflow_model` reads those files itself and guarantees:

- every file it opens lies inside the folder (no ``..``, absolute names or escaping symlinks);
- a pickle is loaded only with ``trust=True``: unpickling runs arbitrary code, so without
  trust the file is refused before a byte of it is unpickled;
- a skops file is loaded without trust, but only if every type in it is one gapless trusts
  (the ``skops_trusted_types`` the MLmodel file lists are a claim of the file, not honoured);
- MLflow's signature becomes a :class:`~gapless.core.schema.Signature`, or ``None`` with the
  reason in ``source["signature_note"]`` when it cannot be expressed as columns.

Every refusal is a :class:`~gapless.core.errors.GaplessError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapless.core.errors import NotFoundError, SecurityError, ValidationError
from gapless.core.refs import safe_relative_path
from gapless.core.schema import ColumnSchema, OutputSchema, Signature

MLMODEL = "MLmodel"
PICKLE_FORMATS = ("pickle", "cloudpickle")
SERIALIZATION_FORMATS = (*PICKLE_FORMATS, "skops")

# MLflow column types -> signature types ("binary" is bytes: carried as text).
_COLUMN_TYPES = {"double": "float", "float": "float", "long": "integer", "integer": "integer",
                 "boolean": "boolean", "string": "string", "datetime": "datetime",
                 "binary": "string"}


@dataclass(frozen=True)
class MlflowModel:
    """An MLflow sklearn model read from disk, with what it needs and where it came from."""

    path: str  # the model directory, absolute
    model: Any  # the loaded scikit-learn estimator or pipeline
    model_bytes_sha256: str  # SHA-256 of the model file exactly as MLflow stored it
    serialization_format: str  # "cloudpickle" | "pickle" | "skops"
    signature: Signature | None
    requirements: list[str]
    python_version: str | None
    source: dict[str, Any]  # lineage: MLmodel fields, paths, format; JSON-plain values


def read_mlflow_model(path: str | os.PathLike[str], *, trust: bool = False) -> MlflowModel:
    """Read and load the MLflow sklearn model saved in directory ``path``.

    ``trust`` allows loading a pickle/cloudpickle model file, which runs whatever code the
    file holds: pass it only for a model whose origin you trust. skops files never need it.
    """
    root = _model_directory(path)
    mlmodel_path = _inside(root, MLMODEL, what="MLmodel file")
    meta = _read_yaml(mlmodel_path, what="MLmodel file")
    if not isinstance(meta, dict):
        raise ValidationError(f"MLmodel file {mlmodel_path}: expected a YAML mapping, got "
                              f"{type(meta).__name__}; is this a folder saved by MLflow?")
    flavors = meta.get("flavors") if isinstance(meta.get("flavors"), dict) else {}
    sk = flavors.get("sklearn")
    if not isinstance(sk, dict):
        have = ", ".join(sorted(map(str, flavors))) or "none"
        raise ValidationError(
            f"MLmodel file {mlmodel_path}: expected an 'sklearn' flavor, found flavors: {have}; "
            "only models saved with mlflow.sklearn.save_model/log_model can be imported")

    fmt = str(sk.get("serialization_format") or "pickle")  # MLflow's own default when absent
    if fmt not in SERIALIZATION_FORMATS:
        raise ValidationError(
            f"MLmodel file {mlmodel_path}: serialization_format {fmt!r} is not one of "
            f"{', '.join(SERIALIZATION_FORMATS)}; re-save the model with a supported format")
    name = sk.get("pickled_model")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"MLmodel file {mlmodel_path}: flavors.sklearn.pickled_model is "
                              f"missing or not a file name (got {name!r})")
    model_name = safe_relative_path(name, what=f"{mlmodel_path}: flavors.sklearn.pickled_model")
    model_path = _inside(root, model_name, what="model file")
    if not model_path.is_file():
        raise NotFoundError(f"model file {model_path} named by {mlmodel_path} does not exist; "
                            "the MLflow model folder is incomplete, copy it again")
    if fmt in PICKLE_FORMATS and not trust:
        raise SecurityError(
            f"model file {model_path} is a {fmt} pickle, which can run arbitrary code when "
            "loaded; it was NOT loaded. Pass --trust (CLI) or trust=True only if you trust "
            "where it came from, or re-save it with serialization_format='skops'")

    data = model_path.read_bytes()
    model = _load(data, fmt, model_path)
    signature, note = _signature(meta.get("signature"), model)

    source: dict[str, Any] = {
        "format": "mlflow",
        "flavor": "sklearn",
        "path": str(root),
        "mlmodel_path": str(mlmodel_path),
        "model_file": model_name,
        "serialization_format": fmt,
        "trusted": bool(trust and fmt in PICKLE_FORMATS),
        "sklearn_version": _text(sk.get("sklearn_version")),
        "mlflow_version": _text(meta.get("mlflow_version")),
        "run_id": _text(meta.get("run_id")),
        "model_uuid": _text(meta.get("model_uuid")),
        "model_id": _text(meta.get("model_id")),
        "artifact_path": _text(meta.get("artifact_path")),
        "utc_time_created": _text(meta.get("utc_time_created")),
    }
    if isinstance(meta.get("signature"), dict):
        source["mlflow_signature"] = {k: v for k, v in meta["signature"].items()
                                      if isinstance(v, str)}
    if note:
        source["signature_note"] = note

    env_files = _env_files(flavors.get("python_function"))
    return MlflowModel(
        path=str(root), model=model, model_bytes_sha256=hashlib.sha256(data).hexdigest(),
        serialization_format=fmt, signature=signature,
        requirements=_requirements(root, env_files["conda"]),
        python_version=_python_version(root, env_files, flavors.get("python_function")),
        source=source)


# -- files -------------------------------------------------------------------------------------


def _model_directory(path: str | os.PathLike[str]) -> Path:
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise NotFoundError(f"MLflow model folder {root} does not exist; give the directory "
                            "that mlflow.sklearn.save_model wrote (it holds an MLmodel file)")
    if not root.is_dir():
        hint = (" give its folder instead" if root.name == MLMODEL
                else " give the directory that holds the MLmodel file")
        raise ValidationError(f"MLflow model path {root} is a file, expected a directory;{hint}")
    if not (root / MLMODEL).is_file():
        nested = sorted(p.parent.name for p in root.glob(f"*/{MLMODEL}"))
        hint = (f"; these subfolders hold one: {', '.join(nested)}" if nested
                else "; is this a folder saved by mlflow.sklearn.save_model?")
        raise NotFoundError(f"MLflow model folder {root} has no MLmodel file{hint}")
    return root


def _inside(root: Path, name: str, *, what: str) -> Path:
    """``root/name``, refused if it (through symlinks) resolves outside ``root``."""
    candidate = root / name
    real_root, real = Path(os.path.realpath(root)), Path(os.path.realpath(candidate))
    if real != real_root and real_root not in real.parents:
        raise SecurityError(f"{what} {candidate} resolves to {real}, outside the MLflow model "
                            f"folder {root}; it was not read. Copy the model into one folder")
    return candidate


def _read_yaml(path: Path, *, what: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{what} {path} is not valid YAML: {exc}; it may be damaged, "
                              "copy the MLflow model folder again") from exc
    except OSError as exc:
        raise ValidationError(f"{what} {path} cannot be read: {exc}") from exc


def _load(data: bytes, fmt: str, model_path: Path) -> Any:
    if fmt == "skops":
        from gapless.training.persist import loads

        try:
            return loads(data, what=f"model file {model_path}")
        except SecurityError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever skops raised, the file is unusable
            raise ValidationError(f"model file {model_path} (skops) could not be loaded: "
                                  f"{type(exc).__name__}: {exc}") from exc
    try:
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.loads(data)
        return pickle.loads(data)  # only reached with trust=True
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle can raise anything
        hint = ("install the missing package (see requirements.txt)"
                if isinstance(exc, ImportError) else "the file may be truncated or damaged")
        raise ValidationError(f"model file {model_path} ({fmt}) could not be loaded: "
                              f"{type(exc).__name__}: {exc}; {hint}") from exc


def _env_files(pyfunc: Any) -> dict[str, str]:
    """The environment file names the python_function flavor lists, else MLflow's defaults."""
    names = {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    env = pyfunc.get("env") if isinstance(pyfunc, dict) else None
    if isinstance(env, dict):
        for key in names:
            if isinstance(env.get(key), str):
                names[key] = safe_relative_path(env[key], what=f"python_function env {key}")
    return names


def _requirements(root: Path, conda_name: str) -> list[str]:
    """requirements.txt without comments and blank lines; else conda.yaml's pip list."""
    path = _inside(root, "requirements.txt", what="requirements file")
    if path.is_file():
        lines = (line.split(" #", 1)[0].strip()
                 for line in path.read_text(encoding="utf-8").splitlines())
        return [line for line in lines if line and not line.startswith("#")]
    conda = _optional_yaml(root, conda_name)
    for dep in (conda or {}).get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            return [str(item) for item in dep["pip"]]
    return []


def _python_version(root: Path, env_files: dict[str, str], pyfunc: Any) -> str | None:
    env = _optional_yaml(root, env_files["virtualenv"])
    if env and env.get("python"):
        return str(env["python"])
    conda = _optional_yaml(root, env_files["conda"])
    for dep in (conda or {}).get("dependencies") or []:
        if isinstance(dep, str) and dep.replace(" ", "").startswith("python="):
            return dep.replace(" ", "").removeprefix("python=").lstrip("=") or None
    if isinstance(pyfunc, dict) and pyfunc.get("python_version"):
        return str(pyfunc["python_version"])
    return None


def _optional_yaml(root: Path, name: str) -> dict[str, Any] | None:
    path = _inside(root, name, what="environment file")
    if not path.is_file():
        return None
    data = _read_yaml(path, what="environment file")
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- signature ---------------------------------------------------------------------------------


def _signature(raw: Any, model: Any) -> tuple[Signature | None, str | None]:
    """MLflow's signature as a gapless Signature, or None and why not."""
    if not isinstance(raw, dict) or not raw.get("inputs"):
        return None, "the MLmodel file has no input signature"
    try:
        specs = json.loads(raw["inputs"]) if isinstance(raw["inputs"], str) else raw["inputs"]
    except json.JSONDecodeError as exc:
        return None, f"signature.inputs is not valid JSON: {exc}"
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        return None, "signature.inputs is not a list of column or tensor specs"
    if any(spec.get("type") == "tensor" for spec in specs):
        inputs, note = _tensor_columns(specs)
    else:
        inputs, note = _columns(specs)
    if inputs is None:
        return None, note
    return Signature(inputs, _output(model, raw.get("outputs")), {"source": "mlflow"}), None


def _columns(specs: list[dict[str, Any]]) -> tuple[tuple[ColumnSchema, ...] | None, str | None]:
    columns = []
    for index, spec in enumerate(specs):
        name = spec.get("name")
        kind = _COLUMN_TYPES.get(spec.get("type"))
        if name is None:
            return None, f"input {index} has no name; only named columns map to a signature"
        if kind is None:
            return None, (f"input column {name!r} has MLflow type {spec.get('type')!r}, which "
                          f"is not one of {', '.join(sorted(_COLUMN_TYPES))}")
        columns.append(ColumnSchema(str(name), kind, nullable=not spec.get("required", True)))
    return tuple(columns), None


def _tensor_columns(specs: list[dict[str, Any]]) -> tuple[tuple[ColumnSchema, ...] | None, str]:
    """A single 2-D tensor ``[-1, N]`` becomes columns x0..xN-1; any other shape cannot."""
    tensor = specs[0].get("tensor-spec") or {}
    shape = tensor.get("shape")
    if len(specs) != 1 or not isinstance(shape, list) or len(shape) != 2 \
            or not isinstance(shape[1], int) or shape[1] < 1:
        return None, (f"tensor input signature with shape {shape!r} ({len(specs)} tensor(s)) "
                      "cannot be expressed as columns; only one tensor of shape [-1, N] can")
    kind = _dtype_type(str(tensor.get("dtype", "")))
    return tuple(ColumnSchema(f"x{i}", kind, nullable=False) for i in range(shape[1])), ""


def _dtype_type(dtype: str) -> str:
    if dtype.startswith("bool"):
        return "boolean"
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "float"
    if dtype.startswith("datetime"):
        return "datetime"
    return "string"


def _output(model: Any, raw_outputs: Any) -> OutputSchema:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        labels = tuple(c.item() if hasattr(c, "item") else c for c in classes)
        kind = _dtype_type(str(getattr(classes, "dtype", "object")))
        return OutputSchema("binary" if len(labels) == 2 else "multiclass", kind, labels)
    try:
        from sklearn.base import is_clusterer

        if is_clusterer(model):
            return OutputSchema("clustering", "integer")
    except Exception:  # noqa: BLE001 - scikit-learn < 1.6, or a trusted non-estimator
        pass
    return OutputSchema("regression", _output_type(raw_outputs))


def _output_type(raw_outputs: Any) -> str:
    """The type MLflow recorded for a single regression output; float when unknown."""
    try:
        specs = json.loads(raw_outputs) if isinstance(raw_outputs, str) else None
    except json.JSONDecodeError:
        return "float"
    if isinstance(specs, list) and len(specs) == 1 and isinstance(specs[0], dict):
        spec = specs[0]
        if spec.get("type") == "tensor":
            return _dtype_type(str((spec.get("tensor-spec") or {}).get("dtype", "float")))
        return _COLUMN_TYPES.get(spec.get("type"), "float")
    return "float"


__all__ = ["MlflowModel", "read_mlflow_model"]

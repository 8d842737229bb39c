"""Importing folders written by a real ``mlflow.sklearn.save_model`` (no tracking server)."""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import pickle
import platform
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

mlflow = pytest.importorskip("mlflow")
mlflow_sklearn = pytest.importorskip("mlflow.sklearn")

import sklearn  # noqa: E402
from mlflow.models import ModelSignature, infer_signature  # noqa: E402
from mlflow.types import ColSpec, Schema  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from gapless.core.errors import NotFoundError, SecurityError, ValidationError  # noqa: E402
from gapless.registry.mlflow_import import read_mlflow_model  # noqa: E402

# MLflow's own chatter while inferring signatures from the small example frame.
pytestmark = [pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer"),
              pytest.mark.filterwarnings("ignore:Operation with range is deprecated")]

REQUIREMENTS = [f"scikit-learn=={sklearn.__version__}"]


class _Marker:
    """Unpickling this creates ``path``: proof that a file was (or was not) unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return builtins.open, (str(self.path), "w")


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, 60), "visits": rng.integers(0, 9, 60)})
    y = ((X["age"] + 3 * X["visits"]) > 52).astype("int64")
    return X, y


@pytest.fixture(scope="module")
def fitted(frame) -> Pipeline:
    X, y = frame
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)


def _save(model: Pipeline, X: pd.DataFrame, folder: Path, fmt: str) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", (folder.parent / "mlruns").as_uri())
        mlflow_sklearn.save_model(
            model, str(folder), serialization_format=fmt,
            signature=infer_signature(X, model.predict(X)), input_example=X.head(3),
            pip_requirements=REQUIREMENTS)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory, fitted, frame) -> Path:
    """A cloudpickle model folder, as MLflow writes it; tests copy it before changing it."""
    return _save(fitted, frame[0], tmp_path_factory.mktemp("mlflow") / "model", "cloudpickle")


def _copy(saved: Path, tmp_path: Path, **sklearn_flavor) -> Path:
    folder = Path(shutil.copytree(saved, tmp_path / "model"))
    if sklearn_flavor:
        _edit(folder, lambda meta: meta["flavors"]["sklearn"].update(sklearn_flavor))
    return folder


def _edit(folder: Path, change) -> None:
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    change(meta)
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))


def _with_signature(saved: Path, tmp_path: Path, signature: ModelSignature) -> Path:
    folder = _copy(saved, tmp_path)
    _edit(folder, lambda meta: meta.update(signature=signature.to_dict()))
    return folder


# -- pickles: refused without trust, loaded with it --------------------------------------------


def test_pickle_is_refused_without_trust_and_never_unpickled(saved, tmp_path):
    marker = tmp_path / "unpickled.txt"
    folder = _copy(saved, tmp_path)
    (folder / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))

    with pytest.raises(SecurityError) as caught:
        read_mlflow_model(folder)

    message = str(caught.value)
    assert str(folder / "model.pkl") in message
    assert "arbitrary code" in message and "NOT loaded" in message and "--trust" in message
    assert not marker.exists()
    pickle.loads((folder / "model.pkl").read_bytes()).close()  # the marker does work
    assert marker.exists()


def test_trusted_cloudpickle_loads_and_predicts_like_the_original(saved, fitted, frame):
    X, _ = frame
    imported = read_mlflow_model(saved, trust=True)

    assert imported.serialization_format == "cloudpickle"
    np.testing.assert_array_equal(imported.model.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(imported.model.predict_proba(X), fitted.predict_proba(X))
    assert imported.model_bytes_sha256 == hashlib.sha256(
        (saved / "model.pkl").read_bytes()).hexdigest()
    assert imported.path == str(saved) and os.path.isabs(imported.path)


def test_source_records_lineage_from_mlmodel(saved):
    meta = yaml.safe_load((saved / "MLmodel").read_text())
    source = read_mlflow_model(str(saved), trust=True).source

    assert source["flavor"] == "sklearn" and source["format"] == "mlflow"
    assert source["mlflow_version"] == mlflow.__version__
    assert source["sklearn_version"] == sklearn.__version__
    assert source["model_uuid"] == meta["model_uuid"]
    assert source["utc_time_created"] == str(meta["utc_time_created"])
    assert source["run_id"] is None and source["artifact_path"] is None  # saved, not logged
    assert source["mlmodel_path"] == str(saved / "MLmodel")
    assert source["model_file"] == "model.pkl"
    assert source["serialization_format"] == "cloudpickle" and source["trusted"] is True
    json.dumps(source)  # plain data, ready for lineage records


def test_signature_is_mapped_from_mlflow(saved):
    signature = read_mlflow_model(saved, trust=True).signature

    assert signature is not None
    assert signature.names == ["age", "visits"]
    assert [(c.type, c.nullable) for c in signature.inputs] == [("float", False),
                                                                ("integer", False)]
    assert signature.output.problem == "binary"
    assert signature.output.classes == (0, 1) and signature.output.type == "integer"
    assert signature.extras == {"source": "mlflow"}


def test_requirements_and_python_version_are_read(saved):
    imported = read_mlflow_model(saved, trust=True)

    assert REQUIREMENTS[0] in imported.requirements
    assert all(line and not line.startswith("#") for line in imported.requirements)
    assert imported.python_version == platform.python_version()


def test_requirements_drop_comments_and_fall_back_to_conda(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / "requirements.txt").write_text("# pinned\n\nnumpy==2.0  # why\npandas\n")
    assert read_mlflow_model(folder, trust=True).requirements == ["numpy==2.0", "pandas"]

    (folder / "requirements.txt").unlink()
    (folder / "python_env.yaml").unlink()
    imported = read_mlflow_model(folder, trust=True)
    assert REQUIREMENTS[0] in imported.requirements  # conda.yaml's pip list
    assert imported.python_version == platform.python_version()  # conda.yaml's python=


def test_truncated_pickle_with_trust_is_a_validation_error(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    data = (folder / "model.pkl").read_bytes()
    (folder / "model.pkl").write_bytes(data[: len(data) // 2])

    with pytest.raises(ValidationError, match="could not be loaded") as caught:
        read_mlflow_model(folder, trust=True)
    assert str(folder / "model.pkl") in str(caught.value)


# -- skops: safe without trust -----------------------------------------------------------------


@pytest.mark.skipif("skops" not in getattr(mlflow_sklearn, "SUPPORTED_SERIALIZATION_FORMATS", ()),
                    reason="this MLflow cannot save skops models")
def test_skops_model_loads_without_trust(tmp_path, fitted, frame):
    X, _ = frame
    folder = _save(fitted, X, tmp_path / "model", "skops")

    imported = read_mlflow_model(folder)

    assert imported.serialization_format == "skops"
    assert imported.source["model_file"] == "model.skops" and imported.source["trusted"] is False
    np.testing.assert_array_equal(imported.model.predict_proba(X), fitted.predict_proba(X))
    assert imported.signature is not None and imported.signature.names == ["age", "visits"]


# -- folders that are not (safe) MLflow sklearn models -----------------------------------------


def test_missing_folder_file_and_folder_without_mlmodel(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        read_mlflow_model(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValidationError, match="expected a directory"):
        read_mlflow_model(tmp_path / "file.txt")
    (tmp_path / "runs" / "model").mkdir(parents=True)
    (tmp_path / "runs" / "model" / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(NotFoundError, match="no MLmodel file") as caught:
        read_mlflow_model(tmp_path / "runs")
    assert str(tmp_path / "runs") in str(caught.value) and "model" in str(caught.value)


def test_python_function_only_model_is_refused_listing_its_flavors(tmp_path):
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({
        "mlflow_version": "2.14.0",
        "flavors": {"python_function": {"loader_module": "mlflow.pyfunc.model",
                                        "python_model": "python_model.pkl"}}}))
    with pytest.raises(ValidationError, match="found flavors: python_function"):
        read_mlflow_model(tmp_path, trust=True)


def test_mlmodel_that_is_not_yaml_is_refused(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: [unclosed\n")
    with pytest.raises(ValidationError, match="not valid YAML"):
        read_mlflow_model(tmp_path)


def test_unknown_serialization_format_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path, serialization_format="joblib")
    with pytest.raises(ValidationError, match="'joblib' is not one of"):
        read_mlflow_model(folder, trust=True)


def test_pickled_model_outside_the_folder_is_refused_even_with_trust(saved, tmp_path):
    marker = tmp_path / "unpickled.txt"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    folder = _copy(saved, tmp_path, pickled_model="../evil.pkl")

    with pytest.raises(SecurityError, match=r"\.\."):
        read_mlflow_model(folder, trust=True)
    assert not marker.exists()


def test_model_file_symlinked_outside_the_folder_is_refused(saved, tmp_path):
    marker = tmp_path / "unpickled.txt"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    folder = _copy(saved, tmp_path)
    (folder / "model.pkl").unlink()
    try:
        (folder / "model.pkl").symlink_to(tmp_path / "evil.pkl")
    except OSError:
        pytest.skip("symlinks are not available here")

    with pytest.raises(SecurityError, match="outside the MLflow model folder"):
        read_mlflow_model(folder, trust=True)
    assert not marker.exists()


# -- signatures MLflow can write ---------------------------------------------------------------


def test_column_types_and_optional_columns_map(saved, tmp_path):
    columns = [ColSpec("double", "a", required=False), ColSpec("float", "b"),
               ColSpec("long", "c"), ColSpec("integer", "d"), ColSpec("boolean", "e"),
               ColSpec("string", "f", required=False), ColSpec("datetime", "g"),
               ColSpec("binary", "h")]
    folder = _with_signature(saved, tmp_path, ModelSignature(inputs=Schema(columns)))

    signature = read_mlflow_model(folder, trust=True).signature

    assert signature is not None
    assert [(c.name, c.type, c.nullable) for c in signature.inputs] == [
        ("a", "float", True), ("b", "float", False), ("c", "integer", False),
        ("d", "integer", False), ("e", "boolean", False), ("f", "string", True),
        ("g", "datetime", False), ("h", "string", False)]


def test_two_dimensional_tensor_signature_becomes_numbered_columns(saved, tmp_path):
    folder = _with_signature(saved, tmp_path, infer_signature(np.zeros((3, 2))))

    imported = read_mlflow_model(folder, trust=True)

    assert imported.signature is not None
    assert [(c.name, c.type) for c in imported.signature.inputs] == [("x0", "float"),
                                                                     ("x1", "float")]
    assert "signature_note" not in imported.source


def test_other_tensor_shapes_give_no_signature_and_say_why(saved, tmp_path):
    folder = _with_signature(saved, tmp_path, infer_signature(np.zeros((3, 4, 4))))

    imported = read_mlflow_model(folder, trust=True)

    assert imported.signature is None
    assert "[-1, 4, 4]" in imported.source["signature_note"]


def test_model_without_signature_has_none_and_a_note(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    _edit(folder, lambda meta: meta.pop("signature", None))

    imported = read_mlflow_model(folder, trust=True)

    assert imported.signature is None
    assert "no input signature" in imported.source["signature_note"]


# -- through the registry ---------------------------------------------------------------
def test_workspace_import_refuses_an_untrusted_pickle_and_registers_nothing(
        saved, workspace, tmp_path):
    marker = tmp_path / "unpickled"
    evil = _copy(saved, tmp_path)
    (evil / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(SecurityError, match="--trust"):
        workspace.models.import_mlflow(evil, "from-mlflow")
    assert not marker.exists()
    with pytest.raises(NotFoundError):
        workspace.models.versions("from-mlflow")


def test_workspace_import_with_trust_resaves_as_skops_with_mlflow_lineage(
        saved, fitted, frame, workspace):
    version = workspace.models.import_mlflow(saved, "from-mlflow", trust=True)
    assert version.ref == "from-mlflow@1" and version.source == "mlflow"
    assert version.format == "skops" and version.trusted_by  # pickle re-saved, vouched for
    assert version.lineage["import"]["serialization_format"] == "cloudpickle"
    assert version.lineage["import"]["path"] == str(saved)
    assert [c["name"] for c in version.signature["inputs"]] == ["age", "visits"]
    model = workspace.models.load("from-mlflow@1")
    X, _ = frame
    assert (model.predict(X) == fitted.predict(X)).all()
    kinds = [step["kind"] for step in workspace.models.lineage(version)]
    assert kinds[0] == "version" and kinds[-1] == "source"

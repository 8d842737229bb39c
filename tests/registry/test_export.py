"""Export as a user runs it: ONNX with its comparison report, and bundles whose model
refuses to change on the way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gapless import ValidationError, Workspace
from gapless.cli.main import app
from gapless.data.sample_data import make_loans

pytest.importorskip("skl2onnx")
from gapless.registry.onnx import OnnxModel  # noqa: E402

COLUMNS = ["region", "employment", "income", "credit_score", "loan_amount", "defaulted",
           "applied_at"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """loans@1 trains without its datetime column (ONNX has no datetime form), loans@2 with."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("METADATA_URI", "ARTIFACT_URI", "ENCRYPTION_KEY", "WORKSPACE"):
            env.delenv(f"GAPLESS_{name}", raising=False)
        workspace = Workspace.init(tmp_path_factory.mktemp("export") / "ws")
        workspace.data.add("loans", make_loans(600, seed=2)[COLUMNS])
        spec = {"dataset": "loans@1", "target": "defaulted", "budget": {"trials": 1},
                "cv": {"folds": 2}, "candidates": [{"family": "random_forest",
                                                   "params": {"n_estimators": 30}}]}
        workspace.train({**spec, "features": {"exclude": ["applied_at"]}}, executor="local:1",
                        register="loans")
        workspace.train(spec, executor="local:1", register="loans")
        yield workspace
        workspace.close()


def test_onnx_export_reports_equivalence_size_and_latency_from_the_cli(
        ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    result = CliRunner().invoke(app, ["-w", str(ws.root), "models", "export", "loans@1",
                                      "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "onnxruntime" in result.output and "max abs difference" in result.output
    report = json.loads((out / "comparison.json").read_text())
    assert report["max_abs_diff"] < 1e-5 and report["label_agreement"] == 1.0
    run = ws.runs.get(ws.models.get("loans@1").run_id)
    assert report["rows"] == int(run.params["test_rows"])  # the test split, rebuilt
    assert report["onnx_bytes"] == (out / "model.onnx").stat().st_size > 0
    model = OnnxModel((out / "model.onnx").read_bytes())
    frame = ws.data.load("loans@1").drop(columns=["defaulted"]).head(40)
    assert (model.predict(frame) == ws.models.load("loans@1").predict(frame)).all()


def test_a_model_with_a_datetime_column_is_refused_naming_it(ws: Workspace,
                                                             tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="applied_at.*--format bundle"):
        ws.models.export("loans@2", tmp_path / "onnx", format="onnx")
    assert not (tmp_path / "onnx" / "model.onnx").exists()
    with pytest.raises(ValidationError, match="'zip' is not one of bundle, onnx"):
        ws.models.export("loans@2", tmp_path / "x", format="zip")


def test_bundle_holds_model_signature_requirements_and_a_dockerfile(
        ws: Workspace, tmp_path: Path) -> None:
    report = ws.models.export("loans@2", tmp_path / "bundle")
    folder = Path(report["path"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "Dockerfile", "model.json", "model.skops", "requirements.txt", "signature.json"]
    requirements = (folder / "requirements.txt").read_text().split()
    assert requirements[0].startswith("gapless==")
    assert any(r.startswith("scikit-learn==") for r in requirements)
    docker = (folder / "Dockerfile").read_text()
    assert "models import-bundle /srv/bundle --alias production" in docker
    assert '"serve"' in docker and "FROM python:3." in docker
    manifest = json.loads((folder / "model.json").read_text())
    assert manifest["lineage"]["run_id"] == ws.models.get("loans@2").run_id

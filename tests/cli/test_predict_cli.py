"""``gapless predict`` as a user runs it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.core.schema import infer_signature
from gapless.registry.packaging import pack

runner = CliRunner()


def register(workspace: Workspace) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.uniform(18, 80, 300), "visits": rng.uniform(0, 20, 300)})
    y = (X["visits"] > 10).astype(int)
    model = LogisticRegression().fit(X, y)
    with workspace.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(model, None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
    workspace.models.register(run.id, "churn")
    X.to_csv(workspace.root / "input.csv", index=False)


def test_predict_scores_records_and_reports(workspace: Workspace, tmp_path: Path) -> None:
    register(workspace)
    workspace.data.add("visits", str(workspace.root / "input.csv"))
    out = tmp_path / "scored" / "out.parquet"
    result = runner.invoke(app, ["-w", str(workspace.root), "predict", "--model", "churn@1",
                                 "--input", "visits@1", "--output", str(out),
                                 "--record", "visits_scored", "--chunk-rows", "50"])
    assert result.exit_code == 0, result.output
    assert "300 rows" in result.output and "rows/s" in result.output
    assert "visits_scored@1" in result.output
    assert pq.read_metadata(out).num_rows == 300
    assert workspace.data.get("visits_scored@1").spec["input"] == "visits@1"
    assert {"proba_0", "proba_1"} <= set(pq.read_schema(out).names)
    labels_only = tmp_path / "labels.parquet"
    result = runner.invoke(app, ["-w", str(workspace.root), "predict", "--model", "churn@1",
                                 "--input", "visits@1", "--output", str(labels_only),
                                 "--no-proba"])
    assert result.exit_code == 0, result.output
    assert not any(n.startswith("proba_") for n in pq.read_schema(labels_only).names)


def test_predict_errors_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    register(workspace)
    out = tmp_path / "out.parquet"
    both = runner.invoke(app, ["-w", str(workspace.root), "predict", "--model", "churn@1",
                               "--endpoint", "api", "--input", "x.csv", "--output", str(out)])
    assert both.exit_code != 0 and "exactly one" in str(both.exception)
    missing = runner.invoke(app, ["-w", str(workspace.root), "predict", "--model", "churn@1",
                                  "--input", str(tmp_path / "none.csv"), "--output", str(out)])
    assert missing.exit_code != 0 and "none.csv" in str(missing.exception)
    assert not out.exists()

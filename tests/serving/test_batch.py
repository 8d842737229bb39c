"""Batch scoring streams a file in chunks and matches model.predict on the whole frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from conftest import register_fitted
from gapless import NotFoundError, ValidationError, Workspace
from gapless.serving.batch import predict_batch, score_file
from gapless.serving.deployments import DeploymentStore, single

ROWS = 50_000


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(rows), "age": rng.uniform(18, 80, rows),
                         "visits": rng.integers(0, 20, rows).astype(float)})


@pytest.fixture
def registered(workspace: Workspace) -> tuple[Workspace, Pipeline]:
    X = frame(400, seed=1)[["age", "visits"]]
    y = ((X["age"] / 10 + X["visits"]) > 12).astype(int)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    register_fitted(workspace, model, X, y)
    return workspace, model


@pytest.fixture
def parquet_input(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "input.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(frame(ROWS), preserve_index=False), path,
                   row_group_size=7_000)
    return path


def expected(model: Pipeline, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    X = data[["age", "visits"]]
    return model.predict(X), model.predict_proba(X)


def test_parquet_streams_in_chunks_and_matches_predict(registered, parquet_input: Path,
                                                       tmp_path: Path) -> None:
    ws, model = registered
    seen: list[tuple[int, int | None]] = []
    out = tmp_path / "new" / "folder" / "out.parquet"
    result = predict_batch(ws, model="churn@1", input=str(parquet_input), output=str(out),
                           chunk_rows=3_000, keep=["id"],
                           on_progress=lambda done, total: seen.append((done, total)))
    assert (result.rows, result.model, result.dataset) == (ROWS, "churn@1", None)
    scored = pq.read_table(out).to_pandas()
    predictions, probabilities = expected(model, frame(ROWS))
    assert len(scored) == ROWS and list(scored["row"]) == list(range(ROWS))
    assert list(scored["id"]) == list(range(ROWS))
    np.testing.assert_array_equal(scored["prediction"], predictions)
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]].to_numpy(), probabilities)
    assert len(seen) > ROWS // 7_000 and seen[-1] == (ROWS, ROWS)
    assert all(done <= 3_000 * (i + 1) for i, (done, _) in enumerate(seen))
    assert [p.name for p in out.parent.iterdir()] == ["out.parquet"]


def test_csv_input_is_scored_in_chunks(registered, tmp_path: Path) -> None:
    ws, model = registered
    data = frame(5_000, seed=3)
    csv = tmp_path / "input.csv"
    data.to_csv(csv, index=False)
    out = tmp_path / "out.parquet"
    assert score_file(model, csv, out, columns=["age", "visits"], chunk_rows=700) == 5_000
    scored = pq.read_table(out).to_pandas()
    np.testing.assert_array_equal(scored["prediction"], expected(model, data)[0])
    assert list(scored["row"]) == list(range(5_000))


def test_dataset_input_is_recorded_with_lineage(registered, parquet_input: Path,
                                                tmp_path: Path) -> None:
    ws, model = registered
    source = ws.data.add("visits", str(parquet_input)).version
    result = predict_batch(ws, model="churn@1", input="visits@1",
                           output=str(tmp_path / "scored.parquet"), record_as="visits_scored")
    assert result.dataset == "visits_scored@1"
    recorded = ws.data.get("visits_scored@1")
    assert recorded.kind == "derived" and recorded.row_count == ROWS
    assert recorded.spec["model"] == "churn@1" and recorded.spec["input"] == source.ref
    assert recorded.spec["model_digest"] == ws.models.get("churn@1").model_digest
    lineage = ws.data.lineage("visits_scored@1")
    assert [p.version.ref for p in lineage.parents] == [source.ref]


def test_endpoint_scores_with_its_primary_variant(registered, parquet_input: Path,
                                                  tmp_path: Path) -> None:
    ws, _ = registered
    DeploymentStore(ws.metadata).put("churn-api", single("churn@1"))
    result = predict_batch(ws, endpoint="churn-api", input=str(parquet_input),
                           output=str(tmp_path / "out.parquet"))
    assert (result.model, result.rows) == ("churn@1", ROWS)


def test_executor_output_equals_in_process_output(registered, parquet_input: Path,
                                                  tmp_path: Path) -> None:
    ws, _ = registered
    here, there = tmp_path / "out" / "here.parquet", tmp_path / "out" / "there.parquet"
    predict_batch(ws, model="churn@1", input=str(parquet_input), output=str(here),
                  chunk_rows=5_000)
    result = predict_batch(ws, model="churn@1", input=str(parquet_input), output=str(there),
                           chunk_rows=5_000, executor="local:2")
    assert result.rows == ROWS
    assert pq.read_table(here).equals(pq.read_table(there))
    assert sorted(p.name for p in here.parent.iterdir()) == ["here.parquet", "there.parquet"]


def test_bad_inputs_are_refused_before_anything_is_written(registered, tmp_path: Path) -> None:
    ws, _ = registered
    out = tmp_path / "out" / "out.parquet"
    lacking = tmp_path / "lacking.parquet"
    pq.write_table(pa.table({"age": [30.0, 40.0]}), lacking)
    with pytest.raises(ValidationError, match="visits"):
        predict_batch(ws, model="churn@1", input=str(lacking), output=str(out))
    with pytest.raises(ValidationError, match="lacking.parquet"):
        predict_batch(ws, model="churn@1", input=str(lacking), output=str(out))
    assert not out.exists() and not out.parent.exists()
    with pytest.raises(NotFoundError, match="nowhere.parquet"):
        predict_batch(ws, model="churn@1", input=str(tmp_path / "nowhere.parquet"),
                      output=str(out))
    for both in ({"model": "churn@1", "endpoint": "e"}, {}):
        with pytest.raises(ValidationError, match="exactly one"):
            predict_batch(ws, input=str(lacking), output=str(out), **both)


def test_a_failure_mid_stream_leaves_no_output(registered, parquet_input: Path,
                                               tmp_path: Path) -> None:
    class Breaks:
        calls = 0

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            Breaks.calls += 1
            if Breaks.calls == 3:
                raise RuntimeError("boom")
            return np.zeros(len(X))

    out = tmp_path / "out" / "out.parquet"
    with pytest.raises(RuntimeError, match="boom"):
        score_file(Breaks(), parquet_input, out, columns=["age"], chunk_rows=1_000)
    assert list(out.parent.iterdir()) == []


def test_probabilities_can_be_left_out(registered, parquet_input: Path, tmp_path: Path) -> None:
    ws, model = registered
    out = tmp_path / "out.parquet"
    predict_batch(ws, model="churn@1", input=str(parquet_input), output=str(out),
                  probabilities=False, chunk_rows=9_000)
    scored = pq.read_table(out)
    assert scored.column_names == ["row", "prediction"]
    np.testing.assert_array_equal(scored.column("prediction").to_numpy(),
                                  expected(model, frame(ROWS))[0])

"""The Open Inference Protocol v2 against a running ``gapless serve``, driven by a real
third-party client (tritonclient's HTTP client, binary tensors on, its default), and the
JSON shapes KServe clients expect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gapless import Workspace
from gapless.server.app import create_app

httpclient = pytest.importorskip("tritonclient.http")


def test_tritonclient_binary_round_trip(server: str, ws: Workspace) -> None:
    client = httpclient.InferenceServerClient(url=server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("default")
    metadata = client.get_model_metadata("default")
    assert [i["name"] for i in metadata["inputs"]] == ["age", "region"]
    age = httpclient.InferInput("age", [3, 1], "FP64")
    age.set_data_from_numpy(np.array([[25.0], [45.0], [65.0]]))  # binary_data=True
    region = httpclient.InferInput("region", [3, 1], "BYTES")
    region.set_data_from_numpy(np.array([[b"n"], [b"s"], [b"n"]], dtype=object))
    wanted = [httpclient.InferRequestedOutput("prediction"),
              httpclient.InferRequestedOutput("probabilities")]
    result = client.infer("default", [age, region], outputs=wanted, request_id="req-7")
    response = result.get_response()
    assert response["model_name"] == "default" and response["id"] == "req-7"
    expected = ws.models.load("churn@1").predict_proba(
        pd.DataFrame({"age": [25.0, 45.0, 65.0], "region": ["n", "s", "n"]}))
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected)
    assert result.as_numpy("prediction").shape[0] == 3
    client.close()


def test_json_shapes_and_errors(ws: Workspace) -> None:
    with TestClient(create_app(ws, auth=False)) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").json() == {"ready": True}
        body = {"id": "r1", "parameters": {"content_type": "pd"}, "inputs": [
            {"name": "age", "shape": [2], "datatype": "FP64", "data": [30.0, 60.0]},
            {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["n", "s"]}]}
        answer = client.post("/v2/models/default/infer", json=body)
        assert answer.status_code == 200, answer.text
        out = answer.json()
        assert out["model_name"] == "default" and out["id"] == "r1"
        assert out["model_version"] == "1"
        assert {o["name"] for o in out["outputs"]} >= {"prediction"}
        body["inputs"][0]["data"] = ["x", "y"]
        bad = client.post("/v2/models/default/infer", json=body)
        assert bad.status_code in (400, 422) and "age" in bad.json()["error"]
        assert client.get("/v2/models/nope").status_code == 404

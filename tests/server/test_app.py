"""The REST app in-process (httpx through Starlette's TestClient): predict, MLflow's
protocol, feedback, deployments, health, metrics, and auth on every route."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gapless import Workspace
from gapless.server.app import create_app
from gapless.serving.feedback import read_predictions


def test_native_predict_feedback_and_the_prediction_log(ws: Workspace) -> None:
    with TestClient(create_app(ws, auth=False)) as client:
        assert client.get("/health/ready").json()["status"] == "ready"
        answer = client.post("/v1/endpoints/default/predict",
                             json={"instances": [{"age": 33, "region": "n"},
                                                 {"age": 64, "region": "s"}]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "churn@1" and len(body["ids"]) == 2
        assert set(body["probabilities"][0]) == {"0", "1"}
        bad = client.post("/v1/endpoints/default/predict",
                          json={"instances": [{"age": "old", "region": "n"}]})
        assert bad.status_code == 422 and bad.json()["field"] == "age"
        unknown = client.post("/v1/endpoints/default/predict",
                              json={"instances": [{"age": 3, "region": "mars"}]})
        assert unknown.status_code == 422 and "mars" in unknown.json()["message"]
        assert client.post("/v1/endpoints/default/predict", content=b"{oops").status_code == 400
        assert client.post("/v1/endpoints/nope/predict",
                           json={"instances": [{"age": 3, "region": "n"}]}).status_code == 404
        labels = client.post("/v1/endpoints/default/feedback", json={"feedback": [
            {"prediction_id": body["ids"][0], "label": 1}]})
        assert labels.status_code == 200 and labels.json()["accepted"] == 1
    rows = read_predictions(ws.metadata, "default", with_labels=True)
    assert {r["prediction_id"] for r in rows} == set(body["ids"])
    assert [r["label"] for r in rows if r["prediction_id"] == body["ids"][0]] == [1]


def test_mlflow_protocol_answers_as_mlflow_does(ws: Workspace) -> None:
    with TestClient(create_app(ws, auth=False)) as client:
        split = client.post("/invocations", json={"dataframe_split": {
            "columns": ["age", "region"], "data": [[33, "n"], [64, "s"]]}})
        assert split.status_code == 200 and len(split.json()["predictions"]) == 2
        csv = client.post("/invocations", content=b"age,region\n33,n\n",
                          headers={"content-type": "text/csv"})
        assert csv.status_code == 200 and len(csv.json()["predictions"]) == 1
        odd = client.post("/invocations", content=b"{}",
                          headers={"content-type": "application/json; format=pandas-split"})
        assert odd.status_code == 415
        wrong = client.post("/invocations", json={"dataframe_records": [{"age": "x",
                                                                         "region": "n"}]})
        assert wrong.status_code == 400
        assert wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_deployments_apply_without_restart_and_metrics_count(ws: Workspace) -> None:
    with TestClient(create_app(ws, auth=False, poll_interval=0.0)) as client:
        assert client.get("/v1/endpoints/default/deployment").json()["revision"] == 1
        missing = client.put("/v1/endpoints/default/deployment", json={
            "variants": [{"name": "a", "model": "churn@9"}]})
        assert missing.status_code == 422 and "churn" in missing.json()["message"]
        put = client.put("/v1/endpoints/second/deployment", json={
            "variants": [{"name": "a", "model": "churn@1", "weight": 100}]})
        assert put.json() == {"endpoint": "second", "revision": 1}
        served = client.post("/v1/endpoints/second/predict",
                             json={"columns": ["age", "region"], "data": [[40, "n"]]})
        assert served.status_code == 200
        text = client.get("/metrics").text
        assert 'gapless_requests_total{endpoint="second",route="predict",status="200",' \
               'variant="a",version="1"} 1.0' in text
        assert "gapless_model_load_seconds" in text


def test_every_route_needs_a_key_with_the_right_scope(ws: Workspace) -> None:
    _, reader = ws.keys.create("dashboard", ["read"])
    _, admin = ws.keys.create("ops", ["admin"])
    app = create_app(ws)
    open_routes = {"/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready",
                   "/ping", "/version",
                   "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        checked = 0
        for path, methods in spec["paths"].items():
            if path in open_routes:
                continue
            url = path.replace("{name}", "default")
            for method in methods:
                assert client.request(method, url).status_code == 401, (method, path)
                with_reader = client.request(method, url,
                                             headers={"Authorization": f"Bearer {reader}"})
                allowed = method == "get"
                assert (with_reader.status_code != 403) == allowed, (method, path)
                with_admin = client.request(method, url,
                                            headers={"Authorization": f"Bearer {admin}"})
                assert with_admin.status_code not in (401, 403), (method, path)
                checked += 1
        assert checked >= 6


def test_metrics_pass_promtool(ws: Workspace) -> None:
    """Prometheus's own linter (Debian's `prometheus` package) accepts /metrics."""
    import shutil
    import subprocess

    from conftest import service_missing

    promtool = shutil.which("promtool")
    if promtool is None:
        service_missing("promtool", "apt-get install prometheus")
    with TestClient(create_app(ws, auth=False)) as client:
        client.post("/v1/endpoints/default/predict", json={"instances": [{"age": 3,
                                                                          "region": "n"}]})
        text = client.get("/metrics").text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_log_fields_keep_entity_ids_for_training_serving_skew(ws: Workspace) -> None:
    import pandas as pd

    from gapless.serving.deployments import DeploymentStore

    spec = DeploymentStore(ws.metadata).get("default").spec.model_dump()
    DeploymentStore(ws.metadata).put("default", {**spec, "log_fields": ["customer_id"]})
    with TestClient(create_app(ws, auth=False)) as client:
        rows = [{"age": 33, "region": "n", "customer_id": "c1"},
                {"age": 64, "region": "s", "customer_id": "c2"},
                {"age": 50, "region": "s"}]
        answer = client.post("/v1/endpoints/default/predict", json={"instances": rows})
        assert answer.status_code == 200, answer.text
        columns = client.post("/v1/endpoints/default/predict", json={
            "columns": ["customer_id", "age", "region"], "data": [[7, 41, "n"]]})
        assert columns.status_code == 200, columns.text
        nested = client.post("/v1/endpoints/default/predict", json={
            "instances": [{"age": 3, "region": "n", "customer_id": {"id": 1}}]})
        assert nested.status_code == 422 and nested.json()["field"] == "customer_id"
        assert "row 0, `customer_id`: a logged field must be" in nested.json()["message"]
    logged = {r["prediction_id"]: r["inputs"] for r in read_predictions(ws.metadata, "default")}
    assert [logged[i] for i in answer.json()["ids"]] == [
        {"age": 33.0, "region": "n", "customer_id": "c1"},
        {"age": 64.0, "region": "s", "customer_id": "c2"},
        {"age": 50.0, "region": "s", "customer_id": None}]
    assert logged[columns.json()["ids"][0]]["customer_id"] == 7
    offline = pd.DataFrame({"customer_id": ["c1", "c2"], "age": [33.0, 60.0],
                            "region": ["n", "s"]})
    report = ws.monitor.skew("default", offline, key="customer_id")
    assert (report.served_rows, report.matched_rows) == (4, 2)
    age = next(f for f in report.features if f.name == "age")
    assert (age.compared, age.mismatches, age.mismatch_rate) == (2, 1, 0.5)
    assert age.examples == [{"customer_id": "c2", "served": 64.0, "offline": 60.0}]

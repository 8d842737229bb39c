"""The dashboard's routes in-process: auth on the JSON routes, their shape, 404s, the
HTML shell (no data, every name escaped) and the static files served with a cache."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from gapless import Workspace
from gapless.server.app import create_app

POINT = {"start", "requests", "rate", "errors", "error_rate", "p50", "p95", "p99"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    return TestClient(create_app(ws, auth=True))


def test_json_routes_need_a_key_with_the_read_scope(ws: Workspace, client: TestClient,
                                                    read_key: str) -> None:
    for path in ("/ui/api/overview", "/ui/api/endpoints/churn"):
        missing = client.get(path)
        assert missing.status_code == 401 and "API key" in missing.json()["message"]
        assert client.get(path, headers=bearer("gl_nope")).status_code == 401
    _, predictor = ws.keys.create("scorer", ["predict"])
    refused = client.get("/ui/api/overview", headers=bearer(predictor))
    assert refused.status_code == 403 and "'read'" in refused.json()["message"]
    assert client.get("/ui/api/overview", headers=bearer(read_key)).status_code == 200
    _, deployer = ws.keys.create("ops", ["deploy"])
    assert client.get("/ui/api/endpoints/churn", headers=bearer(deployer)).status_code == 200
    open_app = TestClient(create_app(ws, auth=False))
    assert open_app.get("/ui/api/overview").status_code == 200


def test_overview_lists_deployments_and_series(client: TestClient, read_key: str) -> None:
    body = client.get("/ui/api/overview?window=5m&windows=12",
                      headers=bearer(read_key)).json()
    assert body["window"] == "5m" and body["seconds"] == 300
    (churn,) = body["endpoints"]
    assert churn["endpoint"] == "churn" and churn["strategy"] == "canary"
    assert churn["revision"] == 2
    assert [(v["name"], v["version"], v["weight"], v["role"]) for v in churn["variants"]] == [
        ("primary", "churn@1", 75.0, "primary"), ("canary", "churn@2", 25.0, "primary")]
    assert [v["status"] for v in churn["variants"]] == ["serving", "canary"]
    assert churn["totals"] == {"requests": 80, "errors": 8, "error_rate": 0.1}
    assert churn["series"] and all(set(p) == POINT for p in churn["series"])
    assert sum(p["requests"] for p in churn["series"]) == 80
    assert all(p["start"] >= body["since"] for p in churn["series"])
    assert all(p["p50"] <= p["p95"] <= p["p99"] for p in churn["series"])


def test_endpoint_detail_per_version_with_history_and_drift(client: TestClient,
                                                            read_key: str) -> None:
    body = client.get("/ui/api/endpoints/churn?window=1h",
                      headers=bearer(read_key)).json()
    assert [s["name"] for s in body["series"]] == ["v1 primary", "v2 canary"]
    requests = {s["name"]: sum(p["requests"] for p in s["points"]) for s in body["series"]}
    assert requests == {"v1 primary": 60, "v2 canary": 20}
    assert [h["revision"] for h in body["history"]] == [2, 1]
    assert body["history"][0]["reason"] == "try v2"
    assert body["history"][1]["variants"] == [
        {"name": "primary", "model": "churn@1", "weight": 100.0, "role": "primary"}]
    # Drift against churn@1's training data (train@1): age moved far above its range.
    drift = body["drift"]
    assert drift["model"] == "churn@1" and drift["message"] is None
    judged = {(w["version"], w["variant"]): w for w in drift["windows"]}
    primary = judged[(1, "primary")]
    assert primary["rows"] == 56 and primary["drifted"] is True
    assert set(primary["features"]) == {"age", "region"}
    age = primary["features"]["age"]
    assert age["drifted"] is True and age["score"] > age["threshold"]
    assert judged[(2, "canary")]["drifted"] is None  # too few rows to judge


def test_drift_panel_says_why_when_there_is_no_training_data(ws: Workspace, client: TestClient,
                                                             read_key: str) -> None:
    ws.deploy("plain", "churn@2")
    drift = client.get("/ui/api/endpoints/plain", headers=bearer(read_key)).json()["drift"]
    assert drift["windows"] == [] and "churn@2" in drift["message"]
    assert "training dataset" in drift["message"]
    overview = client.get("/ui/api/overview", headers=bearer(read_key)).json()
    assert [e["endpoint"] for e in overview["endpoints"]] == ["churn", "plain"]
    assert overview["endpoints"][1]["series"] == []


def test_unknown_endpoint_and_bad_parameters_are_clear_4xx(client: TestClient,
                                                           read_key: str) -> None:
    missing = client.get("/ui/api/endpoints/nope", headers=bearer(read_key))
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFoundError" and "'nope'" in missing.json()["message"]
    bad = client.get("/ui/api/overview?window=7m", headers=bearer(read_key))
    assert bad.status_code == 422 and "5m, 1h, 1d" in bad.json()["message"]
    many = client.get("/ui/api/overview?windows=100000", headers=bearer(read_key))
    assert many.status_code == 422 and "windows" in many.json()["message"]
    assert client.get("/ui/api/overview?windows=x", headers=bearer(read_key)).status_code == 422


def test_pages_hold_no_data_and_escape_names(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "churn" not in page.text  # the shell holds no data; the key fetches it
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "https://" not in page.text and "http://" not in page.text
    evil = '<img src=x onerror="alert(1)">'
    detail = client.get("/ui/endpoints/" + evil)
    assert detail.status_code == 200
    assert evil not in detail.text and "<img" not in detail.text
    assert "&lt;img src=x onerror=" in detail.text
    assert 'data-endpoint="&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"' in detail.text


def test_static_files_and_plotly_are_served_with_a_cache(client: TestClient) -> None:
    page = client.get("/ui").text
    for name in ("plotly.min.js", "dashboard.js", "dashboard.css"):
        url = page.split(f"/ui/static/{name}?v=", 1)[1].split('"', 1)[0]
        served = client.get(f"/ui/static/{name}?v={url}")
        assert served.status_code == 200 and served.content
        assert "max-age" in served.headers["cache-control"]
        again = client.get(f"/ui/static/{name}", headers={"If-None-Match":
                                                           served.headers["etag"]})
        assert again.status_code == 304
    plotly = client.get("/ui/static/plotly.min.js")
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert b"plotly" in plotly.content[:2000].lower() and len(plotly.content) > 1_000_000
    assert client.get("/ui/static/secrets.txt").status_code == 404
    assert client.get("/ui/static/..%2Froutes.py").status_code == 404


def test_the_ui_package_ships_its_templates_and_static_files() -> None:
    from pathlib import Path

    import gapless.ui

    here = Path(gapless.ui.__file__).parent
    for name in ("templates/base.html", "templates/overview.html", "templates/endpoint.html",
                 "static/dashboard.js", "static/dashboard.css"):
        assert (here / name).is_file(), name


def test_performance_panel_shows_realized_and_estimated(ws: Workspace, client: TestClient,
                                                        read_key: str) -> None:
    from conftest import log_predictions
    from gapless.serving.feedback import record_feedback

    silent = client.get("/ui/api/endpoints/churn", headers=bearer(read_key)).json()
    assert silent["performance"]["windows"] and "no feedback labels" in \
        silent["performance"]["message"]
    now = time.time()
    ids = log_predictions(ws.metadata, [
        {"created_at": now - 1 - i / 100, "inputs": {"age": 30.0, "region": "n"},
         "outputs": 1, "probabilities": ((0, 1), [0.2, 0.8])} for i in range(40)])
    record_feedback(ws.metadata, "churn", [{"prediction_id": i, "label": n % 2}
                                           for n, i in enumerate(ids)])
    perf = client.get("/ui/api/endpoints/churn?window=1d",
                      headers=bearer(read_key)).json()["performance"]
    assert perf["metric"] == "accuracy" and perf["message"] is None
    (primary,) = [w for w in perf["windows"] if w["variant"] == "primary"
                  and w["labelled"]]
    assert primary["labelled"] == 40 and primary["metrics"]["accuracy"] == 0.5
    assert primary["estimated"]["accuracy"] == pytest.approx(0.8)
    answered = sum(w["predictions"] for w in perf["windows"] if w["variant"] == "primary")
    assert answered == 56 + 40  # the fixture's primary rows that did not fail


def test_an_idle_endpoint_shows_its_last_activity(ws: Workspace, client: TestClient,
                                                  read_key: str) -> None:
    from conftest import log_predictions

    from .conftest import traffic

    ws.deploy("old", "churn@1")
    days_ago = time.time() - 3 * 86400
    log_predictions(ws.metadata, traffic(10, now=days_ago), endpoint="old")
    body = client.get("/ui/api/endpoints/old?window=5m", headers=bearer(read_key)).json()
    assert body["since"] < days_ago and body["totals"]["requests"] == 10
    page = client.get("/ui/endpoints/old?window=1h").text
    assert '<option value="1h" selected>' in page

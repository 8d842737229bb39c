"""A registered recommender deploys like any model: user ids in, top-k items with scores
out, unknown users answered by popularity and said so, feedback (the destination then
visited) turned into an online hit rate, batch top-k for every user."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gapless import Workspace
from gapless.recsys.sample_data import make_tourism, write_tourism
from gapless.server.app import create_app


@pytest.fixture
def deployed(workspace: Workspace) -> tuple[Workspace, object]:
    data = make_tourism(200, 80, 3000, seed=4)
    refs = write_tourism(workspace, data)
    workspace.train_recommender({
        "dataset": refs["visits"], "k": 5, "budget": {"trials": 1},
        "candidates": [{"family": "item_knn"}]}, register="tourism")
    workspace.deploy("tourism", "tourism@1")
    return workspace, data


def predict(client: TestClient, rows: list[dict]) -> dict:
    answer = client.post("/v1/endpoints/tourism/predict", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_user_ids_in_top_k_items_out(deployed: tuple) -> None:
    ws, data = deployed
    model = ws.models.load("tourism@1")
    known = data.visits["user_id"].iloc[0]
    with TestClient(create_app(ws, auth=False)) as client:
        body = predict(client, [{"user_id": known}, {"user_id": known, "k": 2},
                                {"user_id": "nobody"}, {"user_id": known, "k": 10_000}])
    first, two, cold, everything = body["predictions"]
    assert first["items"] == model.recommend(known, 5).items  # the model's default k
    assert first["strategy"] == "model" and len(first["scores"]) == 5
    assert first["scores"] == sorted(first["scores"], reverse=True)
    assert two["items"] == first["items"][:2]
    assert cold["strategy"] == "popularity (unknown user)" and len(cold["items"]) == 5
    seen = set(data.visits.loc[data.visits["user_id"] == known, "item_id"])
    assert not seen & set(everything["items"])  # k over the catalogue: every unseen item
    # the catalogue is what was visited (the spec names no item table)
    assert len(everything["items"]) == data.visits["item_id"].nunique() - len(seen)


def test_bad_requests_are_named(deployed: tuple) -> None:
    ws, _ = deployed
    with TestClient(create_app(ws, auth=False)) as client:
        missing = client.post("/v1/endpoints/tourism/predict", json={"instances": [{"k": 3}]})
        zero = client.post("/v1/endpoints/tourism/predict",
                           json={"instances": [{"user_id": "x", "k": 0}]})
    assert missing.status_code == 422 and "user_id" in missing.json()["message"]
    assert zero.status_code == 422 and "k must be >= 1" in zero.json()["message"]


def test_feedback_becomes_an_online_hit_rate(deployed: tuple) -> None:
    ws, data = deployed
    users = data.visits["user_id"].drop_duplicates().head(20).tolist()
    with TestClient(create_app(ws, auth=False)) as client:
        body = predict(client, [{"user_id": u} for u in users])
        chosen = [answer["items"][0] if i % 2 == 0 else "D9999"  # half hit, half missed
                  for i, answer in enumerate(body["predictions"])]
        feedback = client.post("/v1/endpoints/tourism/feedback", json={"feedback": [
            {"prediction_id": p, "label": c} for p, c in zip(body["ids"], chosen,
                                                              strict=True)]})
        assert feedback.status_code == 200, feedback.text
    (window,) = ws.monitor.performance("tourism", window="1d").windows
    assert window.problem == "recommendation" and window.scored == 20
    assert window.metrics == {"hit_rate": 0.5, "mrr": 0.5}
    # Judged against the model's offline hit rate: recall@k on each user's held-out visit.
    report = ws.monitor.performance("tourism", window="1d", model="tourism@1", max_drop=1.0,
                                    min_labelled=1)
    (verdict,) = report.verdicts
    assert verdict.metric == "hit_rate" and verdict.drifted is False
    assert verdict.reference == ws.models.get("tourism@1").metrics["test_recall_at_5"]


def test_batch_top_k_for_every_user_becomes_a_dataset_version(deployed: tuple) -> None:
    from gapless import ValidationError
    from gapless.serving.batch_recommend import recommend_batch

    ws, data = deployed
    frame, ref = recommend_batch(ws, "tourism@1", k=3, record_as="tourism-top3")
    users = data.visits["user_id"].nunique()
    assert len(frame) == 3 * users and frame["rank"].tolist()[:3] == [1, 2, 3]
    model = ws.models.load("tourism@1")
    first = frame["user_id"].iloc[0]
    assert frame.loc[frame["user_id"] == first, "item_id"].tolist() == \
        model.recommend(first, 3).items
    version = ws.data.get(ref)
    assert version.row_count == len(frame) and version.spec["model"] == "tourism@1"
    assert version.parents == (ws.models.get("tourism@1").lineage["dataset"],)
    cold, _ = recommend_batch(ws, "tourism@1", k=2, users=["nobody"])
    assert cold["strategy"].tolist() == ["popularity (unknown user)"] * 2
    with pytest.raises(ValidationError, match="no users"):
        recommend_batch(ws, "tourism@1", users=[])

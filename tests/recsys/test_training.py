"""The recommender training task: spec checks before any run, the baseline first, the
search as child runs, a registrable model, the comparison table and the card."""

from __future__ import annotations

import json

import pytest

from gapless import ValidationError
from gapless.recsys.card import recommender_card_html
from gapless.recsys.sample_data import make_tourism, write_tourism
from gapless.recsys.specs import RecommenderSpec, load_recommender_spec, resolve_space
from gapless.recsys.training import infer_content_columns

TWO_FAMILIES = [
    {"family": "item_knn", "params": {"neighbours": {"low": 10, "high": 80}}},
    {"family": "als", "params": {"factors": {"low": 8, "high": 32, "log": True},
                                 "iterations": 8}},
]


@pytest.fixture(scope="module")
def tourism():
    return make_tourism(300, 150, 6000, seed=2)


@pytest.fixture
def refs(workspace, tourism):
    return write_tourism(workspace, tourism)


def _spec(refs, **extra):
    return {"dataset": refs["visits"], "candidates": TWO_FAMILIES, "budget": {"trials": 4},
            **extra}


def _children(workspace, result):
    runs = workspace.runs.search(experiment=result.experiment, limit=None)
    return sorted((r for r in runs if r.parent_id == result.run_id),
                  key=lambda r: r.start_time)


def test_trains_tracks_registers_and_recommends(workspace, refs):
    result = workspace.train_recommender(_spec(refs), register="tourism")

    assert result.registered == "tourism@1"
    assert result.experiment == "recommend-tourism-visits"
    assert result.dataset == refs["visits"]
    assert result.metric == "ndcg@10"
    assert result.best_family in ("item_knn", "als")
    assert result.trials == {"complete": 4, "failed": 0}

    parent = workspace.runs.get(result.run_id)
    assert parent.tags["task"] == "recommendation"
    assert parent.tags["best_family"] == result.best_family
    assert parent.params["dataset"] == refs["visits"]
    assert "test_ndcg_at_10" in parent.metrics and "baseline_test_ndcg_at_10" in parent.metrics
    children = _children(workspace, result)
    assert [c.tags["role"] for c in children] == ["baseline"] + ["trial"] * 4
    assert children[0].params["family"] == "popularity"
    # each family tried once first, in the spec's order
    assert [c.params["family"] for c in children[1:3]] == ["item_knn", "als"]
    for child in children:
        assert {"ndcg_at_10", "recall_at_10", "mrr", "coverage"} <= set(child.metrics)

    names = {a.path for a in workspace.runs.artifacts(result.run_id)}
    assert {"model/model.skops", "signature.json", "spec.json", "evaluation.json",
            "model_card.html"} <= names

    version = workspace.models.get("tourism@1")
    assert version.signature["inputs"] == [
        {"name": "user_id", "type": "string", "nullable": False},
        {"name": "k", "type": "integer", "nullable": True}]  # default: the spec's k
    assert version.signature["output"]["problem"] == "recommendation"
    assert version.lineage["dataset"] == refs["visits"]
    model = workspace.models.load("tourism@1")
    known = model.recommend("T00001", 5)
    assert len(known.items) == 5 and known.strategy == "model"
    assert model.recommend("a stranger", 3).strategy != "model"


def test_evaluation_table_and_card(workspace, refs):
    result = workspace.train_recommender(_spec(refs, items=refs["destinations"],
                                               limitations="Synthetic <data> only."))
    evaluation = json.loads(workspace.runs.read_artifact(result.run_id, "evaluation.json"))
    table = evaluation["table"]
    assert table[0]["model"] == "popularity" and table[0]["beats_baseline"] == "(baseline)"
    assert [r["role"] for r in table].count("selected") == 1
    assert {r["model"] for r in table[1:]} <= {"item_knn", "als"}
    for row in table[1:]:
        beats = row["beats_baseline"]
        assert beats == "none" or all(
            row["test"][m] > table[0]["test"][m] for m in beats.split(", "))
    assert evaluation["split"]["test_events"] == 300  # one held out per tourist
    assert evaluation["baseline"]["test_metrics"] == result.baseline_test_metrics
    assert result.table == table
    # the attribute table's never-visited items are in the catalogue
    assert evaluation["catalogue"]["items"] == 150

    card = workspace.runs.read_artifact(result.run_id, "model_card.html").decode()
    assert "popularity baseline" in card and "Cold start" in card
    assert "Synthetic &lt;data&gt; only." in card and "<data>" not in card
    assert "<script" not in card


def test_same_seed_same_best(workspace, refs):
    first = workspace.train_recommender(_spec(refs, seed=5))
    again = workspace.train_recommender(_spec(refs, seed=5))
    assert (first.best_family, first.best_params) == (again.best_family, again.best_params)
    assert first.best_score == again.best_score


@pytest.mark.parametrize(("change", "field"), [
    ({"candidates": [{"family": "deep_magic"}]}, "candidates.0.family"),
    ({"candidates": [{"family": "als", "params": {"factorz": 8}}]}, "factorz"),
    ({"candidates": [{"family": "als", "params": {"factors": {"low": 9, "high": 3}}}]},
     "low (9) must be below high (3)"),
    ({"metric": "accuracy"}, "metric"),
    ({"metric": "ndcg@5"}, "metric"),  # k is 10
    ({"user": "tourist"}, "`user`"),
    ({"timestamp": "when"}, "`timestamp`"),
    ({"candidates": [{"family": "content"}]}, "items"),
    ({"budget": {"trials": 0}}, "budget.trials"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_specs_refused_before_any_run(workspace, refs, change, field):
    with pytest.raises(ValidationError, match=field.replace("(", r"\(").replace(")", r"\)")):
        workspace.train_recommender({**_spec(refs), **change})
    assert workspace.runs.search(limit=None) == []


def test_spec_defaults_and_yaml(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("dataset: visits@2\nitems: places\nk: 5\n", encoding="utf-8")
    spec = load_recommender_spec(path)
    assert isinstance(spec, RecommenderSpec)
    assert spec.experiment == "recommend-visits" and spec.objective == "ndcg@5"
    assert [c.family for c in spec.lineup()] == ["item_knn", "als", "graph_walk", "content"]
    assert [c.family for c in RecommenderSpec(dataset="v").lineup()] == [
        "item_knn", "als", "graph_walk"]
    space = resolve_space("bpr", {"factors": 16, "learning_rate": {"choices": [0.05, 0.1]}})
    assert space["factors"].value == 16 and space["learning_rate"].options == (0.05, 0.1)


def test_content_columns_inferred(tourism):
    columns = infer_content_columns(tourism.destinations)
    assert set(columns["text_columns"]) == {"tags", "description"}
    assert set(columns["attribute_columns"]) == {"region", "type", "price_level", "best_season"}


def test_card_escapes_everything():
    html = recommender_card_html({
        "dataset": "<b>x</b>", "metric": "ndcg@10", "k": 10,
        "best": {"family": "als", "params": {"factors": "<i>"}},
        "test_metrics": {"ndcg@10": 0.2}, "baseline": {"test_metrics": {"ndcg@10": 0.1}},
        "table": [{"model": "<m>", "role": "baseline", "test": {}}],
        "limitations": "<script>alert(1)</script>",
    })
    assert "<b>" not in html and "<i>" not in html and "<script>" not in html
    assert "&lt;script&gt;" in html

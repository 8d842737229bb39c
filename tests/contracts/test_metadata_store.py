"""One behaviour suite for the metadata store, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from gapless import ConflictError, FilterSyntaxError, Workspace
from gapless.core.records import MetricPoint
from gapless.stores.migrations import HEAD_REVISION, current_revision, script_head
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import metadata, params, runs


@pytest.fixture
def ws(metadata_uri: str, tmp_path: Path):
    workspace = Workspace(tmp_path / "ws", metadata_uri=metadata_uri)
    yield workspace
    workspace.close()


def test_opening_applies_migrations_to_head(metadata_uri: str) -> None:
    store = MetadataStore(metadata_uri)
    with store.read() as conn:
        assert current_revision(conn) == HEAD_REVISION == script_head()
        tables = set(sa.inspect(conn).get_table_names())
        assert {"runs", "params", "metrics", "latest_metrics"} <= tables
    store.dispose()


def test_migrated_schema_matches_the_core_tables(metadata_uri: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = MetadataStore(metadata_uri)
    with store.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []


def test_a_failed_transaction_leaves_nothing(ws: Workspace) -> None:
    run = ws.start_run("exp")
    run.end()

    def work(conn: sa.Connection) -> None:
        conn.execute(params.insert().values(run_id=run.id, key="a", value="1"))
        raise RuntimeError("boom half-way")

    with pytest.raises(RuntimeError):
        ws.metadata.write(work)
    assert ws.runs.get(run.id).params == {}


def test_constraint_violation_becomes_conflict_error(ws: Workspace) -> None:
    run = ws.start_run("exp")
    run.end()

    def duplicate(conn: sa.Connection) -> None:
        row = conn.execute(sa.select(runs).where(runs.c.id == run.id)).one()._asdict()
        conn.execute(runs.insert().values(**row))

    with pytest.raises(ConflictError, match="refused the write"):
        ws.metadata.write(duplicate)


def test_run_round_trip_with_params_metrics_tags(ws: Workspace) -> None:
    with ws.start_run("churn", "rf", tags={"team": "risk"}) as run:
        run.log_params({"model": "rf", "max_depth": 8})
        run.log_metric("loss", 0.9)
        run.log_metric("loss", 0.5)
        run.log_metric("auc", 0.81, step=3)
        run.log_metric("auc", 0.99, step=1)  # an older step logged late is not "latest"
        run.log_metric("nan_metric", float("nan"))
        run.set_tag("stage", "cv")
    record = ws.runs.get(run.id)
    assert record.status == "FINISHED" and record.end_time >= record.start_time
    assert record.experiment == "churn" and record.name == "rf"
    assert record.params == {"model": "rf", "max_depth": "8"}
    assert record.metrics["loss"] == 0.5
    assert record.metrics["auc"] == 0.81
    assert math.isnan(record.metrics["nan_metric"])
    assert record.tags["team"] == "risk" and record.tags["stage"] == "cv"
    history = ws.runs.metric_history(run.id[:8], "loss")
    assert [(p.value, p.step) for p in history] == [(0.9, 0), (0.5, 1)]


def test_param_conflict_in_a_batch_writes_nothing_of_it(ws: Workspace) -> None:
    with ws.start_run("exp") as run:
        run.log_param("lr", "0.1")
    repo = ws.runs.repository
    with pytest.raises(ConflictError, match="param 'lr' is already '0.1'"):
        repo.write_batch(
            run.id,
            run_params=[("lr", "0.2")],
            run_metrics=[MetricPoint("m", 1.0, 0, 1.0)],
            run_tags=[("t", "x")],
        )
    record = ws.runs.get(run.id)
    assert record.params == {"lr": "0.1"} and "m" not in record.metrics and "t" not in record.tags


def test_nested_runs_record_their_parent(ws: Workspace) -> None:
    with ws.start_run("exp", "parent") as parent:
        with ws.start_run("exp", "child") as child:
            pass
        with ws.start_run("exp", "top", parent=None) as top:
            pass
    assert ws.runs.get(child.id).parent_id == parent.id
    assert ws.runs.get(top.id).parent_id is None
    assert [r.id for r in ws.runs.search(f"parent_id = '{parent.id}'")] == [child.id]


def _populate(ws: Workspace) -> dict[str, str]:
    ids = {}
    specs = [
        ("rf", "RF-big", {"model": "rf", "depth": 8}, {"auc": 0.91, "loss": 0.2}, {"team": "a"}),
        ("rf2", "rf-small", {"model": "rf", "depth": 3}, {"auc": 0.85}, {"team": "b"}),
        ("lr", "logreg", {"model": "lr", "C": 1.0}, {"auc": 0.79, "loss": 0.4}, {"team": "x"}),
        ("gb", "gbm", {"model": "gb", "depth": 12}, {"auc": 0.95}, {}),
    ]
    for key, name, run_params, run_metrics, run_tags in specs:
        with ws.start_run("search", name, tags=run_tags) as run:
            run.log_params(run_params)
            run.log_metrics(run_metrics)
        ids[key] = run.id
    with ws.start_run("other", "elsewhere") as run:
        run.log_metric("auc", 0.99)
    ids["other"] = run.id
    return ids


def _names(found) -> set[str]:
    return {run.name for run in found}


def test_search_filters_on_metrics_params_tags_and_attributes(ws: Workspace) -> None:
    _populate(ws)
    search = ws.runs.search
    assert _names(search(
        "metrics.auc > 0.8 and params.model = 'rf' and tags.team != 'x'", experiment="search"
    )) == {"RF-big", "rf-small"}
    assert _names(search("params.depth >= 8", experiment="search")) == {"RF-big", "gbm"}
    assert _names(search("metrics.loss is null", experiment="search")) == {"rf-small", "gbm"}
    assert _names(search("tags.team is not null and not tags.team in ('a')")) == {
        "rf-small", "logreg"}
    assert _names(search("params.model in ('lr', 'gb') or metrics.auc >= 0.99")) == {
        "logreg", "gbm", "elsewhere"}
    assert _names(search("name like 'rf%'")) == {"rf-small"}  # LIKE is case-sensitive
    assert _names(search("name ilike 'rf%'")) == {"RF-big", "rf-small"}
    assert _names(search("attributes.status = 'FINISHED'", experiment="other")) == {"elsewhere"}
    assert _names(search("experiment = 'other'")) == {"elsewhere"}
    assert _names(search("metrics.`auc` < 0.8")) == {"logreg"}


def test_search_orders_and_limits(ws: Workspace) -> None:
    _populate(ws)
    found = ws.runs.search(experiment="search", order_by="metrics.auc DESC")
    assert [run.name for run in found] == ["gbm", "RF-big", "rf-small", "logreg"]
    found = ws.runs.search(experiment="search", order_by=["metrics.loss ASC"], limit=3)
    assert [run.name for run in found][:2] == ["RF-big", "logreg"] and len(found) == 3
    found = ws.runs.search(experiment="search", order_by=["params.depth DESC"])
    assert [run.name for run in found][:3] == ["gbm", "RF-big", "rf-small"]


def test_a_filter_with_a_syntax_error_names_the_position(ws: Workspace) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        ws.runs.search("metrics.auc > 0.8 and params.model = ")
    assert caught.value.position == len("metrics.auc > 0.8 and params.model = ")
    with pytest.raises(FilterSyntaxError, match="unknown field 'xyz.bar'.* position 0"):
        ws.runs.search("xyz.bar = 'x'")


def _write_many(uri: str, run_id: str, worker: int, count: int) -> None:
    store = MetadataStore(uri)
    from gapless.tracking.repository import TrackingRepository

    repo = TrackingRepository(store)
    for i in range(count):
        repo.write_batch(run_id, run_params=[(f"w{worker}_{i}", str(i))])
    store.dispose()


def _create_run(uri: str) -> str:
    from gapless.tracking.repository import TrackingRepository

    store = MetadataStore(uri)
    repo = TrackingRepository(store)
    run_id = uuid.uuid4().hex
    repo.create_run(run_id=run_id, experiment="concurrency", name="w", user="t",
                    parent_id=None, start_time=0.0, run_tags={})
    store.dispose()
    return run_id


@pytest.mark.slow
def test_eight_processes_writing_500_rows_each_store_exactly_4000(metadata_uri: str) -> None:
    """Every process opens the fresh store itself, so the migration race is tested too."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        run_ids = pool.map(_create_run, [metadata_uri] * 8)
        assert len(set(run_ids)) == 8
        pool.starmap(_write_many, [(metadata_uri, run_ids[w], w, 500) for w in range(8)])
    store = MetadataStore(metadata_uri)
    with store.read() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(params).where(params.c.run_id.in_(run_ids))
        ).scalar_one()
    store.dispose()
    assert count == 4000

"""Triggers: the pure new-data decision, its reader, and alert and new-data triggers
launched exactly once by competing schedulers (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from gapless.core.errors import ValidationError
from gapless.data.repository import DataRepository
from gapless.monitoring.triggers import pending_triggers
from gapless.pipelines.scheduler import Scheduler
from gapless.pipelines.triggers import (
    DataObservation,
    NewData,
    Triggers,
    check_new_data,
    decide_new_data,
    parse_triggers,
)
from gapless.registry.repository import RegistryRepository
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import alert_events, model_aliases, schedule_firings


# -- parsing ------------------------------------------------------------------------------
def test_triggers_parse_alerts_and_new_data() -> None:
    assert parse_triggers("p", None) == Triggers()
    parsed = parse_triggers("p", {"alerts": True, "new_data": {"dataset": "loans",
                                                               "min_rows": 1000}})
    assert parsed == Triggers(True, (NewData("loans", 1000),))
    many = parse_triggers("p", {"new_data": [{"dataset": "a"},
                                             {"dataset": "b", "model": "churn@champion"}]})
    assert many.new_data == (NewData("a"), NewData("b", 1, "churn@champion"))


@pytest.mark.parametrize(("value", "field"), [
    ([], ": expected a mapping"), ({"alert": True}, "unknown field"),
    ({"alerts": "yes"}, ".alerts: expected true"), ({"new_data": {"min_rows": 3}}, "dataset"),
    ({"new_data": {"dataset": "a", "min_rows": 0}}, "min_rows"),
    ({"new_data": {"dataset": "a", "rows": 5}}, "unknown field"),
    ({"new_data": [{"dataset": "a"}, {"dataset": "a"}]}, "watched once"),
])
def test_bad_triggers_name_the_pipeline_and_the_field(value: object, field: str) -> None:
    with pytest.raises(ValidationError, match=rf"pipeline `p`, triggers.*{field}"):
        parse_triggers("p", value)


# -- the pure decision -------------------------------------------------------------------------
RULE = NewData("loans", min_rows=1000)
VERSIONS = ((1, 5000), (2, 5400), (3, 6100), (4, 6300))


def test_first_look_takes_the_newest_version_as_baseline() -> None:
    seen = decide_new_data(RULE, DataObservation(VERSIONS))
    assert (seen.action, seen.version) == ("baseline", 4)
    assert decide_new_data(RULE, DataObservation(())).action == "wait"


def test_fires_on_the_newest_version_with_enough_new_rows() -> None:
    fire = decide_new_data(RULE, DataObservation(VERSIONS, last_triggered=1))
    assert (fire.action, fire.version) == ("fire", 4)
    assert "1,300 rows more than loans@1" in fire.reason
    wait = decide_new_data(RULE, DataObservation(VERSIONS, last_triggered=2))
    assert (wait.action, wait.version) == ("wait", None)


def test_the_models_training_data_is_the_baseline_when_newer() -> None:
    assert decide_new_data(RULE, DataObservation(VERSIONS, trained_on=3)).action == "wait"
    fire = decide_new_data(RULE, DataObservation(VERSIONS, last_triggered=3, trained_on=1))
    assert fire.action == "wait"  # triggered on 3 already; 4 is only 200 rows more
    assert decide_new_data(RULE, DataObservation(VERSIONS, trained_on=1)).version == 4


# -- against a store ------------------------------------------------------------------------
@pytest.fixture
def store(metadata_uri: str):  # type: ignore[no-untyped-def]
    store = MetadataStore(metadata_uri)
    yield store
    store.dispose()


def add_version(store: MetadataStore, name: str, rows: int) -> int:
    fields = {"digest": f"{name}{rows}".ljust(64, "0"), "size": rows, "row_count": rows,
              "columns_json": "[]", "kind": "ingest", "created_by": "me",
              "created_at": 1.0}
    return DataRepository(store).insert_version(name, fields, []).version


def spec(folder: Path, name: str, triggers: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "triggers": triggers, "steps": []}))
    return path


def two_schedulers(store: MetadataStore, paths: list[Path]) -> tuple[list, Scheduler, Scheduler]:
    launched: list[str] = []

    def launch(path: str, trigger: str) -> str:
        launched.append(trigger)
        return f"run{len(launched)}"

    return launched, *(Scheduler(store, paths, launch, owner=f"h:{n}") for n in (1, 2))


def test_new_data_fires_once_per_qualifying_version(store: MetadataStore,
                                                    tmp_path: Path) -> None:
    path = spec(tmp_path, "retrain", {"new_data": {"dataset": "loans", "min_rows": 1000}})
    launched, one, two = two_schedulers(store, [path])
    assert one.tick() == []  # no dataset yet
    add_version(store, "loans", 5000)
    [baseline] = one.tick() + two.tick()
    assert (baseline.outcome, baseline.trigger) == ("baseline", "data:loans@1")
    add_version(store, "loans", 5500)
    assert one.tick() + two.tick() == [] and launched == []
    add_version(store, "loans", 6200)
    [fired] = one.tick() + two.tick()
    assert (fired.outcome, fired.trigger, fired.run_id) == ("started", "data:loans@3", "run1")
    assert "1,200 rows more than loans@1" in fired.detail
    assert one.tick() + two.tick() == []
    add_version(store, "loans", 6900)  # 700 more than loans@3: not yet
    add_version(store, "loans", 7300)  # 1,100 more
    assert [a.trigger for a in two.tick() + one.tick()] == ["data:loans@5"]
    assert launched == ["data:loans@3", "data:loans@5"]
    with store.read() as conn:
        rows = conn.execute(sa.select(schedule_firings.c.fire_at, schedule_firings.c.status)
                            .order_by(schedule_firings.c.fire_at)).all()
    assert [tuple(r) for r in rows] == [(1.0, "skipped"), (3.0, "started"), (5.0, "started")]


def test_new_data_compares_with_the_models_training_data(store: MetadataStore) -> None:
    for rows in (1000, 1500, 2600):
        add_version(store, "loans", rows)
    rule = NewData("loans", 1000, model="churn@champion")
    assert check_new_data(store, "p", rule).action == "baseline"  # no champion yet
    registry = RegistryRepository(store)
    version = registry.insert_version("churn", {
        "digest": "0" * 64, "model_digest": "0" * 64, "size": 1, "format": "skops",
        "encrypted": False, "lineage_json": json.dumps({"dataset": "loans@2"}),
        "metrics_json": "{}", "tags_json": "{}", "source": "run"}, actor="me")
    store.write(lambda conn: conn.execute(model_aliases.insert().values(
        model_id=1, alias="champion", version_id=version.id, revision=1, updated_by="me",
        updated_at=1.0)))
    decision = check_new_data(store, "p", rule)
    assert (decision.action, decision.version) == ("fire", 3)
    assert "1,100 rows more than loans@2" in decision.reason
    with pytest.raises(ValidationError, match="trained on loans@2, not on dataset `sales`"):
        check_new_data(store, "p", NewData("sales", model="churn@champion"))


def test_an_alert_trigger_is_consumed_and_launched_once(store: MetadataStore,
                                                        tmp_path: Path) -> None:
    def alert(pipeline: str) -> None:
        store.write(lambda conn: conn.execute(alert_events.insert().values(
            rule="drift", endpoint="churn", metric="psi", value=0.4, condition="> 0.2",
            window_start=0, window_end=1, fired_at=1, actions_json="[]", pipeline=pipeline)))

    alert("retrain")
    alert("other")
    paths = [spec(tmp_path, "retrain", {"alerts": True}), spec(tmp_path, "quiet", {})]
    launched, one, two = two_schedulers(store, paths)
    [started] = one.tick() + two.tick()
    assert (started.pipeline, started.trigger, started.outcome) == ("retrain", "alert:1",
                                                                    "started")
    assert launched == ["alert:1"]
    assert [e.pipeline for e in pending_triggers(store)] == ["other"]
    alert("retrain")
    assert [a.trigger for a in two.tick() + one.tick()] == ["alert:3"]

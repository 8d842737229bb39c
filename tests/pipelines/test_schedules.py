"""Cron schedules: the pure ``due`` decision per missed-run policy, and the scheduler
claiming each firing exactly once (in one process, and across two real processes on
SQLite and PostgreSQL), surviving failed launches and marking abandoned runs failed."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gapless.core.errors import ValidationError
from gapless.pipelines.scheduler import Scheduler, mark_abandoned, read_timing
from gapless.pipelines.schedules import Schedule, due, iso, parse_schedule, plan
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import alert_events, pipeline_runs, pipeline_steps, schedule_firings

T = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC).timestamp()  # a 03:00 UTC firing
DAY = 86400.0


# -- the pure decision ---------------------------------------------------------------------
def daily(missed: str) -> Schedule:
    return Schedule("retrain", "0 3 * * *", missed=missed)


def test_latest_runs_only_the_newest_missed_firing() -> None:
    assert due(daily("latest"), T - 3 * DAY, T + 10, started_at=T - 5 * DAY) == [T]
    assert plan(daily("latest"), T - 3 * DAY, T + 10, T - 5 * DAY).dropped == 2


def test_all_runs_every_missed_firing_oldest_first() -> None:
    assert due(daily("all"), T - 3 * DAY, T + 10, started_at=0) == [T - 2 * DAY, T - DAY, T]


def test_all_is_capped_and_says_so() -> None:
    every_minute = Schedule("p", "* * * * *", missed="all")
    done = plan(every_minute, T - 1000 * 60, T, T - 2000 * 60)
    assert len(done.fire) == 100 and done.fire[-1] == T and done.fire[0] == T - 99 * 60
    assert done.capped and done.note == "1+ missed firing(s) not run (at most 100 are caught up)"


def test_skip_runs_a_firing_only_within_the_grace() -> None:
    assert due(daily("skip"), T - 3 * DAY, T + 30, started_at=0) == [T]
    late = plan(daily("skip"), T - 3 * DAY, T + 3600, 0)
    assert late.fire == () and late.skip_through == T and late.dropped == 3


def test_nothing_is_due_between_firings_and_the_last_one_is_not_repeated() -> None:
    assert due(daily("all"), T, T + DAY - 1, started_at=0) == []
    assert due(daily("all"), T - DAY, T, started_at=0) == [T]  # a firing exactly at now


def test_a_never_fired_schedule_counts_from_the_scheduler_start() -> None:
    started = T + 60  # started just after today's firing: no backfill
    for missed in ("skip", "latest", "all"):
        assert due(daily(missed), None, T + 120, started_at=started) == []
        assert due(daily(missed), None, T + DAY + 5, started_at=started) == [T + DAY]
    assert due(daily("all"), None, T, started_at=T) == [T]


def test_the_cron_is_read_in_the_schedules_time_zone() -> None:
    paris = Schedule("p", "0 3 * * *", timezone="Europe/Paris")  # 02:00 UTC in winter
    assert due(paris, T - DAY, T, started_at=0) == [T - 3600]
    assert iso(T) == "2026-11-24T03:00:00Z"


@pytest.mark.parametrize(("value", "field"), [
    ("61 * * * *", "schedule.cron"), ("every day", "schedule.cron"),
    ({"cron": "0 3 * * *", "missed": "some"}, "schedule.missed"),
    ({"cron": "0 3 * * *", "timezone": "Mars/Base"}, "schedule.timezone"),
    ({"missed": "all"}, "schedule.cron"), ({"cron": "0 3 * * *", "when": 1}, "when"),
])
def test_a_bad_schedule_names_the_pipeline_and_the_field(value: object, field: str) -> None:
    with pytest.raises(ValidationError, match=rf"pipeline `retrain`, .*{field}"):
        parse_schedule("retrain", value)


def test_a_schedule_is_a_cron_string_or_a_mapping() -> None:
    assert parse_schedule("p", None) is None
    assert parse_schedule("p", "0 3 * * *") == Schedule("p", "0 3 * * *")
    assert parse_schedule("p", {"cron": "0 3 * * *", "missed": "all",
                                "timezone": "Europe/Paris"}).missed == "all"


# -- the scheduler, in process -----------------------------------------------------------
def write_spec(folder: Path, name: str, **fields: object) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **fields, "steps": []}), encoding="utf-8")
    return path


def firings(store: MetadataStore) -> list[dict]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(schedule_firings).order_by(schedule_firings.c.fire_at))]


@pytest.fixture
def store(metadata_uri: str):  # type: ignore[no-untyped-def]
    store = MetadataStore(metadata_uri)
    yield store
    store.dispose()


def test_two_schedulers_claim_each_firing_once(store: MetadataStore, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "retrain", schedule={"cron": "0 3 * * *", "missed": "all"})
    launched: list[tuple[str, str]] = []

    def launch(path: str, trigger: str) -> str:
        launched.append((path, trigger))
        return f"run{len(launched)}"

    one, two = (Scheduler(store, [spec], launch, owner=f"host:{n}", started_at=T - 2 * DAY + 60)
                for n in (1, 2))
    first = one.tick(now=T + 5)
    assert [a.outcome for a in first] == ["started", "started"]
    assert two.tick(now=T + 5) == []  # both firings belong to the first scheduler
    assert launched == [(str(spec), "schedule:retrain@2026-11-23T03:00:00Z"),
                        (str(spec), "schedule:retrain@2026-11-24T03:00:00Z")]
    rows = firings(store)
    assert [(r["status"], r["run_id"], r["claimed_by"]) for r in rows] == [
        ("started", "run1", "host:1"), ("started", "run2", "host:1")]
    assert one.tick(now=T + 60) == [] and two.tick(now=T + DAY - 1) == []


def test_skipped_firings_are_recorded_once(store: MetadataStore, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "p", schedule={"cron": "0 3 * * *", "missed": "skip"})
    sched = Scheduler(store, [spec], lambda p, t: "r", started_at=T - 3 * DAY + 60)
    [skipped] = sched.tick(now=T + 3600)
    assert skipped.outcome == "skipped" and "3 missed firing(s) not run" in skipped.detail
    assert sched.tick(now=T + 3600) == []
    assert [r["status"] for r in firings(store)] == ["skipped"]


def test_a_failed_launch_is_recorded_and_the_scheduler_goes_on(store: MetadataStore,
                                                                tmp_path: Path) -> None:
    broken = write_spec(tmp_path, "broken", schedule="0 3 * * *")
    fine = write_spec(tmp_path, "fine", schedule="0 3 * * *")
    bad_cron = write_spec(tmp_path, "bad", schedule="0 25 * * *")
    started = []

    def launch(path: str, trigger: str) -> str:
        if "broken" in path:
            raise RuntimeError("the runner is down")
        started.append(trigger)
        return "r1"

    sched = Scheduler(store, [broken, bad_cron, fine], launch, started_at=T - 60)
    actions = {a.pipeline: a for a in sched.tick(now=T + 1)}
    assert actions["broken"].outcome == "failed"
    assert "RuntimeError: the runner is down" in actions["broken"].detail
    assert actions["bad"].outcome == "error" and "schedule.cron" in actions["bad"].detail
    assert actions["fine"].outcome == "started"
    assert started == ["schedule:fine@2026-11-24T03:00:00Z"]
    row = next(r for r in firings(store) if r["schedule"] == "broken")
    assert row["status"] == "failed" and "the runner is down" in row["detail"]
    assert sched.tick(now=T + 2) == [actions["bad"]]  # the failed firing is not retried


def test_read_timing_reads_name_schedule_and_triggers(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "p", schedule="0 3 * * *", triggers={"alerts": True})
    timing = read_timing(spec)
    assert (timing.name, timing.schedule.cron, timing.triggers.alerts) == ("p", "0 3 * * *", True)
    (tmp_path / "nameless.yaml").write_text("steps: []\n")
    with pytest.raises(ValidationError, match="nameless.yaml: expected a mapping with a `name`"):
        read_timing(tmp_path / "nameless.yaml")


# -- runs left behind ------------------------------------------------------------------------
def add_run(store: MetadataStore, run_id: str, trigger: str, started_at: float) -> None:
    def work(conn: sa.Connection) -> None:
        conn.execute(pipeline_runs.insert().values(
            id=run_id, pipeline="p", spec_json="{}", spec_digest="0" * 64, status="running",
            trigger=trigger, executor="local", created_by="me", started_at=started_at))
        conn.execute(pipeline_steps.insert(), [
            {"run_id": run_id, "step": "train", "position": 0, "status": "succeeded"},
            {"run_id": run_id, "step": "promote", "position": 1, "status": "running"}])

    store.write(work)


def run_row(store: MetadataStore, run_id: str) -> dict:
    with store.read() as conn:
        run = conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).one()
        steps = conn.execute(sa.select(pipeline_steps.c.step, pipeline_steps.c.status).where(
            pipeline_steps.c.run_id == run_id).order_by(pipeline_steps.c.position)).all()
    return {**run._mapping, "steps": [tuple(s) for s in steps]}


def test_mark_abandoned_fails_runs_of_a_dead_scheduler(store: MetadataStore) -> None:
    trigger = "schedule:p@2026-11-24T03:00:00Z"
    store.write(lambda conn: conn.execute(schedule_firings.insert().values(
        schedule="p", fire_at=T, claimed_by="box:4242", claimed_at=T, status="claimed",
        detail=trigger)))
    add_run(store, "dead", trigger, time.time())
    add_run(store, "old", "manual", time.time() - 7200)
    assert mark_abandoned(store, host="box", alive=lambda pid: True) == []
    [gone] = mark_abandoned(store, host="box", alive=lambda pid: pid != 4242)
    assert gone.run_id == "dead"
    run = run_row(store, "dead")
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["error"] == "scheduler box:4242 stopped mid-run (process 4242 is gone)"
    assert run["steps"] == [("train", "succeeded"), ("promote", "failed")]
    assert firings(store)[0]["status"] == "failed"
    [old] = mark_abandoned(store, 3600, host="box", alive=lambda pid: True)
    assert old.run_id == "old" and "stopped mid-run" in run_row(store, "old")["error"]
    assert run_row(store, "old")["status"] == "failed"


# -- real processes ---------------------------------------------------------------------------
CHILD = r'''
import os, sys, time
from pathlib import Path
from gapless.pipelines.scheduler import Scheduler
from gapless.stores.sql import MetadataStore

uri, spec, out, ready, go, now, started, mode = sys.argv[1:9]
store = MetadataStore(uri, migrate=False)

def launch(path, trigger):
    with open(out, "a") as fh:
        fh.write(f"{os.getpid()} {trigger}\n")
    if mode == "hang":
        from gapless.stores.tables import pipeline_runs
        store.write(lambda c: c.execute(pipeline_runs.insert().values(
            id=f"run{os.getpid()}", pipeline="p", spec_json="{}", spec_digest="0" * 64,
            status="running", trigger=trigger, executor="local", created_by="me",
            started_at=time.time())))
        Path(out + ".running").touch()
        time.sleep(120)
    time.sleep(0.2)
    return f"run{os.getpid()}"

scheduler = Scheduler(store, [spec], launch, started_at=float(started))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.002)
print([str(a) for a in scheduler.tick(now=float(now))])
'''


def start_children(uri: str, spec: Path, tmp: Path, count: int, mode: str = "ok"
                   ) -> tuple[list[subprocess.Popen], Path]:
    script = tmp / "child.py"
    script.write_text(CHILD)
    out = tmp / "launches.txt"
    go = tmp / "go"
    children = []
    for n in range(count):
        children.append(subprocess.Popen(
            [sys.executable, str(script), uri, str(spec), str(out), str(tmp / f"ready{n}"),
             str(go), repr(T + 5), repr(T - DAY + 60), mode],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all((tmp / f"ready{n}").exists() for n in range(count)):
        assert time.monotonic() < deadline, [c.communicate(timeout=5) for c in children]
        time.sleep(0.01)
    go.touch()
    return children, out


def test_two_scheduler_processes_launch_a_due_firing_once(metadata_uri: str,
                                                          tmp_path: Path) -> None:
    store = MetadataStore(metadata_uri)
    store.write(lambda conn: conn.execute(alert_events.insert().values(
        rule="drift", endpoint="churn", metric="psi", value=0.4, condition="> 0.2",
        window_start=T - 600, window_end=T, fired_at=T, actions_json="[]", pipeline="p")))
    spec = write_spec(tmp_path, "p", schedule="0 3 * * *", triggers={"alerts": True})
    children, out = start_children(metadata_uri, spec, tmp_path, 2)
    for child in children:
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
    lines = out.read_text().splitlines()
    triggers = sorted(line.split(" ", 1)[1] for line in lines)
    assert triggers == ["alert:1", "schedule:p@2026-11-24T03:00:00Z"], lines
    assert {r["status"] for r in firings(store)} == {"started"}
    store.dispose()


def test_a_scheduler_killed_mid_run_leaves_a_failed_run(metadata_uri: str,
                                                        tmp_path: Path) -> None:
    store = MetadataStore(metadata_uri)
    spec = write_spec(tmp_path, "p", schedule="0 3 * * *")
    [child], out = start_children(metadata_uri, spec, tmp_path, 1, mode="hang")
    deadline = time.monotonic() + 60
    while not Path(str(out) + ".running").exists():
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)  # reaped, so its pid is gone
    [gone] = mark_abandoned(store)
    run = run_row(store, f"run{child.pid}")
    assert gone.run_id == run["id"] and run["status"] == "failed"
    assert f":{child.pid} stopped mid-run (process {child.pid} is gone)" in run["error"]
    [firing] = firings(store)
    assert firing["status"] == "failed" and "stopped mid-run" in firing["detail"]
    assert mark_abandoned(store) == []
    store.dispose()


def test_tick_output_is_plain_text() -> None:
    from gapless.pipelines.scheduler import Action

    action = Action("p", "schedule", "started", "schedule:p@x", "r1", "note")
    assert str(action) == "p: started (schedule:p@x) run r1 - note"
    assert json.dumps(str(action))

"""A scheduler killed in the middle of a real pipeline run: the run is marked failed with
the reason, the steps after the one that was running never ran, and resuming it reuses
what finished and runs the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from gapless import Workspace
from gapless.pipelines.scheduler import mark_abandoned
from gapless.stores.tables import alert_events

U = "python:pipelines.user_steps:"


def test_a_killed_scheduler_leaves_a_failed_run_that_resumes(workspace: Workspace,
                                                             tmp_path: Path) -> None:
    calls, flag = tmp_path / "calls.txt", tmp_path / "go-on"
    folder = workspace.root / "pipelines"
    folder.mkdir()
    (folder / "retrain.yaml").write_text(yaml.safe_dump({
        "name": "retrain", "executor": "local:1", "triggers": {"alerts": True},
        "steps": [
            {"name": "prepare", "uses": U + "count_calls", "with": {"path": str(calls)}},
            {"name": "train", "uses": U + "wait_unless_file", "with": {"path": str(flag)},
             "needs": ["prepare"]},
            {"name": "promote", "uses": U + "constant", "with": {"value": "promoted"},
             "needs": ["train"]}]}), encoding="utf-8")
    workspace.metadata.write(lambda conn: conn.execute(alert_events.insert().values(
        rule="accuracy", endpoint="loans", metric="performance.accuracy", value=0.2,
        condition="< 0.5", window_start=0.0, window_end=1.0, fired_at=time.time(),
        actions_json="[]", pipeline="retrain")))
    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH",
                                                                               "")])}
    child = subprocess.Popen([sys.executable, "-m", "gapless", "-w", str(workspace.root),
                              "scheduler", "--once"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        runs = workspace.pipelines.runs("retrain")
        states = {s.step: s.status for s in runs[0].steps} if runs else {}
        if states.get("train") == "running":
            break
        assert time.monotonic() < deadline and child.poll() is None, child.communicate()
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    [gone] = mark_abandoned(workspace.metadata)
    killed = workspace.pipelines.get(gone.run_id)
    assert killed.status == "failed" and killed.trigger == "alert:1"
    assert f"(process {child.pid} is gone)" in killed.error
    states = {s.step: s.status for s in killed.steps}
    assert states["prepare"] == "succeeded" and states["train"] == "failed"
    assert states["promote"] == "pending"  # never ran: nothing was promoted
    flag.touch()
    resumed = workspace.pipelines.run(resume=killed.id)
    assert resumed.status == "succeeded", resumed.to_dict()
    assert {s.step: s.status for s in resumed.steps} == {
        "prepare": "cached", "train": "succeeded", "promote": "succeeded"}
    assert calls.read_text().count("ran") == 1

"""``gapless scheduler``: options, one tick with nothing due, wrong specs, the launcher."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from gapless.cli.main import app
from gapless.cli.scheduler import launcher
from gapless.core.errors import NotFoundError

runner = CliRunner()


def write(folder: Path, name: str, schedule: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(
        {"name": name, "schedule": schedule, "steps": []}))


def test_once_with_nothing_due(workspace) -> None:  # type: ignore[no-untyped-def]
    write(Path(workspace.root) / "pipelines", "retrain", "0 3 1 1 *")
    result = runner.invoke(app, ["--workspace", str(workspace.root), "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "nothing due (1 pipeline spec(s) in" in result.output


def test_once_reports_a_wrong_spec_and_exits_1(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "specs"
    write(folder, "good", "0 3 1 1 *")
    write(folder, "bad", "0 3 * * * * * *")
    result = runner.invoke(app, ["--workspace", str(workspace.root), "scheduler",
                                 "--pipelines", str(folder), "--once", "--poll", "5"])
    assert result.exit_code == 1
    assert "bad: error" in result.output and "pipeline `bad`, schedule.cron" in result.output


def test_a_missing_folder_says_what_to_do(workspace) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--workspace", str(workspace.root), "scheduler", "--once"])
    assert isinstance(result.exception, NotFoundError)
    assert "pass --pipelines DIR" in str(result.exception)


def test_options_are_parsed_and_serve_has_a_scheduler_flag() -> None:
    bad_poll = runner.invoke(app, ["scheduler", "--poll", "0"])
    assert bad_poll.exit_code == 2 and "--poll" in bad_poll.output
    assert "--scheduler" in runner.invoke(app, ["serve", "--help"]).output


def test_the_launcher_runs_the_pipeline_through_the_workspace(workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump({"name": "p", "executor": "local:1", "steps": [
        {"name": "one", "uses": "python:pipelines.user_steps:constant",
         "with": {"value": 1}}]}), encoding="utf-8")
    run_id = launcher(workspace)(str(spec), "alert:3")
    run = workspace.pipelines.get(run_id)
    assert (run.trigger, run.status, run.executor) == ("alert:3", "succeeded", "local:1")


def test_serve_with_the_scheduler_runs_a_triggered_pipeline(workspace) -> None:  # type: ignore[no-untyped-def]
    """A real ``gapless serve --scheduler`` on 127.0.0.1 picks up an alert trigger and
    runs the pipeline, then stops with the server (by its PID)."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from conftest import free_port
    from gapless.stores.tables import alert_events

    folder = workspace.root / "pipelines"
    folder.mkdir()
    (folder / "p.yaml").write_text(yaml.safe_dump({
        "name": "p", "executor": "local:1", "triggers": {"alerts": True},
        "steps": [{"name": "one", "uses": "python:pipelines.user_steps:constant",
                   "with": {"value": 1}}]}), encoding="utf-8")
    workspace.metadata.write(lambda conn: conn.execute(alert_events.insert().values(
        rule="r", endpoint="e", metric="error_rate", value=1.0, condition="> 0.5",
        window_start=0.0, window_end=1.0, fired_at=time.time(), actions_json="[]",
        pipeline="p")))
    tests = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH",
                                                                               "")])}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gapless", "-w", str(workspace.root), "serve", "--no-auth",
         "--host", "127.0.0.1", "--port", str(port), "--scheduler"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in workspace.pipelines.runs("p") if r.status == "succeeded"]:
            assert time.monotonic() < deadline and server.poll() is None, \
                server.communicate(timeout=5)[0][-2000:]
            time.sleep(0.2)
        while True:  # the server answers too
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.2)
        (run,) = workspace.pipelines.runs("p")
        assert run.trigger == "alert:1"
    finally:
        server.terminate()
        server.wait(timeout=30)

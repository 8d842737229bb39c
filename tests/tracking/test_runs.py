from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gapless
from gapless import (
    ConflictError,
    NotFoundError,
    SecurityError,
    StoreWriteError,
    ValidationError,
    Workspace,
)


def test_exception_marks_the_run_failed_and_loses_nothing(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), workspace.start_run("exp") as run:
        for i in range(100):
            run.log_metric("loss", 1.0 / (i + 1))
        1 / 0  # noqa: B018
    record = workspace.runs.get(run.id)
    assert record.status == "FAILED"
    assert len(workspace.runs.metric_history(run.id, "loss")) == 100
    assert gapless.active_run() is None


def test_metrics_reach_the_store_within_seconds_while_the_run_is_open(
    workspace: Workspace,
) -> None:
    run = workspace.start_run("exp")
    run.log_metric("live", 1.0)
    deadline = time.monotonic() + 10
    while "live" not in workspace.runs.get(run.id).metrics:
        assert time.monotonic() < deadline, "metric was not flushed in the background"
        time.sleep(0.1)
    run.end()


def test_start_run_nests_under_the_active_run_and_restores_it(workspace: Workspace) -> None:
    with workspace.start_run("exp", "outer") as outer:
        assert gapless.active_run() is outer
        with gapless.start_run(name="inner") as inner:
            assert gapless.active_run() is inner and inner.parent_id == outer.id
            assert inner.experiment == "default"
        assert gapless.active_run() is outer
    assert gapless.active_run() is None


def test_module_start_run_finds_the_workspace_from_the_current_folder(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workspace.root / "sub").mkdir()
    monkeypatch.chdir(workspace.root / "sub")
    with gapless.start_run(experiment="found", name="r") as run:
        run.log_param("a", 1)
    assert workspace.runs.get(run.id).params == {"a": "1"}


def test_params_are_immutable(workspace: Workspace) -> None:
    with workspace.start_run("exp") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(ConflictError, match="param 'lr' is already '0.1'"):
            run.log_param("lr", 0.2)
    assert workspace.runs.get(run.id).params == {"lr": "0.1"}


@pytest.mark.parametrize("call, message", [
    (lambda r: r.log_metric("auc", "high"), "metric 'auc': expected a number"),
    (lambda r: r.log_metric("auc", True), "expected a number"),
    (lambda r: r.log_metric("bad key!", 1.0), "metric key 'bad key!' is not valid"),
    (lambda r: r.log_metric("auc", 1.0, step=1.5), "step must be an integer"),
    (lambda r: r.log_param("", 1), "param key '' is not valid"),
    (lambda r: r.set_tag(" padded", 1), "tag key"),
])
def test_bad_values_are_named(workspace: Workspace, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with workspace.start_run("exp") as run, pytest.raises(ValidationError, match=message):
        call(run)


def test_artifacts_round_trip_and_verify(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "plots" / "roc.svg").write_text("<svg/>")
    with workspace.start_run("exp") as run:
        run.log_artifacts(folder, artifact_path="report")
        run.log_dict({"a": 1}, "config.yaml")
        single = run.log_artifact(folder / "summary.txt")
    paths = [a.path for a in workspace.runs.artifacts(run.id)]
    assert paths == ["config.yaml", "report/plots/roc.svg", "report/summary.txt", "summary.txt"]
    assert workspace.runs.read_artifact(run.id, "report/plots/roc.svg") == b"<svg/>"
    assert workspace.runs.read_artifact(run.id, "config.yaml") == b"a: 1\n"
    assert single.digest == workspace.runs.artifacts(run.id)[2].digest  # same content, one blob
    with pytest.raises(NotFoundError, match="no artifact 'nope.txt'"):
        workspace.runs.read_artifact(run.id, "nope.txt")


def test_artifact_path_traversal_is_refused_and_not_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    with workspace.start_run("exp") as run:
        with pytest.raises(SecurityError):
            run.log_artifact(source, artifact_path="../../etc")
        with pytest.raises(SecurityError):
            run.log_text("x", "/abs/path.txt")
    assert workspace.runs.artifacts(run.id) == []


def test_failed_upload_leaves_no_record(s3_env: str, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", artifact_uri="s3://no-such-bucket/prefix",
                   artifact_options={"endpoint_url": s3_env})
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    with ws.start_run("exp") as run, pytest.raises(StoreWriteError, match="no-such-bucket"):
        run.log_artifact(source)
    assert ws.runs.artifacts(run.id) == []
    ws.close()


def test_artifacts_on_s3(s3_bucket: str, s3_env: str, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws", artifact_uri=f"s3://{s3_bucket}/runs",
                   artifact_options={"endpoint_url": s3_env})
    with ws.start_run("exp") as run:
        run.log_text("hello s3", "notes/hello.txt")
    assert ws.runs.read_artifact(run.id, "notes/hello.txt") == b"hello s3"
    ws.close()


def test_environment_is_captured(workspace: Workspace) -> None:
    with workspace.start_run("exp") as run:
        pass
    env = workspace.runs.get(run.id).environment
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "gapless" in env["packages"] and env["host"]
    assert len(env["git_commit"]) == 40  # the test suite runs inside a git checkout
    assert env["git_dirty"] in (True, False)
    with workspace.start_run("exp") as second:
        pass
    assert workspace.runs.get(second.id).environment == env  # stored once, shared
    assert workspace.runs.search(f"run_id = '{run.id}'")[0].environment is None


def test_a_run_left_open_is_flushed_and_finished_at_exit(workspace: Workspace) -> None:
    script = textwrap.dedent(f"""
        import gapless
        ws = gapless.Workspace({str(workspace.root)!r})
        run = ws.start_run("exit", "left-open")
        for i in range(2500):
            run.log_metric("m", float(i))
        print(run.id)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    record = workspace.runs.get(done.stdout.strip())
    assert record.status == "FINISHED"
    assert len(workspace.runs.metric_history(record.id, "m")) == 2500


def test_log_run_records_a_finished_run_in_one_call(workspace: Workspace) -> None:
    with workspace.start_run("search", "parent") as parent:
        run_id = workspace.runs.log_run(
            "search", "trial-3", parent=parent, start_time=100.0, end_time=103.5,
            params={"max_depth": 4}, metrics={"fold_auc": [0.8, 0.9], "cv_auc": 0.85},
            tags={"state": "complete"},
        )
        assert gapless.active_run() is parent
    record = workspace.runs.get(run_id)
    assert record.parent_id == parent.id and record.duration == 3.5
    assert record.params == {"max_depth": "4"} and record.metrics["cv_auc"] == 0.85
    assert [p.value for p in workspace.runs.metric_history(run_id, "fold_auc")] == [0.8, 0.9]
    with pytest.raises(ValidationError, match="status must be one of"):
        workspace.runs.log_run("search", "x", start_time=0, end_time=1, status="DONE")

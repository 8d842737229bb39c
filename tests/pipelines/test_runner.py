"""Pipelines on a real workspace: DAG order, parallel steps, the cache, failures that
skip what depends on them, resuming, and every bad spec refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gapless import ValidationError, Workspace

U = "python:pipelines.user_steps:"


def spec(*steps: dict, params: dict | None = None, name: str = "demo") -> dict:
    return {"name": name, "params": params or {}, "steps": list(steps)}


def status(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {s.step: s.status for s in run.steps}


def test_steps_pass_outputs_along_and_the_run_is_recorded(workspace: Workspace) -> None:
    heard: list[tuple[str, str]] = []
    run = workspace.pipelines.run(spec(
        {"name": "a", "uses": U + "constant", "with": {"value": "${params.start}"}},
        {"name": "b", "uses": U + "constant", "with": {"value": 2}},
        {"name": "sum", "uses": U + "add",
         "with": {"a": "${steps.a.value}", "b": "${steps.b.value}"}},
        {"name": "label", "uses": U + "constant", "with": {"value": "total=${steps.sum.total}"}},
        params={"start": 40}), executor="local:1",
        on_step=lambda step, state, detail: heard.append((step, state)))
    assert run.status == "succeeded" and run.error is None
    assert run.outputs["sum"] == {"total": 42} and run.outputs["label"] == {"value": "total=42"}
    assert status(run) == dict.fromkeys(["a", "b", "sum", "label"], "succeeded")
    assert ("sum", "running") in heard and ("label", "succeeded") in heard
    assert run.steps[0].log == "constant 40" and run.steps[0].seconds >= 0
    again = workspace.pipelines.get(run.id[:8])
    assert again.id == run.id and again.trigger == "manual" and again.executor == "local:1"
    assert [r.id for r in workspace.pipelines.runs("demo")] == [run.id]


def test_unchanged_steps_are_skipped_and_say_so(workspace: Workspace, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    pipeline = spec({"name": "count", "uses": U + "count_calls", "with": {"path": str(calls)}},
                    {"name": "after", "uses": U + "add",
                     "with": {"a": "${steps.count.count}", "b": 1}})
    first = workspace.pipelines.run(pipeline, executor="local:1")
    second = workspace.pipelines.run(pipeline, executor="local:1")
    assert status(second) == {"count": "cached", "after": "cached"}
    assert second.steps[0].cached_from == first.id and "unchanged" in second.steps[0].log
    assert calls.read_text().count("ran") == 1 and second.outputs["after"] == {"total": 2}
    uncached = spec({"name": "count", "uses": U + "count_calls", "cache": False,
                     "with": {"path": str(calls)}})
    workspace.pipelines.run(uncached, executor="local:1")
    assert calls.read_text().count("ran") == 2
    changed = workspace.pipelines.run(spec({"name": "count", "uses": U + "count_calls",
                                            "with": {"path": str(tmp_path / "other.txt")}}),
                                      executor="local:1")
    assert status(changed) == {"count": "succeeded"}  # a parameter changed: runs again


def test_a_changed_input_file_reruns_the_ingest_and_what_follows(workspace: Workspace) -> None:
    source = workspace.root / "rows.csv"
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(source, index=False)
    pipeline = spec({"name": "ingest", "uses": "ingest",
                     "with": {"name": "rows", "source": "rows.csv"}},
                    {"name": "rows", "uses": U + "dataset_rows",
                     "with": {"dataset": "${steps.ingest.dataset}"}})
    first = workspace.pipelines.run(pipeline, executor="local:1")
    assert first.outputs["ingest"] == {"dataset": "rows@1", "rows": 3}
    assert status(workspace.pipelines.run(pipeline, executor="local:1")) == {
        "ingest": "cached", "rows": "cached"}
    pd.DataFrame({"x": [1, 2, 3, 4]}).to_csv(source, index=False)
    changed = workspace.pipelines.run(pipeline, executor="local:1")
    assert status(changed) == {"ingest": "succeeded", "rows": "succeeded"}
    assert changed.outputs["rows"] == {"rows": 4}


def test_a_failure_skips_what_depends_on_it_and_a_rerun_resumes(workspace: Workspace,
                                                                tmp_path: Path) -> None:
    flag, calls = tmp_path / "ready", tmp_path / "calls.txt"
    pipeline = spec(
        {"name": "first", "uses": U + "count_calls", "with": {"path": str(calls)}},
        {"name": "gate", "uses": U + "fail_unless_file", "with": {"path": str(flag)},
         "needs": ["first"]},
        {"name": "after", "uses": U + "constant", "with": {"value": "${steps.gate.ok}"}},
        {"name": "apart", "uses": U + "constant", "with": {"value": 1}})
    failed = workspace.pipelines.run(pipeline, executor="local:1")
    assert failed.status == "failed" and failed.error == "step(s) failed: gate"
    assert status(failed) == {"first": "succeeded", "gate": "failed", "after": "skipped",
                              "apart": "succeeded"}
    gate = next(s for s in failed.steps if s.step == "gate")
    assert gate.error == f"RuntimeError: {flag} is not there yet" and "Traceback" in gate.log
    flag.touch()
    resumed = workspace.pipelines.run(resume=failed.id, executor="local:1")
    assert resumed.status == "succeeded" and resumed.resumed_from == failed.id
    assert status(resumed) == {"first": "cached", "gate": "succeeded", "after": "succeeded",
                               "apart": "cached"}
    assert calls.read_text().count("ran") == 1  # the step before the failure did not rerun


def test_independent_steps_run_in_parallel_on_local_processes(workspace: Workspace) -> None:
    run = workspace.pipelines.run(spec(
        {"name": "left", "uses": U + "stamp", "with": {"seconds": 1.5, "tag": "l"}},
        {"name": "right", "uses": U + "stamp", "with": {"seconds": 1.5, "tag": "r"}},
        {"name": "join", "uses": U + "add", "with": {"a": "${steps.left.pid}", "b": 0},
         "needs": ["right"]}), executor="local:2")
    assert run.status == "succeeded", run.to_dict()
    left, right = run.outputs["left"], run.outputs["right"]
    assert left["pid"] != right["pid"]
    assert left["at"][0] < right["at"][1] and right["at"][0] < left["at"][1]  # overlapped
    join = next(s for s in run.steps if s.step == "join")
    assert join.started_at >= max(left["at"][1], right["at"][1])


def test_a_worker_that_dies_fails_its_step_with_the_reason(workspace: Workspace) -> None:
    run = workspace.pipelines.run(spec({"name": "boom", "uses": U + "die"},
                                       {"name": "after", "uses": U + "constant",
                                        "with": {"value": "${steps.boom.value}"}}),
                                  executor="local:2")
    assert run.status == "failed" and status(run) == {"boom": "failed", "after": "skipped"}
    assert "the worker running it died" in run.steps[0].error


@pytest.mark.parametrize(("steps", "message"), [
    ([{"name": "a", "uses": U + "add", "with": {"a": "${steps.b.total}", "b": 1}},
      {"name": "b", "uses": U + "add", "with": {"a": "${steps.a.total}", "b": 1}}],
     "the steps form a cycle: "),
    ([{"name": "a", "uses": U + "constant", "with": {"value": "${steps.nope.x}"}}],
     "step 'a' reads step(s) ['nope'] that the pipeline does not have"),
    ([{"name": "a", "uses": "teleport"}], "uses 'teleport': not a built-in step"),
    ([{"name": "a", "uses": U + "not_a_step"}], "is not a function decorated with"),
    ([{"name": "a", "uses": "python:no_such_module:f"}], "cannot import 'no_such_module'"),
    ([{"name": "a", "uses": U + "add"}, {"name": "a", "uses": U + "add"}],
     "step name(s) ['a'] used more than once"),
    ([{"name": "bad name", "uses": U + "add"}], "field 'steps.0.name'"),
    ([{"name": "a", "uses": U + "add", "run": "x"}], "field 'steps.0.run'"),
])
def test_bad_specs_are_refused_before_anything_runs(workspace: Workspace, steps: list,
                                                    message: str) -> None:
    with pytest.raises(ValidationError, match=None) as caught:
        workspace.pipelines.run(spec(*steps), executor="local:1")
    assert message in str(caught.value)
    assert workspace.pipelines.runs() == []


def test_bad_parameters_and_outputs_fail_the_step_not_the_runner(workspace: Workspace) -> None:
    run = workspace.pipelines.run(spec(
        {"name": "a", "uses": U + "add", "with": {"a": 1}},
        {"name": "b", "uses": U + "forgets_output"},
        {"name": "c", "uses": U + "constant", "with": {"value": "${params.nope}"}}),
        executor="local:1")
    errors = {s.step: s.error for s in run.steps}
    assert "its parameters do not fit" in errors["a"] and "'b'" in errors["a"]
    assert "did not return its declared output(s) ['missing']" in errors["b"]
    assert "${params.nope} is not a parameter" in errors["c"]
    assert run.status == "failed"


def test_a_missing_spec_file_is_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        workspace.pipelines.run(tmp_path / "nope.yaml", executor="local:1")


def test_the_same_pipeline_runs_on_a_dask_local_cluster(workspace: Workspace) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        from conftest import service_missing

        service_missing("Dask", f"{exc.name} is not installed (pip install 'gapless[dask]')")
    pd.DataFrame({"x": range(10)}).to_csv(workspace.root / "rows.csv", index=False)
    run = workspace.pipelines.run(spec(
        {"name": "ingest", "uses": "ingest", "with": {"name": "rows", "source": "rows.csv"}},
        {"name": "rows", "uses": U + "dataset_rows",
         "with": {"dataset": "${steps.ingest.dataset}"}},
        {"name": "left", "uses": U + "stamp", "with": {"seconds": 1.0, "tag": "l"}},
        {"name": "right", "uses": U + "stamp", "with": {"seconds": 1.0, "tag": "r"}}),
        executor="dask-local:2")
    assert run.status == "succeeded", run.to_dict()
    assert run.executor.startswith("dask-local") and run.outputs["rows"] == {"rows": 10}
    left, right = run.outputs["left"], run.outputs["right"]
    assert left["at"][0] < right["at"][1] and right["at"][0] < left["at"][1]  # overlapped
    assert workspace.data.get("rows@1").row_count == 10  # written by a Dask worker


def test_a_dask_worker_that_dies_fails_its_step_and_spares_the_rest(
        workspace: Workspace) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        from conftest import service_missing

        service_missing("Dask", f"{exc.name} is not installed (pip install 'gapless[dask]')")
    run = workspace.pipelines.run(spec(
        {"name": "boom", "uses": U + "die"},
        {"name": "after", "uses": U + "constant", "with": {"value": "${steps.boom.value}"}},
        {"name": "apart", "uses": U + "constant", "with": {"value": 7}}),
        executor="dask-local:2")
    assert status(run) == {"boom": "failed", "after": "skipped", "apart": "succeeded"}
    assert "the worker running it died" in run.steps[0].error

"""One behaviour suite for executors, run on local processes, in-process (``local:1``), a
real Dask LocalCluster of 2 worker processes (``dask-local:2``) and a client connected to
that cluster's scheduler over loopback (``dask://127.0.0.1:PORT``)."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compute.tasks import (
    TaskFailed,
    combine,
    fail,
    pid,
    rendezvous,
    sleep_then,
    square,
    token,
)
from conftest import service_missing
from gapless import ValidationError
from gapless.compute import Executor, open_executor

KINDS = ["local:2", "local:1", "dask-local:2", "dask://"]
IN_PROCESS = {"local:1"}
OWNS_ITS_WORKERS = {"local:2", "dask-local:2"}


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        service_missing("Dask", f"{exc.name} is not installed (pip install 'gapless[dask]')")


@pytest.fixture(scope="module")
def dask_local() -> Iterator[Executor]:
    """One LocalCluster for the module: it takes seconds to start."""
    _require_dask()
    executor = open_executor("dask-local:2")
    try:
        yield executor
    finally:
        executor.close()


def _open(kind: str, request: pytest.FixtureRequest) -> Executor:
    if kind == "dask://":
        _require_dask()
        scheduler = request.getfixturevalue("dask_local").address  # tcp://127.0.0.1:PORT
        assert scheduler.startswith("tcp://127.0.0.1:")  # loopback only
        return open_executor("dask://" + scheduler.removeprefix("tcp://"), connect_timeout=5)
    if kind.startswith("dask"):
        _require_dask()
    return open_executor(kind)


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def executor(kind: str, request: pytest.FixtureRequest) -> Iterator[Executor]:
    if kind == "dask-local:2":
        yield request.getfixturevalue("dask_local")
        return
    opened = _open(kind, request)
    try:
        yield opened
    finally:
        opened.close()


def test_it_is_an_executor_named_by_the_uri_that_reopens_it(
    executor: Executor, kind: str
) -> None:
    assert isinstance(executor, Executor)
    assert executor.name.startswith(kind)
    assert executor.workers == (1 if kind in IN_PROCESS else 2)


def test_map_returns_results_in_input_order(executor: Executor) -> None:
    assert executor.map(square, range(8)) == [i * i for i in range(8)]
    assert executor.map(square, []) == []


def test_as_completed_yields_every_future_once(executor: Executor) -> None:
    futures = [executor.submit(square, i) for i in range(6)]
    finished = list(executor.as_completed(futures, timeout=60))
    assert len(finished) == 6 and set(finished) == set(futures)
    assert all(isinstance(f, concurrent.futures.Future) for f in finished)
    assert sorted(f.result() for f in finished) == [i * i for i in range(6)]


def test_a_failing_task_surfaces_its_own_exception_and_the_others_finish(
    executor: Executor,
) -> None:
    futures = [executor.submit(square, 2), executor.submit(fail, "row 17 is not a number"),
               executor.submit(square, 3), executor.submit(int, "n/a")]
    with pytest.raises(TaskFailed, match="row 17 is not a number"):
        futures[1].result(timeout=60)
    assert isinstance(futures[1].exception(), TaskFailed)
    with pytest.raises(ValueError, match="n/a"):
        futures[3].result(timeout=60)
    assert futures[0].result(timeout=60) == 4 and futures[2].result(timeout=60) == 9
    assert executor.submit(square, 5).result(timeout=60) == 25  # and it keeps working
    with pytest.raises(TaskFailed, match="bad"):
        executor.map(fail, ["bad"])


def test_keyword_arguments_reach_the_task(executor: Executor) -> None:
    future = executor.submit(combine, 1, y=2, workers=3, key="k")
    assert future.result(timeout=60) == (1, 2, 3, "k")


def test_identical_calls_each_run(executor: Executor) -> None:
    first, second = executor.submit(token), executor.submit(token)
    assert first.result(timeout=60) != second.result(timeout=60)


def test_work_runs_in_worker_processes(executor: Executor, kind: str) -> None:
    pids = {future.result(timeout=60) for future in [executor.submit(pid) for _ in range(3)]}
    if kind in IN_PROCESS:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids


def test_tasks_run_at_the_same_time_on_two_workers(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    if executor.workers < 2:
        pytest.skip(f"{kind} runs one task at a time")
    # Each task returns only once both have started: they cannot run one after the other.
    futures = [executor.submit(rendezvous, str(tmp_path), str(i), 2) for i in range(2)]
    pids = {future.result(timeout=60) for future in futures}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_task_not_yet_started_can_be_cancelled(executor: Executor, kind: str) -> None:
    if kind in IN_PROCESS:
        pytest.skip(f"{kind} has finished every task when submit returns")
    futures = [executor.submit(sleep_then, 0.2, i) for i in range(2 * executor.workers + 2)]
    assert futures[-1].cancel() and futures[-1].cancelled()
    assert set(executor.as_completed(futures, timeout=60)) == set(futures)
    assert [f.result() for f in futures[:-1]] == list(range(len(futures) - 1))


def test_a_task_that_cannot_be_imported_by_a_worker_is_refused(executor: Executor) -> None:
    def nested() -> int:
        return 1

    with pytest.raises(ValidationError, match="top level of a module"):
        executor.submit(lambda: 1)
    with pytest.raises(ValidationError, match="nested"):
        executor.submit(nested)


@pytest.fixture
def fresh(kind: str, request: pytest.FixtureRequest) -> Iterator[Executor]:
    """An executor of its own, for tests that close it."""
    opened = _open(kind, request)
    try:
        yield opened
    finally:
        opened.close()


def _gone(pids: set[int], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while True:
        alive = set()
        for number in pids:
            try:
                os.kill(number, 0)
                alive.add(number)
            except ProcessLookupError:
                pass
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.05)


def test_close_finishes_every_future_refuses_new_work_and_is_idempotent(
    fresh: Executor, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    workers: set[int] = set()
    if fresh.workers > 1:  # learn the workers' PIDs: two tasks that meet run on both
        meeting = [fresh.submit(rendezvous, str(tmp_path), str(i), 2) for i in range(2)]
        workers = {future.result(timeout=60) for future in meeting}
    in_flight = [fresh.submit(sleep_then, 0.3, i) for i in range(fresh.workers + 1)]
    fresh.close()
    fresh.close()
    done, _ = concurrent.futures.wait(in_flight, timeout=10)
    assert len(done) == len(in_flight)  # finished or cancelled: nobody waits forever
    with pytest.raises(RuntimeError, match="closed"):
        fresh.submit(square, 2)
    if kind in OWNS_ITS_WORKERS:
        assert len(workers) == 2 and _gone(workers), "worker processes outlived close()"
    if kind == "dask://":  # a cluster it only connected to keeps running
        assert not _gone(workers, within=0)
        assert request.getfixturevalue("dask_local").submit(square, 6).result(timeout=60) == 36


def test_an_executor_is_a_context_manager(kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "dask-local:2":
        pytest.skip("starting another LocalCluster only repeats the close test")
    with _open(kind, request) as executor:
        assert executor.submit(square, 7).result(timeout=60) == 49
    with pytest.raises(RuntimeError, match="closed"):
        executor.submit(square, 7)

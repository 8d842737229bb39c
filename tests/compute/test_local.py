"""What only local processes do: start method, thread caps, dead workers, in-process mode."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from compute.tasks import crash, environment, exit_now, square
from gapless import ConfigError
from gapless.compute.executor import available_cpus
from gapless.compute.local import THREAD_LIMIT_VARIABLES, LocalExecutor, start_method


def test_workers_never_start_by_forking_the_coordinator() -> None:
    assert start_method() in ("forkserver", "spawn")


def test_a_dead_worker_fails_its_task_and_the_next_submit_gets_a_new_pool() -> None:
    with LocalExecutor(2) as executor:
        with pytest.raises(BrokenProcessPool):
            executor.submit(crash).result(timeout=60)
        assert executor.submit(square, 4).result(timeout=60) == 16
        assert executor.map(square, [1, 2, 3]) == [1, 4, 9]


def test_workers_cap_native_thread_pools_to_their_share_of_the_cpus() -> None:
    before = dict(os.environ)
    with LocalExecutor(2) as executor:
        for variable in THREAD_LIMIT_VARIABLES:
            expected = os.environ.get(variable) or str(max(1, available_cpus() // 2))
            assert executor.submit(environment, variable).result(timeout=60) == expected
    assert dict(os.environ) == before  # only the workers' environment is touched


def test_one_worker_runs_each_task_inside_submit() -> None:
    with LocalExecutor(1) as executor:
        future = executor.submit(square, 3)
        assert future.done() and future.result() == 9
        exited = executor.submit(exit_now)  # as a worker process would, it is just a failure
        assert isinstance(exited.exception(), SystemExit)


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_workers_must_be_a_positive_whole_number(workers: object) -> None:
    with pytest.raises(ConfigError, match="workers must be a whole number >= 1"):
        LocalExecutor(workers)  # type: ignore[arg-type]

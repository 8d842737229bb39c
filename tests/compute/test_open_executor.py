"""Choosing an executor from compute_uri: the forms it accepts and the errors it gives."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import free_port, service_missing
from gapless import ConfigError, StoreUnavailableError
from gapless.compute import EXECUTORS, Executor, open_executor
from gapless.compute.executor import available_cpus


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown compute_uri scheme 'spark'.*dask, dask-local, "
                                          r"local.*dask://HOST:PORT"):
        open_executor("spark://10.0.0.5:7077")
    assert sorted(EXECUTORS) == ["dask", "dask-local", "local"]


@pytest.mark.parametrize("uri", ["", "   ", 42])
def test_a_blank_uri_is_refused(uri: object) -> None:
    with pytest.raises(ConfigError, match="compute_uri must be one of local"):
        open_executor(uri)  # type: ignore[arg-type]


def test_no_uri_means_a_local_process_per_cpu() -> None:
    with open_executor(None) as executor:
        assert isinstance(executor, Executor)
        assert executor.name == f"local:{available_cpus()}"
        assert executor.workers == available_cpus()


@pytest.mark.parametrize(("uri", "workers", "name"), [
    ("local", 3, "local:3"),
    ("local:3", None, "local:3"),
    ("LOCAL:3", 3, "local:3"),
    (" local:1 ", None, "local:1"),
])
def test_local_workers_come_from_the_uri_or_the_argument(
    uri: str, workers: int | None, name: str
) -> None:
    with open_executor(uri, workers=workers) as executor:  # no process starts before a task
        assert executor.name == name and executor.workers == int(name.split(":")[1])


@pytest.mark.parametrize("uri", ["local:0", "local:x", "local:-1", "local:2.5",
                                 "dask-local:two", "dask-local:0"])
def test_a_bad_worker_count_in_the_uri_names_the_uri(uri: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(uri)) + ".*number of workers"):
        open_executor(uri)


@pytest.mark.parametrize("workers", [0, -2, True, 2.5, "2"])
def test_a_bad_workers_argument_is_refused(workers: object) -> None:
    with pytest.raises(ConfigError, match="workers must be a whole number >= 1"):
        open_executor("local", workers=workers)  # type: ignore[arg-type]


def test_workers_given_twice_must_agree() -> None:
    with pytest.raises(ConfigError, match="asks for 2 workers but workers=3"):
        open_executor("local:2", workers=3)
    with open_executor("local:2", workers=2) as executor:
        assert executor.workers == 2


@pytest.mark.parametrize("uri", [
    "dask", "dask:8786", "dask://", "dask://10.0.0.5", "dask://10.0.0.5:port",
    "dask://10.0.0.5:0", "dask://10.0.0.5:70000", "dask://:8786", "dask://10.0.0.5:8786/x",
    "dask://user@10.0.0.5:8786", "dask://10.0.0.5:8786?timeout=1",
])
def test_a_dask_uri_needs_a_host_and_a_numeric_port(uri: str) -> None:
    # Checked before Dask is imported or any connection is tried.
    with pytest.raises(ConfigError, match=re.escape(repr(uri)) + ".*dask://HOST:PORT"):
        open_executor(uri)


def test_a_remote_cluster_decides_its_own_size() -> None:
    with pytest.raises(ConfigError, match="decides how many workers.*dask-local:4"):
        open_executor("dask://10.0.0.5:8786", workers=4)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_importing_compute_and_running_locally_loads_no_dask() -> None:
    code = (
        "import sys, json\n"
        "from gapless.compute import open_executor\n"
        "with open_executor('local:1') as ex:\n"
        "    assert ex.submit(abs, -3).result() == 3\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    loaded = {name.split(".")[0] for name in json.loads(done.stdout.strip().splitlines()[-1])}
    assert not loaded & {"dask", "distributed", "tornado"}


@pytest.mark.parametrize("uri", ["dask-local", "dask://127.0.0.1:8786"])
def test_without_dask_installed_the_error_says_what_to_install(uri: str) -> None:
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if it were not installed\n"
        "from gapless.compute import open_executor\n"
        "from gapless.core.errors import ConfigError\n"
        "try:\n"
        f"    open_executor({uri!r})\n"
        "except ConfigError as exc:\n"
        "    print('ConfigError:', exc)\n"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert "ConfigError:" in done.stdout and "pip install 'gapless[dask]'" in done.stdout


def test_an_unreachable_scheduler_fails_quickly_with_the_uri() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        service_missing("Dask", f"{exc.name} is not installed")
    uri = f"dask://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError,
                       match=f"cannot reach the Dask scheduler at {uri} within 1 s"):
        open_executor(uri, connect_timeout=1)
    assert time.monotonic() - started < 15

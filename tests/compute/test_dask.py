"""What only the Dask executor does: a cluster it starts stays on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compute.tasks import rendezvous
from conftest import service_missing
from gapless import ConfigError
from gapless.compute import open_executor

LOOPBACK = {"127.0.0.1", "::1"}


@pytest.fixture(autouse=True)
def _dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        service_missing("Dask", f"{exc.name} is not installed (pip install 'gapless[dask]')")


def test_a_local_cluster_listens_on_loopback_only(tmp_path: Path) -> None:
    import psutil

    with open_executor("dask-local:2") as executor:
        assert executor.address.startswith("tcp://127.0.0.1:")  # type: ignore[attr-defined]
        meeting = [executor.submit(rendezvous, str(tmp_path), str(i), 2) for i in range(2)]
        workers = {future.result(timeout=60) for future in meeting}
        assert len(workers) == 2 and os.getpid() not in workers
        listening = [
            conn.laddr for number in {os.getpid(), *workers}
            for conn in psutil.Process(number).net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        ]
        assert listening and {address.ip for address in listening} <= LOOPBACK, listening


def test_dask_local_checks_its_worker_count_before_starting() -> None:
    from gapless.compute.dask import DaskExecutor

    with pytest.raises(ConfigError, match="workers must be a whole number >= 1, got 0"):
        DaskExecutor(workers=0)
    with pytest.raises(ConfigError, match="decides how many workers"):
        DaskExecutor("tcp://127.0.0.1:8786", workers=2)  # refused before connecting

"""A server SIGKILLed under load loses nothing it acknowledged (issue 6): every prediction
row that ``/metrics`` reported committed before the kill is in the store afterwards, the
store opens clean, and a restarted server serves the same deployment."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
import sqlalchemy as sa

from gapless import Workspace
from gapless.serving.feedback import read_predictions
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import predictions

ROWS = {"instances": [{"age": 30.0, "region": "n"}]}
LOAD_THREADS = 4
ACKNOWLEDGED = re.compile(r"^gapless_prediction_log_acknowledged (\S+)$", re.MULTILINE)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(root: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``gapless serve`` on 127.0.0.1 in its own session, so its whole group can be killed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "gapless.cli.main", "-w", str(root), "serve", "--host",
         "127.0.0.1", "--port", str(port), "--no-auth"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}: "
                        f"{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server never became ready: {log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the server's process group (its PID: it leads its own session) and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def _acknowledged(base: str) -> int:
    found = ACKNOWLEDGED.search(httpx.get(f"{base}/metrics", timeout=5).text)
    assert found is not None, "/metrics has no gapless_prediction_log_acknowledged"
    return int(float(found.group(1)))


def _load(base: str, stop: threading.Event, answered: list[int], errors: list[str]) -> None:
    """Predict until told to stop or the server goes away; count the 200s."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            try:
                response = client.post("/v1/endpoints/default/predict", json=ROWS)
            except httpx.TransportError:
                return
            if response.status_code == 200:
                answered.append(1)
            else:
                errors.append(f"{response.status_code} {response.text[:200]}")


def _logged_rows(store: MetadataStore) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(predictions).where(
            predictions.c.endpoint == "default")).scalar_one()


@pytest.mark.slow
def test_sigkill_under_load_keeps_acknowledged_rows_and_restarts(ws: Workspace,
                                                                 tmp_path: Path) -> None:
    root, log_path = ws.root, tmp_path / "serve.log"
    with open(log_path, "ab") as log:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start(root, port, log)
        stop = threading.Event()
        answered: list[int] = []
        errors: list[str] = []
        threads = [threading.Thread(target=_load, args=(base, stop, answered, errors))
                   for _ in range(LOAD_THREADS)]
        try:
            _wait_ready(base, server, log_path)
            before = httpx.get(f"{base}/v1/endpoints/default/deployment", timeout=5).json()
            for thread in threads:
                thread.start()
            acknowledged, deadline = 0, time.monotonic() + 60
            while acknowledged < 50 and time.monotonic() < deadline:
                time.sleep(0.1)
                acknowledged = _acknowledged(base)
            assert acknowledged >= 50, f"only {acknowledged} rows acknowledged; {errors[:3]}"
            acknowledged = _acknowledged(base)  # the last reading, taken mid-load
            loaded = [thread.is_alive() for thread in threads]
            _stop(server, signal.SIGKILL)
        finally:
            stop.set()
            _stop(server, signal.SIGKILL)
            for thread in threads:
                thread.join(timeout=30)
        assert server.returncode == -signal.SIGKILL
        assert not errors, errors[:5]
        assert all(loaded), "the load had stopped before the kill"
        assert len(answered) >= acknowledged

        reopened = Workspace(root)
        try:
            with reopened.metadata.read() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            logged = _logged_rows(reopened.metadata)
            assert logged >= acknowledged, (logged, acknowledged)
            assert len(read_predictions(reopened.metadata, "default")) == logged
        finally:
            reopened.close()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        restarted = _start(root, port, log)
        try:
            _wait_ready(base, restarted, log_path)
            after = httpx.get(f"{base}/v1/endpoints/default/deployment", timeout=5).json()
            assert after["revision"] == before["revision"]
            assert after["spec"] == before["spec"]
            assert [v["model"] for v in after["spec"]["variants"]] == ["churn@1"]
            answer = httpx.post(f"{base}/v1/endpoints/default/predict", json=ROWS, timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == "churn@1"
            _stop(restarted, signal.SIGTERM)  # a clean shutdown drains the log
        finally:
            _stop(restarted, signal.SIGKILL)
    assert _logged_rows(ws.metadata) == logged + 1

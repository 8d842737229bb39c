"""``gapless serve`` for real: uvicorn on 127.0.0.1, a deployment changed by ``gapless
deploy`` while it runs, and the server stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gapless import Workspace


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    return subprocess.run([sys.executable, "-m", "gapless.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_serve_deploy_and_rollback_on_a_running_server(ws: Workspace) -> None:
    root, port = str(ws.root), free_port()
    ws.models.register(ws.models.get("churn@1").run_id, "churn")  # churn@2: same file
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "gapless.cli.main", "-w", root, "serve", "--port", str(port),
         "--no-auth"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server never became ready")
        rows = {"instances": [{"age": 33, "region": "n"}]}
        assert httpx.post(f"{base}/v1/endpoints/default/predict",
                          json=rows).json()["model"] == "churn@1"
        assert _cli("-w", root, "deploy", "default", "--model", "churn@2").returncode == 0
        time.sleep(1.2)  # workers poll the deployment revision every second
        assert httpx.post(f"{base}/v1/endpoints/default/predict",
                          json=rows).json()["model"] == "churn@2"
        done = _cli("-w", root, "deploy", "default", "--rollback", "--reason", "test")
        assert done.returncode == 0 and "revision 3" in done.stdout
        time.sleep(1.2)
        assert httpx.post(f"{base}/v1/endpoints/default/predict",
                          json=rows).json()["model"] == "churn@1"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    done = _cli("-w", str(tmp_path / "ws"), "serve", "--host", "0.0.0.0", "--no-auth")
    assert done.returncode == 2 and "loopback" in done.stderr

"""A workspace with one registered classifier (with a signature) deployed as ``default``,
and ``gapless serve`` running on it (a real uvicorn on 127.0.0.1, stopped by its PID)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import register_fitted
from gapless import Workspace
from gapless.serving.deployments import DeploymentStore, single

X = pd.DataFrame({"age": [20.0, 30, 40, 50, 60, 70], "region": ["n", "s", "n", "s", "n", "s"]})
y = pd.Series([0, 0, 1, 1, 0, 1])


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    prep = ColumnTransformer([("num", StandardScaler(), ["age"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])])
    model = Pipeline([("prep", prep), ("m", LogisticRegression())]).fit(X, y)
    register_fitted(workspace, model, X, y)
    DeploymentStore(workspace.metadata).put("default", single("churn@1"))
    return workspace


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(ws: Workspace, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    # Output to a file, never an unread pipe: a full pipe would block the server.
    output = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gapless.cli.main", "-w", str(ws.root), "serve", "--port",
         str(port), "--no-auth"], env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{base}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server never became ready")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        output.close()

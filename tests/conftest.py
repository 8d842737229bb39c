"""Shared fixtures: real services (PostgreSQL, moto's S3 server) and throwaway workspaces.

A service-backed test is skipped only when the service is absent *and*
GAPLESS_REQUIRE_SERVICES is unset; CI sets it, so there every such test runs or fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "GAPLESS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("GAPLESS_REQUIRE_SERVICES", "") not in ("", "0")


def service_missing(name: str, reason: str) -> None:
    message = f"{name} is not available: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (GAPLESS_REQUIRE_SERVICES is set)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- PostgreSQL -----------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    try:
        import sqlalchemy as sa

        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                                 connect_args={"connect_timeout": 5})
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        service_missing("PostgreSQL", str(exc).splitlines()[0])
    name = f"gapless_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL into the session database whose search_path is a new, empty schema."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{postgres_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every metadata-store contract test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/meta.db"
    return request.getfixturevalue("postgres_url")


# -- S3 (moto's standalone server on loopback) ---------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, started once per session and stopped by PID."""
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError as exc:
        service_missing("moto S3 server", f"{exc.name} is not installed")
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"moto-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    service_missing("moto S3 server", f"it did not start (see {log.name})")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    return s3_server


@pytest.fixture
def s3_bucket(s3_env: str) -> str:
    """A new, empty bucket on the moto server; returns its name."""
    import boto3

    name = f"gapless-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def artifact_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    """Every artifact-store contract test runs on a local folder and on S3."""
    if request.param == "local":
        return str(tmp_path / "artifacts"), {}
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_env")
    return f"s3://{bucket}/prefix", {"endpoint_url": endpoint}


# -- Workspaces -----------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """An embedded (SQLite + local folder) workspace in a temporary folder."""
    from gapless import Workspace

    for name in ("METADATA_URI", "ARTIFACT_URI", "ONLINE_URI", "COMPUTE_URI", "WORKSPACE"):
        monkeypatch.delenv(f"GAPLESS_{name}", raising=False)
    ws = Workspace.init(tmp_path / "ws")
    try:
        yield ws
    finally:
        ws.close()


# -- Headless Chromium (Debian's package) ---------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium, for tests of what a person sees."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    service_missing("Chromium", "no chromium on PATH (apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture
def render_dom(chromium: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Load a local HTML file in headless Chromium; return the DOM after scripts ran."""

    def render(page: Path) -> str:
        done = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
             "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return render


# -- Registered models without training ------------------------------------------------
def register_fitted(ws, model, X, y=None, *, name: str = "churn",  # type: ignore[no-untyped-def]
                    problem: str = "binary", signature: bool = True,
                    target: str | None = None, dataset: str | None = None) -> str:
    """Register a fitted scikit-learn model the way training leaves one (a run holding
    ``model/model.skops``, unless ``signature=False`` ``signature.json``, and with a
    ``target`` a ``spec.json`` naming it, with a ``dataset`` that dataset version as its
    lineage); returns ``NAME@VERSION``. For tests of serving that need a model, not a
    search."""
    import tempfile

    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    with ws.start_run("serving", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(model, None).data)
        run.log_artifact(path, artifact_path="model")
        if signature:
            run.log_dict(infer_signature(X, y, problem=problem).to_dict(), "signature.json")
        if target is not None:
            run.log_dict({"target": target, "problem": problem}, "spec.json")
        if dataset is not None:
            run.log_params({"dataset": dataset})
    return ws.models.register(run.id, name).ref


def log_predictions(store, rows, *, endpoint: str = "churn") -> list[str]:  # type: ignore[no-untyped-def]
    """Write prediction-log rows through a real PredictionLog (flushed on return); each
    row holds PredictionRecord fields, defaults filled in (model named after the endpoint,
    version 1, variant and role primary, status 200). Returns the prediction ids."""
    from gapless.serving.prediction_log import PredictionLog, PredictionRecord, new_prediction_id

    log = PredictionLog(store, flush_interval=0.01)
    ids = []
    for row in rows:
        fields = {"prediction_id": new_prediction_id(), "endpoint": endpoint,
                  "model": endpoint, "version": 1, "variant": "primary", "role": "primary",
                  "inputs": {}, "outputs": None, "latency_ms": 1.0, "status": 200, **row}
        ids.append(fields["prediction_id"])
        log.log(PredictionRecord(**fields))
    log.close()
    return ids


# -- Redis ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("GAPLESS_TEST_REDIS", "redis://127.0.0.1:6379/15")


def redis_prefixed_url() -> Iterator[str]:
    """A Redis URL with a fresh key prefix; deletes the prefix's keys when done."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        service_missing("Redis", str(exc).splitlines()[0])
    prefix = f"gapless-test-{uuid.uuid4().hex[:12]}"
    try:
        yield f"{REDIS_URL}?prefix={prefix}"
    finally:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)
        client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    yield from redis_prefixed_url()

"""Serving speed, gapless against MLflow's scoring server, both on 127.0.0.1, in one run.

The same fitted scikit-learn pipeline (scaler + one-hot + logistic regression on loan
rows) is served by ``mlflow models serve --env-manager local`` and by ``gapless serve``
(one uvicorn worker each, prediction logging on for gapless), and driven over HTTP:

* single row, sequential: p50 and p99 latency over N requests, next to the floor — the
  same one-row DataFrame predicted in process;
* throughput at concurrency 8 and 32: requests per second for a fixed time each.

Both sides answer MLflow's protocol (``POST /invocations`` with ``dataframe_split``), so
the bodies are identical; gapless is also measured on its native route. The load
generator is one asyncio process with httpx on the same machine, the same for both
sides, so the ratios compare servers, not clients. Run ``make bench`` (or ``python
benchmarks/bench_serving.py --output benchmarks/RESULTS.md``); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import command, machine, markers, now, version, write_section

SECTION = "serving"
FEATURES = ["age", "income", "loan_amount", "interest_rate", "credit_score", "region",
            "employment", "purpose"]


def fitted() -> tuple[Any, Any, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from gapless.data.sample_data import make_loans

    frame = make_loans(5000, seed=3).dropna()
    X, y = frame[FEATURES], frame["defaulted"]
    prep = ColumnTransformer([("num", StandardScaler(), FEATURES[:5]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), FEATURES[5:])])
    return Pipeline([("prep", prep), ("m", LogisticRegression(max_iter=500))]).fit(X, y), X, y


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} never became ready")


def start_gapless(root: Path, model: Any, X: Any, y: Any) -> tuple[subprocess.Popen, int]:
    import gapless
    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack
    from gapless.serving.deployments import DeploymentStore, single

    with gapless.Workspace.init(root) as ws:
        with ws.start_run("bench", "fit", parent=None) as run:
            path = root / "model.skops"
            path.write_bytes(pack(model, None).data)
            run.log_artifact(path, artifact_path="model")
            run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
        ref = ws.models.register(run.id, "bench").ref
        DeploymentStore(ws.metadata).put("default", single(ref))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    process = subprocess.Popen([sys.executable, "-m", "gapless.cli.main", "-w", str(root),
                                "serve", "--port", str(port), "--no-auth"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
    except BaseException:
        stop(process)
        raise
    return process, port


def start_mlflow(root: Path, model: Any, X: Any) -> tuple[subprocess.Popen, int]:
    import mlflow.sklearn
    import sklearn
    from mlflow.models import infer_signature

    folder = root / "mlflow-model"
    mlflow.sklearn.save_model(model, str(folder), signature=infer_signature(X, model.predict(X)),
                              pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    port = free_port()
    bin_dir = Path(sys.executable).parent  # MLflow runs `uvicorn` from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", str(folder),
                                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
                                "-w", "1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping", process)
    except BaseException:
        stop(process)
        raise
    return process, port


def stop(process: subprocess.Popen) -> None:
    """Stop the server and its children (its own session: one process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def sequential(url: str, body: bytes, headers: dict[str, str], count: int) -> list[float]:
    import httpx

    times = []
    with httpx.Client() as client:
        for _ in range(20):  # warm-up
            client.post(url, content=body, headers=headers).raise_for_status()
        for _ in range(count):
            started = time.perf_counter()
            client.post(url, content=body, headers=headers).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


async def _load(url: str, body: bytes, headers: dict[str, str], concurrency: int,
                seconds: float) -> tuple[int, int]:
    import httpx

    done = errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                response = await client.post(url, content=body, headers=headers)
                if response.status_code == 200:
                    done += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, errors


def throughput(url: str, body: bytes, headers: dict[str, str], concurrency: int,
               seconds: float) -> float:
    done, errors = asyncio.run(_load(url, body, headers, concurrency, seconds))
    if errors:
        raise SystemExit(f"{url}: {errors} failed requests under load")
    return done / seconds


def floor_ms(model: Any, row: Any, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        model.predict(row)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count, seconds = (200, 3.0) if args.quick else (1000, 15.0)
    model, X, y = fitted()
    row = X.head(1)
    split = json.dumps({"dataframe_split": {"columns": FEATURES,
                                            "data": row.values.tolist()}}).encode()
    native = json.dumps({"instances": row.to_dict(orient="records")}).encode()
    headers = {"content-type": "application/json"}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gapless-bench-") as tmp:
        for name, start, route, body in (
                ("MLflow", lambda: start_mlflow(Path(tmp), model, X), "/invocations", split),
                ("gapless", lambda: start_gapless(Path(tmp) / "ws", model, X, y),
                 "/invocations", split)):
            process, port = start()
            try:
                url = f"http://127.0.0.1:{port}{route}"
                latencies = sequential(url, body, headers, count)
                results[name] = {"p50": statistics.median(latencies),
                                 "p99": percentile(latencies, 0.99),
                                 "c8": throughput(url, body, headers, 8, seconds),
                                 "c32": throughput(url, body, headers, 32, seconds)}
                if name == "gapless":
                    native_url = f"http://127.0.0.1:{port}/v1/endpoints/default/predict"
                    native_latency = sequential(native_url, native, headers, count)
                    results["gapless native"] = {
                        "p50": statistics.median(native_latency),
                        "p99": percentile(native_latency, 0.99),
                        "c8": throughput(native_url, native, headers, 8, seconds),
                        "c32": throughput(native_url, native, headers, 32, seconds)}
            finally:
                stop(process)
            print(name, results[name], file=sys.stderr, flush=True)
    floor = floor_ms(model, row, count)
    begin, end = markers(SECTION)
    lines = [begin, "## Serving: gapless vs MLflow's scoring server (127.0.0.1, one worker)",
             "", f"Command: `{command(default_run=not args.quick and args.output is not None)}`;"
             f" {now()}.", f"Machine: {machine()}.",
             f"Versions: gapless {version('gapless')}, MLflow {version('mlflow')}, "
             f"uvicorn {version('uvicorn')}, scikit-learn {version('scikit-learn')}.", ""]
    if args.quick:
        lines += ["**Quick mode (`--quick`): smoke check only.**", ""]
    lines += [f"Single row, {count} sequential requests; throughput over {seconds:g} s at each "
              f"concurrency. In-process `model.predict` of the same row: {floor:.2f} ms (the "
              "floor).", "",
              "| server | p50 (ms) | p99 (ms) | req/s at 8 | req/s at 32 |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['c8']:.0f} | "
                     f"{r['c32']:.0f} |")
    ours, theirs = results["gapless"], results["MLflow"]
    lines += ["", f"Throughput ratio gapless / MLflow at concurrency 8: "
              f"{ours['c8'] / theirs['c8']:.1f}x (target >= 5x); at 32: "
              f"{ours['c32'] / theirs['c32']:.1f}x. gapless p50 above the in-process floor: "
              f"{ours['p50'] - floor:.2f} ms (target <= 1 ms). gapless logs every prediction "
              "(off the request path) and checks each request against the signature.", end]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output is not None:
        write_section(args.output, SECTION, text)


if __name__ == "__main__":
    main()

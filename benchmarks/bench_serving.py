"""Serving speed, gapless against MLflow's scoring server, both on 127.0.0.1, in one run.

The same fitted scikit-learn pipeline (scaler + one-hot + logistic regression on loan
rows) is served by ``mlflow models serve --env-manager local`` and by ``gapless serve``
(one uvicorn worker each, the same uvicorn installation; prediction logging on for
gapless), and driven over HTTP:

* single row, sequential: p50 and p99 latency over N requests, next to the floor — the
  same one-row DataFrame predicted in process;
* throughput at concurrency 8 and 32: requests per second for a fixed time each.

Both sides answer MLflow's protocol (``POST /invocations`` with ``dataframe_split``), so
the bodies are identical. gapless is measured as deployed by default (``runtime:
python``, micro-batching on), on its native route, and with ``runtime: onnx`` (the
checked ONNX conversion). Last, what a shadow, the prediction log and a canary cost,
in alternating rounds against their baselines (see :func:`costs`).

The load generator is one asyncio process on the same machine speaking HTTP/1.1 over
keep-alive sockets with a prebuilt request (it reads the status line and the body by
Content-Length), so it costs the shared CPUs little and the same for both sides; the
ratios compare servers, not clients. Run ``make bench`` (or ``python
benchmarks/bench_serving.py --output benchmarks/RESULTS.md``); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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

from _results import opening, publish

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


def register(root: Path, model: Any, X: Any, y: Any) -> str:
    import gapless
    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    with gapless.Workspace.init(root) as ws:
        with ws.start_run("bench", "fit", parent=None) as run:
            path = root / "model.skops"
            path.write_bytes(pack(model, None).data)
            run.log_artifact(path, artifact_path="model")
            run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
        return ws.models.register(run.id, "bench").ref


def deploy(root: Path, spec: dict[str, Any]) -> None:
    """Apply a deployment and wait until the server would have picked it up (it polls the
    revision every second)."""
    import gapless

    with gapless.Workspace(root) as ws:
        ws.deploy("default", spec=spec)
    time.sleep(1.5)


def start_gapless(root: Path, *options: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    process = subprocess.Popen([sys.executable, "-m", "gapless.cli.main", "-w", str(root),
                                "serve", "--port", str(port), "--no-auth", *options], env=env,
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


def http_request(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def connection(port: int, requests: bytes | list[bytes], deadline: float,
                     count: int | None, latencies: list[float] | None) -> tuple[int, int]:
    """Send ``requests`` (one, or several in turn, cycling) over one keep-alive connection
    until ``deadline`` (or ``count`` requests); returns (answered 200, other statuses)."""
    cycle = [requests] if isinstance(requests, bytes) else requests
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = failed = 0
    try:
        while time.perf_counter() < deadline and (count is None or ok + failed < count):
            request = cycle[(ok + failed) % len(cycle)]
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            if latencies is not None:
                latencies.append((time.perf_counter() - started) * 1000)
            if head[9:12] == b"200":
                ok += 1
            else:
                failed += 1
    finally:
        writer.close()
    return ok, failed


def sequential(port: int, path: str, body: bytes, count: int) -> list[float]:
    request = http_request(port, path, body)
    asyncio.run(connection(port, request, math.inf, 20, None))  # warm-up
    latencies: list[float] = []
    ok, failed = asyncio.run(connection(port, request, math.inf, count, latencies))
    if failed:
        raise SystemExit(f"{path}: {failed} failed requests")
    return latencies


def throughput(port: int, path: str, body: bytes, concurrency: int, seconds: float) -> float:
    request = http_request(port, path, body)

    async def load() -> list[tuple[int, int]]:
        deadline = time.perf_counter() + seconds
        return await asyncio.gather(*(connection(port, request, deadline, None, None)
                                      for _ in range(concurrency)))

    results = asyncio.run(load())
    failed = sum(f for _, f in results)
    if failed:
        raise SystemExit(f"{path}: {failed} failed requests under load")
    return sum(ok for ok, _ in results) / seconds


def measure(port: int, path: str, body: bytes, count: int, seconds: float) -> dict[str, float]:
    latencies = sequential(port, path, body, count)
    return {"p50": statistics.median(latencies), "p99": percentile(latencies, 0.99),
            "c8": throughput(port, path, body, 8, seconds),
            "c32": throughput(port, path, body, 32, seconds)}


def request_frame(body: bytes, X: Any, y: Any) -> Any:
    """The frame gapless predicts on for ``body``: the floor is ``predict`` of exactly it."""
    from gapless.core.schema import infer_signature
    from gapless.server.protocols.mlflow import parse_mlflow

    return parse_mlflow(body, "application/json", infer_signature(X, y, problem="binary"),
                        max_bytes=len(body))


def floor_ms(model: Any, row: Any, count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        model.predict(row)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def costs(root: Path, port: int, body: bytes, primary: dict[str, Any], other: str,
          fitted_model: tuple[Any, Any, Any], count: int, rounds: int,
          seconds: float) -> dict[str, float]:
    """What a shadow, the prediction log and a canary cost, each measured against its
    baseline in alternating rounds on the same running servers (this machine's speed
    drifts by tens of percent over minutes, so back-to-back runs would compare drift).

    Returns medians over the rounds: sequential p50 with and without a shadow; requests
    per second at concurrency 8 with the log off (a second server on its own workspace),
    with it on, with it on and a canary at 10% of the same model file (the machinery:
    routing, per-variant logging, guardrail checks), and with a canary of the second
    model (which adds that model's own one-row calls)."""
    split = {"ramp": {"steps": [10, 100], "interval_s": 300}, "strategy": "canary",
             "canary": "canary"}
    configs = {
        "single": {"variants": [primary]},
        "shadow": {"strategy": "shadow", "variants": [
            primary, {"name": "shadow", "model": other, "role": "shadow"}]},
        "canary, same model": {**split, "variants": [
            {**primary, "weight": 90}, {"name": "canary", "model": primary["model"],
                                        "weight": 10}]},
        "canary, second model": {**split, "variants": [
            {**primary, "weight": 90}, {"name": "canary", "model": other, "weight": 10}]},
    }
    bare_root = root.parent / "bare"
    deploy(bare_root, {"variants": [{**primary, "model": register(bare_root, *fitted_model)}]})
    bare, bare_port = start_gapless(bare_root, "--log-sample-rate", "0")
    found: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            for name in ("single", "shadow"):
                deploy(root, configs[name])
                found.setdefault(f"{name} p50", []).append(
                    statistics.median(sequential(port, "/invocations", body, count // 2)))
            found.setdefault("log off", []).append(
                throughput(bare_port, "/invocations", body, 8, seconds))
            for name in ("single", "canary, same model", "canary, second model"):
                deploy(root, configs[name])
                found.setdefault(name, []).append(
                    throughput(port, "/invocations", body, 8, seconds))
    finally:
        stop(bare)
    return {name: statistics.median(values) for name, values in found.items()}


def onnx_floor_ms(model: Any, X: Any, y: Any, row: Any, count: int) -> float:
    """The same row through the checked ONNX conversion gapless serves, in process."""
    from gapless.core.schema import infer_signature
    from gapless.registry.onnx import OnnxModel, to_onnx
    from gapless.serving.runtimes import sample_rows

    signature = infer_signature(X, y, problem="binary")
    return floor_ms(OnnxModel(to_onnx(model, sample_rows(signature))), row, count)


def second_model(X: Any, y: Any) -> Any:
    """The canary: the same pipeline with a stronger regularisation."""
    from sklearn.base import clone

    model, _, _ = fitted()
    return clone(model).set_params(m__C=0.1).fit(X, y)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count, seconds, rounds = (200, 3.0, 1) if args.quick else (1000, 15.0, 4)
    model, X, y = fitted()
    row = X.head(1)
    split = json.dumps({"dataframe_split": {"columns": FEATURES,
                                            "data": row.values.tolist()}}).encode()
    native = json.dumps({"instances": row.to_dict(orient="records")}).encode()
    served = request_frame(split, X, y)
    results: dict[str, dict[str, float]] = {}
    floors: list[float] = []
    with tempfile.TemporaryDirectory(prefix="gapless-bench-") as tmp:
        process, port = start_mlflow(Path(tmp), model, X)
        try:
            results["MLflow"] = measure(port, "/invocations", split, count, seconds)
        finally:
            stop(process)
        print("MLflow", results["MLflow"], file=sys.stderr, flush=True)

        root = Path(tmp) / "ws"
        ref = register(root, model, X, y)
        other = register(root, second_model(X, y), X, y)
        primary = {"name": "primary", "model": ref, "weight": 100}
        deploy(root, {"variants": [primary]})
        process, port = start_gapless(root)
        try:
            for name, path, body, runtime in (
                    ("gapless", "/invocations", split, "python"),
                    ("gapless native", "/v1/endpoints/default/predict", native, "python"),
                    ("gapless onnx", "/invocations", split, "onnx")):
                deploy(root, {"variants": [{**primary, "runtime": runtime}]})
                if name == "gapless":  # the floor right beside the latencies it bounds
                    floors.append(floor_ms(model, served, count))
                results[name] = measure(port, path, body, count, seconds)
                if name == "gapless":
                    floors.append(floor_ms(model, served, count))
                print(name, results[name], file=sys.stderr, flush=True)
            overhead = costs(root, port, split, primary, other, (model, X, y), count, rounds,
                             seconds / 3)
        finally:
            stop(process)
        print("overhead", overhead, file=sys.stderr, flush=True)
    floor = statistics.mean(floors)
    onnx_floor = onnx_floor_ms(model, X, y, served, count)
    lines = opening(SECTION, "Serving: gapless vs MLflow's scoring server (127.0.0.1, one "
                    "worker)", args, ["gapless", "mlflow", "uvicorn", "scikit-learn"])
    lines += [f"Single row, {count} sequential requests; throughput over {seconds:g} s at each "
              f"concurrency. In-process `model.predict` of the same row (the frame gapless builds "
              f"from the request): {floor:.2f} ms (the floor; measured just before and after "
              "gapless's sequential run).", "",
              "| server | p50 (ms) | p99 (ms) | req/s at 8 | req/s at 32 |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['p50']:.2f} | {r['p99']:.2f} | {r['c8']:.0f} | "
                     f"{r['c32']:.0f} |")
    ours, theirs = results["gapless"], results["MLflow"]
    onnx = results["gapless onnx"]
    lost = {name: 1 - overhead[name] / overhead["log off"]
            for name in ("single", "canary, same model", "canary, second model")}
    lines += ["", f"Throughput ratio gapless / MLflow at concurrency 8: "
              f"{ours['c8'] / theirs['c8']:.1f}x (target >= 5x); at 32: "
              f"{ours['c32'] / theirs['c32']:.1f}x; with `runtime: onnx` "
              f"{onnx['c8'] / theirs['c8']:.1f}x and {onnx['c32'] / theirs['c32']:.1f}x. "
              f"gapless p50 above the in-process floor: {ours['p50'] - floor:+.2f} ms "
              f"(target <= 1 ms); with `runtime: onnx` {onnx['p50'] - floor:+.2f} ms (its "
              f"own in-process floor, onnxruntime on the same row: {onnx_floor:.2f} ms). "
              "gapless logs every prediction (off the request path) and checks each request "
              "against the signature.", "",
              f"What the rest costs, medians of {rounds} alternating rounds on running "
              f"servers (requests per second at concurrency 8, {seconds / 3:g} s each):", "",
              "| configuration | req/s at 8 | throughput lost |", "| --- | ---: | ---: |",
              f"| prediction log off, single | {overhead['log off']:.0f} | baseline |"]
    for name, label in (("single", "log on, single"),
                        ("canary, same model", "log on, canary at 10% (same model file)"),
                        ("canary, second model", "log on, canary at 10% (second model)")):
        lines.append(f"| {label} | {overhead[name]:.0f} | {lost[name]:.1%} |")
    shadow_cost = overhead["shadow p50"] / overhead["single p50"] - 1
    lines += ["", f"Logging plus the canary machinery (routing, per-variant logging, guardrails "
              f"judged about 30 times per step): {lost['canary, same model']:.1%} lost "
              f"(target <= 10%). A canary of a second scikit-learn model also costs that "
              f"model's own calls: at 10% of the traffic its requests come one at a time, "
              f"so each pays a full one-row `predict` that the primary shares among a "
              f"micro-batch ({lost['canary, second model']:.1%} lost here, on 2 CPUs).", "",
              f"Shadow (the second model gets a copy of every request, predicted in a child "
              f"process and only logged), sequential p50: {overhead['shadow p50']:.2f} ms "
              f"against {overhead['single p50']:.2f} ms without: {shadow_cost:+.1%} "
              f"(target < 5%)."]
    publish(SECTION, lines, args.output)


if __name__ == "__main__":
    main()

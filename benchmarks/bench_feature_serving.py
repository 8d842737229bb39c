"""Serving by entity key, end to end over HTTP: gapless (features fetched from its online
store, SQLite or Redis) next to a bare FastAPI app over Feast's SQLite online store.

Both sides hold the same 100,000 customers x 5 features (3 floats, 2 integers; seeded)
and serve the same scikit-learn pipeline (median imputer + scaler + logistic regression
on the request's ``age`` and the 5 features), fitted on the same 20,000 training rows in
each side's own environment. A client sends only ``customer_id`` and ``age``:

* gapless: ``gapless serve --no-auth`` (one uvicorn worker) with the model registered
  from a training set built by ``ws.features.training_set(..., save_as=...)``, the view
  materialized, and ``POST /v1/endpoints/churn/predict`` with ``{"instances": [{...}]}``:
  parse and check the request, read the view's row from the online store, convert the
  values to the signature's types, predict, and log the prediction with the features used
  to the metadata store (gapless' normal cost, kept on). Measured with the SQLite online
  store (the default), with Redis (``--redis``, a key prefix of this run, deleted after),
  and, on the same server, a second endpoint whose model was registered without the
  training-set lineage, called with the features inline in the body (no fetch), so the
  fetch's own cost is visible.
* Feast: a FastAPI app (uvicorn, one worker, run in Feast's own virtual environment:
  Feast pins pandas < 3, gapless needs pandas 3) with one ``POST /predict`` route:
  ``FeatureStore.get_online_features(...).to_dict()`` -> DataFrame -> ``predict_proba``.
  No request validation beyond pydantic's, no logging.

Each side gets the same seeded sequence of (customer_id, age) requests, one row per
request: p50/p99 latency over N sequential requests, and requests per second at
concurrency 8 for a fixed time (8 keep-alive connections, each walking its own slice of
the sequence). The predicted probabilities of the first keys are compared across sides,
and the fetch and the predict are also timed in process on each side (where a request's
time goes).
Run ``make bench`` (or ``python benchmarks/bench_feature_serving.py --output
benchmarks/RESULTS.md``); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _results import opening, publish

SECTION = "feature-serving"
CUSTOMERS, QUICK_CUSTOMERS = 100_000, 5_000
TRAIN_ROWS, QUICK_TRAIN_ROWS = 20_000, 2_000
REQUESTS, QUICK_REQUESTS = 2_000, 200
SECONDS, QUICK_SECONDS = 15.0, 3.0
CONCURRENCY = 8
CHECKED = 5  # keys whose predictions are compared across sides
IN_PROCESS = 1_000  # calls per in-process timing (where a request's time goes)
FLOATS = ["balance", "spend_30d", "avg_basket"]
INTEGERS = ["tenure_months", "support_calls"]
FEATURES = [*FLOATS, *INTEGERS]
COLUMNS = ["age", *FEATURES]  # what the pipeline takes, in this order on every side
VIEW = "customers"
DEFAULT_FEAST = Path(__file__).parent / ".work" / "venv-feast" / "bin" / "python"


# -- the data: standard library only, so both environments build the same values ---------
def customers(n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [{"customer_id": f"c{i}", "balance": round(rng.gauss(1000.0, 400.0), 2),
             "spend_30d": round(rng.expovariate(1 / 200.0), 2),
             "avg_basket": round(rng.uniform(5.0, 120.0), 2),
             "tenure_months": rng.randrange(0, 120), "support_calls": rng.randrange(0, 10)}
            for i in range(n)]


def training_rows(table: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Labelled rows (customer_id, age, churned): churn depends on the features."""
    rng = random.Random(1)
    out = []
    for _ in range(n):
        row = table[rng.randrange(len(table))]
        age = float(rng.randrange(18, 80))
        z = (0.8 - 0.0012 * row["balance"] + 0.004 * row["spend_30d"]
             - 0.02 * row["tenure_months"] + 0.35 * row["support_calls"] - 0.01 * age)
        out.append({"customer_id": row["customer_id"], "age": age,
                    "churned": int(rng.random() < 1 / (1 + math.exp(-z)))})
    return out


def requests_plan(n_customers: int, count: int) -> list[tuple[str, float]]:
    rng = random.Random(2)
    return [(f"c{rng.randrange(n_customers)}", float(rng.randrange(18, 80)))
            for _ in range(count)]


def pipeline() -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("impute", SimpleImputer(strategy="median")),
                     ("scale", StandardScaler()), ("m", LogisticRegression(max_iter=1000))])


def per_call_ms(items: list[Any], call: Any) -> float:
    """Median milliseconds of ``call(item)`` over ``items``, after a short warm-up."""
    for item in items[:50]:
        call(item)
    times = []
    for item in items:
        started = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# -- processes and HTTP load (the approach of bench_serving.py) -------------------------
def start(command: list[str], ready: str, env: dict[str, str], timeout: float = 300
          ) -> subprocess.Popen[bytes]:
    from bench_serving import stop, wait_ready

    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(ready, process, timeout=timeout)
    except BaseException:
        stop(process)
        raise
    return process


def measure(port: int, path: str, bodies: list[bytes], seconds: float) -> dict[str, float]:
    """p50/p99 over one sequential pass of ``bodies`` (after 50 warm-up requests), then
    requests per second at CONCURRENCY for ``seconds``."""
    from bench_serving import connection, http_request, percentile

    requests = [http_request(port, path, body) for body in bodies]
    asyncio.run(connection(port, requests[-50:], math.inf, 50, None))  # warm-up
    latencies: list[float] = []
    ok, failed = asyncio.run(connection(port, requests, math.inf, len(requests), latencies))
    if failed:
        raise SystemExit(f"{path}: {failed} failed requests")
    step = len(requests) // CONCURRENCY

    async def load() -> list[tuple[int, int]]:
        deadline = time.perf_counter() + seconds
        return await asyncio.gather(*(
            connection(port, requests[i * step:] + requests[:i * step], deadline, None, None)
            for i in range(CONCURRENCY)))

    results = asyncio.run(load())
    if sum(f for _, f in results):
        raise SystemExit(f"{path}: {sum(f for _, f in results)} failed requests under load")
    return {"p50": statistics.median(latencies), "p99": percentile(latencies, 0.99),
            "rps": sum(ok for ok, _ in results) / seconds}


def post(port: int, path: str, payload: Any) -> Any:
    import httpx

    answer = httpx.post(f"http://127.0.0.1:{port}{path}", json=payload, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"{path}: {answer.status_code} {answer.text}")
    return answer.json()


# -- gapless ---------------------------------------------------------------------------
def register(ws: Any, model: Any, X: Any, y: Any, name: str, dataset: str | None) -> str:
    """A fitted pipeline registered as training leaves one (model file and signature;
    with ``dataset``, that training set as its lineage)."""
    from gapless.core.schema import infer_signature
    from gapless.registry.packaging import pack

    with ws.start_run("bench", "fit", parent=None) as run, \
            tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(pack(model, None).data)
        run.log_artifact(path, artifact_path="model")
        run.log_dict(infer_signature(X, y, problem="binary").to_dict(), "signature.json")
        if dataset is not None:
            run.log_params({"dataset": dataset})
    return ws.models.register(run.id, name).ref


def setup_gapless(root: Path, table: list[dict[str, Any]], train: list[dict[str, Any]],
                  redis_uri: str | None) -> dict[str, float]:
    """The workspace: the view, its training set, both models deployed, the view
    materialized into SQLite (and Redis). Returns seconds taken per step."""
    import pandas as pd

    import gapless

    took: dict[str, float] = {}
    with gapless.Workspace.init(root) as ws:
        ws.data.add(VIEW, pd.DataFrame(table))
        ws.features.apply({"name": VIEW, "entities": ["customer_id"],
                           "source": {"dataset": VIEW},
                           "features": [{"name": name} for name in FEATURES]})
        entity_df = pd.DataFrame(train).assign(event_timestamp=pd.Timestamp("2026-11-01"))
        frame, ref = ws.features.training_set(entity_df, [VIEW], save_as="churn-train")
        X, y = frame[COLUMNS], frame["churned"]
        model = pipeline().fit(X, y)
        features = {"on_missing": "reject"}  # every key is there: a miss fails the run
        for endpoint, dataset in (("churn", ref), ("inline", None)):
            version = register(ws, model, X, y, endpoint, dataset)
            ws.deploy(endpoint, spec={"variants": [{"name": "primary", "model": version,
                                                    "weight": 100}],
                                      **({"features": features} if dataset else {})})
        until = time.time()
        started = time.perf_counter()
        ws.features.materialize(VIEW, until=until)
        took["sqlite"] = time.perf_counter() - started
    if redis_uri is not None:
        with gapless.Workspace(root, online_uri=redis_uri) as ws:
            started = time.perf_counter()
            ws.features.materialize(VIEW, until=until)
            took["redis"] = time.perf_counter() - started
    return took


def gapless_in_process(root: Path, plan: list[tuple[str, float]]) -> dict[str, float]:
    """Where a keyed request's time goes in gapless, in this process, one row at a time:
    the online-store read alone, the whole fill (read, convert, build the model's frame),
    and the pipeline's ``predict_proba`` on the filled row."""
    import gapless
    from gapless.serving.feature_lookup import FeatureFetcher, FeaturePolicy
    from gapless.serving.validation import frame_from_mapping

    with gapless.Workspace(root) as ws:
        version = ws.models.get("churn@1")
        lookup = ws.feature_plan(version)
        store = ws.features.online_store
        fetcher = FeatureFetcher(lambda: store)
        policy = FeaturePolicy(on_missing="reject")
        frames = [frame_from_mapping({"customer_id": [key], "age": [age]}, lookup.request)
                  for key, age in plan]
        model = ws.models.load(version.ref)  # the fitted pipeline, as served
        filled = [fetcher.fill(frame, lookup, policy).frame[COLUMNS] for frame in frames]
        out = {"read": per_call_ms(plan, lambda item: store.read(
                   VIEW, 1, [(item[0],)], lookup.features)),
               "fill": per_call_ms(frames, lambda frame: fetcher.fill(frame, lookup, policy)),
               "predict": per_call_ms(filled, model.predict_proba)}
    return out


def serve_gapless(root: Path, online_uri: str | None) -> tuple[subprocess.Popen[bytes], int]:
    from bench_serving import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    if online_uri is not None:
        env["GAPLESS_ONLINE_URI"] = online_uri
    process = start([sys.executable, "-m", "gapless.cli.main", "-w", str(root), "serve",
                     "--port", str(port), "--no-auth"],
                    f"http://127.0.0.1:{port}/health/ready", env)
    return process, port


def redis_answers(base: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(base, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        print(f"redis: {exc}", file=sys.stderr)
        return False


# -- Feast, run in its own venv: this script with --feast-setup / --feast-serve ----------
def feast_objects(folder: Path) -> tuple[Any, Any]:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    view = FeatureView(
        name=VIEW, entities=[customer], ttl=None,
        schema=[Field(name="customer_id", dtype=String)]
        + [Field(name=name, dtype=Float64) for name in FLOATS]
        + [Field(name=name, dtype=Int64) for name in INTEGERS],
        source=FileSource(path=str(folder / "source.parquet"),
                          timestamp_field="event_timestamp"),
        online=True)
    return customer, view


def feast_setup(folder: Path, n: int, train_n: int) -> dict[str, Any]:
    """Feast's repo and online store (SQLite) with the same rows, and the same pipeline
    fitted on the same training rows (pickled for the server, in this same venv)."""
    import pickle

    import feast
    import pandas as pd
    import sklearn
    from bench_online import FEAST_REPO
    from feast import FeatureStore

    (folder / "feature_store.yaml").write_text(FEAST_REPO.format(folder=folder,
                                                                   project="bench_serving"))
    table = customers(n)
    frame = pd.DataFrame(table)
    frame["event_timestamp"] = pd.Timestamp.now(tz="UTC").floor("s")
    frame.head(10).to_parquet(folder / "source.parquet")
    store = FeatureStore(repo_path=str(folder))
    store.apply(list(feast_objects(folder)))
    started = time.perf_counter()
    store.write_to_online_store(VIEW, frame)
    write_s = time.perf_counter() - started
    by_id = {row["customer_id"]: row for row in table}
    train = pd.DataFrame([{**by_id[r["customer_id"]], **r}
                          for r in training_rows(table, train_n)])
    model = pipeline().fit(train[COLUMNS], train["churned"])
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    refs = [f"{VIEW}:{name}" for name in FEATURES]
    plan = requests_plan(n, IN_PROCESS)

    def fetch(item: tuple[str, float]) -> Any:
        return store.get_online_features(
            features=refs, entity_rows=[{"customer_id": item[0]}]).to_dict()

    def predict(item: tuple[float, dict[str, Any]]) -> Any:  # as the route does
        age, found = item
        row = pd.DataFrame({"age": [age], **{name: found[name] for name in FEATURES}})
        return model.predict_proba(row[COLUMNS])

    fetched = [(age, fetch((key, age))) for key, age in plan]
    in_process = {"fetch": per_call_ms(plan, fetch), "predict": per_call_ms(fetched, predict)}
    return {"write_s": write_s, "feast": feast.__version__, "sklearn": sklearn.__version__,
            "pandas": pd.__version__, "in_process": in_process}


def feast_serve(folder: Path, port: int) -> None:
    import pickle

    import pandas as pd
    import uvicorn
    from fastapi import FastAPI
    from feast import FeatureStore
    from pydantic import BaseModel

    store = FeatureStore(repo_path=str(folder))
    model = pickle.loads((folder / "model.pkl").read_bytes())
    refs = [f"{VIEW}:{name}" for name in FEATURES]
    app = FastAPI()

    class Request(BaseModel):
        customer_id: str
        age: float

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def predict(request: Request) -> dict[str, float]:
        found = store.get_online_features(
            features=refs, entity_rows=[{"customer_id": request.customer_id}]).to_dict()
        row = pd.DataFrame({"age": [request.age], **{name: found[name] for name in FEATURES}})
        return {"probability": float(model.predict_proba(row[COLUMNS])[0, 1])}

    # The annotations are strings here (postponed); FastAPI needs the class to read the
    # body, and a local class cannot be resolved from the module's names.
    predict.__annotations__ = {"request": Request, "return": dict[str, float]}
    app.post("/predict")(predict)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning")


def run_feast(python: Path, folder: Path, n: int, train_n: int, bodies: list[bytes],
              seconds: float, checked: list[dict[str, Any]]) -> dict[str, Any] | str:
    """Feast's numbers (and its predictions of ``checked``), or why there are none."""
    from bench_serving import free_port, stop

    if not python.exists():
        return f"not run: no Feast environment at {python} (`make {python.parent.parent}/" \
               ".installed-serve`)"
    result = folder / "setup.json"
    done = subprocess.run([str(python), __file__, "--feast-setup", str(folder), "--customers",
                           str(n), "--train-rows", str(train_n), "--result", str(result)],
                          cwd=Path(__file__).parent, timeout=1800)
    if done.returncode != 0 or not result.exists():
        return f"failed to set up (exit {done.returncode}; see the output above)"
    found: dict[str, Any] = json.loads(result.read_text())
    port = free_port()
    process = start([str(python), __file__, "--feast-serve", str(folder), "--port", str(port)],
                    f"http://127.0.0.1:{port}/health", dict(os.environ))
    try:
        found["checked"] = [post(port, "/predict", row)["probability"] for row in checked]
        found["result"] = measure(port, "/predict", bodies, seconds)
    finally:
        stop(process)
    return found


# -- the report ------------------------------------------------------------------------
def section(args: Any, sizes: dict[str, int], results: dict[str, Any], feast: Any,
            took: dict[str, float], agreement: list[str], in_process: dict[str, float]
            ) -> list[str]:
    lines = opening(SECTION, "Serving by entity key: gapless vs a FastAPI app over Feast "
                    "(127.0.0.1, one worker)", args,
                    ["gapless", "uvicorn", "fastapi", "scikit-learn", "pandas", "redis"])
    if isinstance(feast, dict):
        at = next(i for i, line in enumerate(lines) if line.startswith("Versions:"))
        lines[at] = (lines[at].rstrip(".") + f"; Feast's venv: feast {feast['feast']}, "
                     f"scikit-learn {feast['sklearn']}, pandas {feast['pandas']}.")
    lines += [f"{sizes['customers']:,} customers x {len(FEATURES)} features ({len(FLOATS)} "
              f"floats, {len(INTEGERS)} integers) in the online store; a median imputer + "
              f"scaler + logistic regression on `age` (sent in the request) and the "
              f"{len(FEATURES)} features, fitted on {sizes['train']:,} training rows on each "
              "side. One row per request, the same seeded sequence of (customer_id, age) on "
              f"every side: p50/p99 over {sizes['requests']:,} sequential requests, then "
              f"requests per second with {CONCURRENCY} concurrent keep-alive connections "
              f"for {sizes['seconds']:g} s.", "",
              "| server | per request | p50 (ms) | p99 (ms) | req/s at 8 |",
              "| --- | --- | ---: | ---: | ---: |"]
    what = {"gapless, SQLite": "key -> fetch (SQLite) -> predict -> log",
            "gapless, Redis": "key -> fetch (Redis) -> predict -> log",
            "gapless, features inline": "features in the body -> predict -> log",
            "Feast + FastAPI": "key -> `get_online_features` (SQLite) -> predict"}
    rows = dict(results)
    if isinstance(feast, dict):
        rows["Feast + FastAPI"] = feast["result"]
    for name, label in what.items():
        value = rows.get(name)
        if isinstance(value, dict):
            lines.append(f"| {name} | {label} | {value['p50']:.2f} | {value['p99']:.2f} | "
                         f"{value['rps']:.0f} |")
        else:
            lines.append(f"| {name} | {label} | {value or 'not run'} | | |")
    peer = rows.get("Feast + FastAPI")
    if isinstance(peer, dict):
        lines += ["", "Ratios gapless / Feast (latency: below 1 is faster; throughput: above "
                      "1 is more):", "",
                  "| gapless | p50 | p99 | req/s at 8 |", "| --- | ---: | ---: | ---: |"]
        for name in ("gapless, SQLite", "gapless, Redis", "gapless, features inline"):
            value = rows.get(name)
            if isinstance(value, dict):
                lines.append(f"| {name} | {value['p50'] / peer['p50']:.2f} | "
                             f"{value['p99'] / peer['p99']:.2f} | "
                             f"{value['rps'] / peer['rps']:.2f} |")
    else:
        lines += ["", f"Feast: {feast}"]
    sqlite, inline = rows.get("gapless, SQLite"), rows.get("gapless, features inline")
    fetch = ""
    if isinstance(sqlite, dict) and isinstance(inline, dict):
        fetch = (f" The fetch's own cost in gapless (SQLite p50 minus inline p50): "
                 f"{sqlite['p50'] - inline['p50']:+.2f} ms.")
    setup = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in took.items())
    lines += ["", "Per request, gapless (`gapless serve --no-auth`, `POST "
              "/v1/endpoints/churn/predict` with `{\"instances\": [{\"customer_id\": ..., "
              "\"age\": ...}]}`) checks the request against the model's signature, reads "
              "the view's row for the key from the online store (one read per view; "
              "concurrent requests' reads are joined into one by a reader thread, a lone "
              "request reads in place; "
              "`on_missing: reject`, so a missing key would fail the run), converts the "
              "values to the training types, predicts, and logs the prediction with the "
              "features used and the key to its metadata store (SQLite, off the request "
              "path; on, as deployed). The inline row is a second endpoint on the same "
              "server whose model (the same fitted pipeline) was registered without the "
              "training-set lineage, so the body carries the 5 features and nothing is "
              "fetched. The peer is a bare FastAPI app (pydantic body, one sync route, "
              "uvicorn with one worker, in Feast's venv) calling "
              "`FeatureStore.get_online_features(...).to_dict()`, building a one-row "
              "DataFrame and calling `predict_proba`; it neither checks types beyond "
              "pydantic nor logs." + fetch, "",
              f"Where the time goes, in process (one row at a time, median of {IN_PROCESS:,} "
              f"calls, outside any server): gapless' online-store read "
              f"{in_process['read']:.3f} ms, the whole fill (read, convert to the signature's "
              f"types, build the model's frame) {in_process['fill']:.3f} ms, "
              f"`predict_proba` of the filled row {in_process['predict']:.3f} ms"
              + (f"; Feast's `get_online_features(...).to_dict()` "
                 f"{feast['in_process']['fetch']:.3f} ms, one-row DataFrame + `predict_proba` "
                 f"{feast['in_process']['predict']:.3f} ms." if isinstance(feast, dict)
                 else ".")
              + " The rest of each HTTP latency is the server: HTTP and JSON, routing, "
              "request checks, thread hand-offs and (gapless) the prediction log.", "",
              f"Setup (not timed above): gapless materialization {setup}; Feast "
              + (f"`write_to_online_store` {feast['write_s']:.1f} s."
                 if isinstance(feast, dict) else "not run."),
              "", "Predictions agree: " + "; ".join(agreement) + "."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose feature-serving section is replaced")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15",
                        help="Redis for gapless' second run (default database 15); 'none' "
                             "to skip")
    parser.add_argument("--feast-python", type=Path, default=DEFAULT_FEAST,
                        help="Python of a venv with feast, fastapi, uvicorn and scikit-learn; "
                             "'none' to skip")
    parser.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train-rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--feast-setup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--feast-serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.customers or (QUICK_CUSTOMERS if args.quick else CUSTOMERS)
    train_n = args.train_rows or (QUICK_TRAIN_ROWS if args.quick else TRAIN_ROWS)
    if args.feast_setup is not None:
        args.result.write_text(json.dumps(feast_setup(args.feast_setup, n, train_n)))
        return 0
    if args.feast_serve is not None:
        feast_serve(args.feast_serve, args.port)
        return 0
    count = QUICK_REQUESTS if args.quick else REQUESTS
    seconds = QUICK_SECONDS if args.quick else SECONDS
    from bench_serving import stop

    table = customers(n)
    by_id = {row["customer_id"]: row for row in table}
    plan = requests_plan(n, count)
    keyed = [{"customer_id": key, "age": age} for key, age in plan]
    inline = [{"age": age, **{name: by_id[key][name] for name in FEATURES}}
              for key, age in plan]
    bodies = {"keyed": [json.dumps({"instances": [row]}).encode() for row in keyed],
              "inline": [json.dumps({"instances": [row]}).encode() for row in inline],
              "feast": [json.dumps(row).encode() for row in keyed]}
    redis_uri = prefix = None
    redis_note = "not run (`--redis none`)"
    if args.redis != "none" and not redis_answers(args.redis):
        redis_note = f"not run: no Redis answers at {args.redis}"
    elif args.redis != "none":
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        redis_uri = f"{args.redis}?prefix={prefix}"
    results: dict[str, Any] = {} if redis_uri else {"gapless, Redis": redis_note}
    checked: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gapless-bench-fserve-") as tmp:
        root = Path(tmp) / "ws"
        try:
            print(f"gapless: {n:,} customers, {train_n:,} training rows ...",
                  file=sys.stderr, flush=True)
            took = setup_gapless(root, table, training_rows(table, train_n), redis_uri)
            in_process = gapless_in_process(root, requests_plan(n, IN_PROCESS))
            runs = [("gapless, SQLite", None, "churn", "keyed"),
                    ("gapless, features inline", None, "inline", "inline")]
            if redis_uri is not None:
                runs.append(("gapless, Redis", redis_uri, "churn", "keyed"))
            process = port = None
            current: Any = object()
            try:
                for name, uri, endpoint, kind in runs:
                    if uri != current:
                        if process is not None:
                            stop(process)
                        process, port = serve_gapless(root, uri)
                        current = uri
                    path = f"/v1/endpoints/{endpoint}/predict"
                    rows = keyed if kind == "keyed" else inline
                    checked[name] = [post(port, path, {"instances": [row]})["probabilities"]
                                     [0]["1"] for row in rows[:CHECKED]]
                    results[name] = measure(port, path, bodies[kind], seconds)
                    print(name, results[name], file=sys.stderr, flush=True)
            finally:
                if process is not None:
                    stop(process)
        finally:
            if prefix is not None:
                from bench_online import drop_redis_prefix

                dropped = drop_redis_prefix(args.redis, prefix)
                print(f"redis: deleted {dropped:,} keys under {prefix}", file=sys.stderr)
        if str(args.feast_python) == "none":
            feast: dict[str, Any] | str = "not run (`--feast-python none`)"
        else:
            print(f"Feast: {n:,} customers ...", file=sys.stderr, flush=True)
            folder = Path(tmp) / "feast"
            folder.mkdir()
            feast = run_feast(args.feast_python, folder, n, train_n, bodies["feast"], seconds,
                              keyed[:CHECKED])
            if isinstance(feast, dict):
                checked["Feast + FastAPI"] = feast["checked"]
                print("Feast + FastAPI", feast["result"], file=sys.stderr, flush=True)
    reference = checked["gapless, SQLite"]
    agreement = []
    for name, values in checked.items():
        if name == "gapless, SQLite":
            continue
        worst = max(abs(a - b) for a, b in zip(values, reference, strict=True))
        agreement.append(f"{name} vs gapless, SQLite: largest difference {worst:.1e} over "
                         f"the first {CHECKED} requests")
        if worst > 1e-6:
            print(f"WARNING: {name} predicts differently ({worst:.2e})", file=sys.stderr)
    sizes = {"customers": n, "train": train_n, "requests": count, "seconds": seconds}
    publish(SECTION, section(args, sizes, results, feast, took, agreement, in_process),
            args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

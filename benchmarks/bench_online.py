"""Online feature store speed: gapless on SQLite (in process) and on Redis, next to Feast's
SQLite online store, in one run.

Each side stores the same 100,000 entity keys x 10 features (8 floats, 2 integers), then
answers, in process and one call at a time:

* single-key lookups: p50 and p99 latency over 20,000 random keys (all 10 features);
* 100-key batches: p50 and p99 latency over 2,000 random batches of 100 keys.

gapless is measured through ``open_online_store(uri).read(...)`` (what serving calls);
Redis is the server at ``--redis`` (default 127.0.0.1:6379, database 15), under a key
prefix of this run that is deleted afterwards. Feast runs in its own virtual
environment (``--feast-python``, default ``benchmarks/.work/venv-feast``; Feast pins
pandas < 3, gapless needs pandas 3) through its public ``FeatureStore.get_online_features``
and, one layer down, its ``SqliteOnlineStore.online_read`` (the layer comparable to
gapless' store). Run ``make bench`` (or ``python benchmarks/bench_online.py --output
benchmarks/RESULTS.md``); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _results import opening, publish

SECTION = "online"
KEYS, QUICK_KEYS = 100_000, 5_000
LOOKUPS, QUICK_LOOKUPS = 20_000, 1_000
BATCHES, QUICK_BATCHES = 2_000, 100
BATCH = 100
FEATURES = [f"f{j}" for j in range(10)]
DEFAULT_FEAST = Path(__file__).parent / ".work" / "venv-feast" / "bin" / "python"


def rows(n: int) -> list[tuple[str, float, dict[str, Any]]]:
    """The same ``n`` keys and values on every side (seeded)."""
    rng = random.Random(0)
    event_time = 1_700_000_000.0
    return [(f"user{i}", event_time,
             {**{f"f{j}": rng.random() for j in range(8)},
              "f8": rng.randrange(1000), "f9": rng.randrange(10)}) for i in range(n)]


def plan(n: int, lookups: int, batches: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(1)
    singles = [f"user{rng.randrange(n)}" for _ in range(lookups)]
    groups = [[f"user{rng.randrange(n)}" for _ in range(BATCH)] for _ in range(batches)]
    return singles, groups


def timed(calls: Sequence[Any], call: Callable[[Any], Any]) -> dict[str, float]:
    """p50 and p99 latency (ms) of ``call(x)`` for each x, after a short warm-up."""
    for item in calls[:200]:
        call(item)
    out = []
    for item in calls:
        start = time.perf_counter()
        call(item)
        out.append(time.perf_counter() - start)
    cuts = statistics.quantiles(out, n=100)
    return {"p50": cuts[49] * 1000, "p99": cuts[98] * 1000}


def run_gapless(uri: str, n: int, lookups: int, batches: int) -> dict[str, Any]:
    from gapless.stores.online import open_online_store

    data = rows(n)
    singles, groups = plan(n, lookups, batches)
    store = open_online_store(uri)
    try:
        start = time.perf_counter()
        stored = store.write("bench", 1, data)
        write_s = time.perf_counter() - start
        assert stored == n, (stored, n)
        found = store.read("bench", 1, groups[0])
        assert all(row is not None and len(row) == 11 for row in found)
        single = timed(singles, lambda key: store.read("bench", 1, [key]))
        batch = timed(groups, lambda keys: store.read("bench", 1, keys))
        store.drop("bench")
    finally:
        store.close()
    return {"write_s": write_s, "single": single, "batch": batch}


def run_redis(base: str, n: int, lookups: int, batches: int) -> dict[str, Any]:
    prefix = f"gapless-bench-{uuid.uuid4().hex[:8]}"
    try:
        return run_gapless(f"{base}?prefix={prefix}", n, lookups, batches)
    finally:
        drop_redis_prefix(base, prefix)


def drop_redis_prefix(base: str, prefix: str) -> int:
    """Delete the keys under ``prefix`` on the Redis at ``base``; returns how many."""
    import redis

    client = redis.Redis.from_url(base)
    try:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for at in range(0, len(names), 1000):
            client.delete(*names[at:at + 1000])
        return len(names)
    finally:
        client.close()


# -- Feast, run in its own venv: this script with --feast-child -------------------------
FEAST_REPO = """\
project: {project}
registry: {folder}/registry.db
provider: local
online_store:
  type: sqlite
  path: {folder}/online.db
entity_key_serialization_version: 3
"""


def feast_child(folder: Path, n: int, lookups: int, batches: int) -> dict[str, Any]:
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.infra.online_stores.sqlite import SqliteOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.types import Float64, Int64, String

    (folder / "feature_store.yaml").write_text(FEAST_REPO.format(folder=folder,
                                                                   project="bench"))
    data = rows(n)
    frame = pd.DataFrame([{"user_id": key, **values} for key, _, values in data])
    frame["event_timestamp"] = pd.Timestamp(data[0][1], unit="s", tz="UTC")
    frame.head(10).to_parquet(folder / "source.parquet")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    view = FeatureView(
        name="bench", entities=[user], ttl=None,
        schema=[Field(name="user_id", dtype=String)]
        + [Field(name=f"f{j}", dtype=Float64) for j in range(8)]
        + [Field(name="f8", dtype=Int64), Field(name="f9", dtype=Int64)],
        source=FileSource(path=str(folder / "source.parquet"),
                          timestamp_field="event_timestamp"),
        online=True)
    store = FeatureStore(repo_path=str(folder))
    store.apply([user, view])
    start = time.perf_counter()
    store.write_to_online_store("bench", frame)
    write_s = time.perf_counter() - start
    singles, groups = plan(n, lookups, batches)
    refs = [f"bench:{name}" for name in FEATURES]

    def public(keys: list[str]) -> Any:
        return store.get_online_features(
            features=refs, entity_rows=[{"user_id": key} for key in keys]).to_dict()

    found = public(groups[0])
    assert all(value is not None for value in found["f0"]), "feast lost rows"
    table = store.get_feature_view("bench")
    online = SqliteOnlineStore()

    def direct(keys: list[str]) -> Any:
        entity_keys = [EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=key)])
                       for key in keys]
        return online.online_read(store.config, table, entity_keys, FEATURES)

    assert all(values is not None for _, values in direct(groups[0]))
    return {
        "write_s": write_s,
        "public": {"single": timed(singles, lambda key: public([key])),
                   "batch": timed(groups, public)},
        "direct": {"single": timed(singles, lambda key: direct([key])),
                   "batch": timed(groups, direct)},
        "version": __import__("feast").__version__,
    }


def run_feast(python: Path, n: int, lookups: int, batches: int) -> dict[str, Any] | str:
    """Feast's numbers, or why there are none."""
    if not python.exists():
        return (f"not run: no Feast environment at {python} (`python -m venv "
                "benchmarks/.work/venv-feast && benchmarks/.work/venv-feast/bin/pip install "
                "feast`; Feast pins pandas < 3, so it cannot share .venv-bench)")
    with tempfile.TemporaryDirectory(prefix="gapless-bench-feast-") as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run(
            [str(python), __file__, "--feast-child", tmp, "--keys", str(n),
             "--lookups", str(lookups), "--batches", str(batches), "--result", str(result)],
            cwd=Path(__file__).parent, timeout=1800)
        if done.returncode != 0 or not result.exists():
            return f"failed (exit {done.returncode}; see the output above)"
        return json.loads(result.read_text())


def section(results: dict[str, Any], feast: dict[str, Any] | str, n: int, args: Any,
            lookups: int, batches: int) -> list[str]:
    versions = ["redis", "pandas"]
    lines = opening(SECTION, "Online feature store", args, versions)
    if isinstance(feast, dict):
        at = next(i for i, line in enumerate(lines) if line.startswith("Versions:"))
        lines[at] = lines[at].rstrip(".") + f", feast {feast['version']} (own venv)."
    lines += [f"{n:,} keys x 10 features written in one call, then read in process: "
              f"single-key p50/p99 over {lookups:,} random lookups, {BATCH}-key batch "
              f"p50/p99 over {batches:,} random batches. Targets: single-key p99 <= 1 ms "
              "(SQLite), <= 2 ms (Redis).", "",
              "| Store | write all (s) | single p50 (ms) | single p99 (ms) "
              "| 100-key p50 (ms) | 100-key p99 (ms) |",
              "|---|---:|---:|---:|---:|---:|"]

    def row(label: str, write_s: float | None, single: dict, batch: dict) -> str:
        wrote = "" if write_s is None else f"{write_s:.2f}"
        return (f"| {label} | {wrote} | {single['p50']:.3f} | {single['p99']:.3f} "
                f"| {batch['p50']:.3f} | {batch['p99']:.3f} |")

    for label, key in (("gapless, SQLite (in process)", "sqlite"),
                       ("gapless, Redis (127.0.0.1)", "redis")):
        value = results.get(key)
        if isinstance(value, dict):
            lines.append(row(label, value["write_s"], value["single"], value["batch"]))
        else:
            lines.append(f"| {label} | {value} | | | | |")
    if isinstance(feast, dict):
        lines.append(row("Feast, SQLite `get_online_features`", feast["write_s"],
                         feast["public"]["single"], feast["public"]["batch"]))
        lines.append(row("Feast, SQLite `SqliteOnlineStore.online_read`", None,
                         feast["direct"]["single"], feast["direct"]["batch"]))
        lines += ["", "Feast's write is `FeatureStore.write_to_online_store` of a DataFrame "
                      "of the same rows; its two read rows are the public API (what a Feast "
                      "user calls) and the store layer under it (the layer gapless' numbers "
                      "compare with)."]
    else:
        lines += ["", f"Feast: {feast}"]
    lines += ["", "All sides run in one process each on the same machine, one call at a "
                  "time; Redis is a local server reached over loopback TCP."]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_KEYS:,} keys, {QUICK_LOOKUPS:,} lookups: a smoke check")
    parser.add_argument("--keys", type=int, help=f"keys written (default {KEYS:,})")
    parser.add_argument("--lookups", type=int, help=f"single-key lookups ({LOOKUPS:,})")
    parser.add_argument("--batches", type=int, help=f"100-key batches ({BATCHES:,})")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15",
                        help="Redis to measure (default redis://127.0.0.1:6379/15); "
                             "'none' to skip")
    parser.add_argument("--feast-python", type=Path, default=DEFAULT_FEAST,
                        help="Python of a venv with feast installed; 'none' to skip")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose online section is replaced")
    parser.add_argument("--feast-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.keys or (QUICK_KEYS if args.quick else KEYS)
    lookups = args.lookups or (QUICK_LOOKUPS if args.quick else LOOKUPS)
    batches = args.batches or (QUICK_BATCHES if args.quick else BATCHES)
    if args.feast_child is not None:
        args.result.write_text(json.dumps(feast_child(args.feast_child, n, lookups, batches)))
        return 0
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gapless-bench-online-") as tmp:
        print(f"gapless SQLite: {n:,} keys ...", file=sys.stderr, flush=True)
        results["sqlite"] = run_gapless(f"sqlite:///{tmp}/online.db", n, lookups, batches)
    if args.redis != "none":
        print(f"gapless Redis: {n:,} keys ...", file=sys.stderr, flush=True)
        try:
            results["redis"] = run_redis(args.redis, n, lookups, batches)
        except Exception as exc:  # noqa: BLE001 - reported in the table instead
            results["redis"] = f"not run: {type(exc).__name__}: {exc}"
    else:
        results["redis"] = "not run (`--redis none`)"
    if str(args.feast_python) == "none":
        feast: dict[str, Any] | str = "not run (`--feast-python none`)"
    else:
        print(f"Feast SQLite: {n:,} keys ...", file=sys.stderr, flush=True)
        feast = run_feast(args.feast_python, n, lookups, batches)
    publish(SECTION, section(results, feast, n, args, lookups, batches), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

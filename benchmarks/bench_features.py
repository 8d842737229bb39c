"""Point-in-time training sets: gapless ``features.training_set`` beside pandas
``merge_asof``, a 10M-row feature table joined to 1M entity rows (time and peak memory).

The data, from one seeded NumPy generator, written to Parquet with pyarrow (not timed):

- a feature table of N rows (default 10,000,000): ``customer_id`` (int64, 200,000
  customers whose activity rates are lognormal, so some have many rows and some few),
  ``event_time`` (microseconds over 365 days, unique per customer, so no tie rule is
  needed), and 5 float features, one with 1% missing values. Stored in event-time order,
  as an event log is appended.
- an entity frame of M rows (default 1,000,000): ``customer_id`` (10% of them ids the
  table has not seen) and ``event_timestamp`` (the lookup time, over the same year).

The sides, each answering "the latest row per customer at or before the lookup time,
missing when older than 30 days", in the entity frame's order:

(a) gapless: a workspace with the view ``tx`` (``source: {parquet: PATH}``, ``ttl: 30d``,
    the 5 features), then ``ws.features.training_set(entities, ["tx"],
    timestamp="event_timestamp")``: DuckDB reads the Parquet file and joins as of.
(b) pandas: ``pd.read_parquet`` of the table, then ``pd.merge_asof(entities sorted by
    event_timestamp, features sorted by event_time, by="customer_id",
    direction="backward", tolerance=pd.Timedelta("30d"))`` and a sort back into the
    entity order.

How it is measured: each side runs once in its own fresh child process. It imports its
libraries and reads the entity frame (not timed), then times the join from the Parquet
file on disk to the finished frame; reading the table is inside that time on both sides.
The parent imports only the standard library and reaps each child with ``os.wait4``, whose
``ru_maxrss`` is that child's peak RSS (on Linux a child's starts from its parent's at
fork). Each child also reports its RSS before the timed part, so "working" is what the
join itself added. Each side writes its result to Parquet (not timed) and a last child
compares them on every row: same values, NaN in the same places, or the run fails and
nothing is written.

Run ``make bench`` (or ``python benchmarks/bench_features.py --output
benchmarks/RESULTS.md``); ``--quick`` for 500,000 x 50,000; ``--feature-rows``,
``--entity-rows`` and ``--sides`` for other runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _results

SECTION = "features"
FEATURE_ROWS = 10_000_000
ENTITY_ROWS = 1_000_000
QUICK_FEATURE_ROWS = 500_000
QUICK_ENTITY_ROWS = 50_000
CUSTOMERS = 200_000
UNKNOWN_SHARE = 0.10
DAYS = 365
TTL = "30d"
TTL_DAYS = 30
START_US = 1_735_689_600 * 1_000_000  # 2025-01-01 00:00:00
SEED = 20241124
MIB = 1024 * 1024
FEATURES = ("amount", "balance", "score", "velocity", "ratio")
NAN_FEATURE, NAN_SHARE = "score", 0.01
SIDES = ("gapless", "pandas")
LABELS = {"gapless": "gapless `training_set` (DuckDB)", "pandas": "pandas `merge_asof`"}


# -- the data --------------------------------------------------------------------------
def generate(folder: Path, feature_rows: int, entity_rows: int) -> dict[str, Any]:
    """Write features.parquet and entities.parquet into ``folder``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    span_us = DAYS * 86_400 * 1_000_000
    rates = rng.lognormal(0.0, 1.5, size=CUSTOMERS)
    customers = rng.choice(CUSTOMERS, size=feature_rows, p=rates / rates.sum())
    times = rng.integers(0, span_us, size=feature_rows)
    # Unique times per customer: bump any equal pair by 1 us until none is left.
    while True:
        order = np.lexsort((times, customers))
        same = ((customers[order][1:] == customers[order][:-1])
                & (times[order][1:] == times[order][:-1]))
        if not same.any():
            break
        times[order[1:][same]] += 1
    order = np.argsort(times, kind="stable")
    columns: dict[str, Any] = {
        "customer_id": pa.array(customers[order].astype("int64")),
        "event_time": pa.array((times[order] + START_US).astype("datetime64[us]")),
    }
    for index, name in enumerate(FEATURES):
        values = rng.normal(100.0 * (index + 1), 10.0 * (index + 1), size=feature_rows)
        mask = rng.random(feature_rows) < NAN_SHARE if name == NAN_FEATURE else None
        columns[name] = pa.array(values, mask=mask)
    features = pa.table(columns)
    pq.write_table(features, folder / "features.parquet")
    known = rng.random(entity_rows) >= UNKNOWN_SHARE
    ids = np.where(known, rng.integers(0, CUSTOMERS, size=entity_rows),
                   rng.integers(CUSTOMERS, 2 * CUSTOMERS, size=entity_rows))
    lookups = rng.integers(0, span_us, size=entity_rows) + START_US
    entities = pa.table({"customer_id": pa.array(ids.astype("int64")),
                         "event_timestamp": pa.array(lookups.astype("datetime64[us]"))})
    pq.write_table(entities, folder / "entities.parquet")
    return {"feature_arrow_bytes": features.nbytes, "entity_arrow_bytes": entities.nbytes,
            "parquet_bytes": (folder / "features.parquet").stat().st_size,
            "customers_seen": int(np.unique(customers).size)}


# -- the sides, each in its own child --------------------------------------------------
def run_gapless(folder: Path, entities: Any) -> tuple[Any, dict[str, float]]:
    import duckdb  # noqa: F401  (imported here so the timed part excludes the import)

    import gapless

    ws = gapless.Workspace.init(folder / "workspace")
    ws.features.apply({"name": "tx", "entities": ["customer_id"], "timestamp": "event_time",
                       "source": {"parquet": str(folder / "features.parquet")}, "ttl": TTL,
                       "features": [{"name": name} for name in FEATURES]})
    before = _results.status_kib("VmRSS")
    start = time.perf_counter()
    frame = ws.features.training_set(entities, ["tx"], timestamp="event_timestamp")
    return frame, {"seconds": time.perf_counter() - start, "rss_before_kib": before}


def run_pandas(folder: Path, entities: Any) -> tuple[Any, dict[str, float]]:
    import numpy as np
    import pandas as pd

    before = _results.status_kib("VmRSS")
    start = time.perf_counter()
    features = pd.read_parquet(folder / "features.parquet")
    read = time.perf_counter()
    left = entities.assign(_row=np.arange(len(entities))).sort_values("event_timestamp")
    right = features.sort_values("event_time")
    sort = time.perf_counter()
    merged = pd.merge_asof(left, right, left_on="event_timestamp", right_on="event_time",
                           by="customer_id", direction="backward",
                           tolerance=pd.Timedelta(days=TTL_DAYS))
    merge = time.perf_counter()
    frame = (merged.sort_values("_row").drop(columns=["_row", "event_time"])
             .reset_index(drop=True))
    done = time.perf_counter()
    return frame, {"seconds": done - start, "rss_before_kib": before,
                   "read_seconds": read - start, "sort_seconds": sort - read,
                   "merge_seconds": merge - sort, "restore_seconds": done - merge}


RUNNERS = {"gapless": run_gapless, "pandas": run_pandas}


def run_side(side: str, folder: Path) -> dict[str, Any]:
    """One side's join in this (child) process; its result goes to SIDE.parquet."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401

    entities = pd.read_parquet(folder / "entities.parquet")
    frame, timings = RUNNERS[side](folder, entities)
    record = dict(timings, rows=len(frame), matched=int(frame[FEATURES[0]].notna().sum()))
    frame[["customer_id", "event_timestamp", *FEATURES]].to_parquet(folder / f"{side}.parquet")
    return record


def check(folder: Path) -> dict[str, Any]:
    """Compare the two sides' results on every row; describe the first mismatch."""
    import numpy as np
    import pandas as pd

    expected = pd.read_parquet(folder / "entities.parquet")
    found = {side: pd.read_parquet(folder / f"{side}.parquet") for side in SIDES}
    problems = []
    for side, frame in found.items():
        for key in ("customer_id", "event_timestamp"):
            if not frame[key].reset_index(drop=True).equals(expected[key]):
                problems.append(f"{side}: column {key} is not the entity frame's, row for row")
    g, p = found["gapless"], found["pandas"]
    for name in FEATURES:
        a, b = g[name].to_numpy(dtype=float), p[name].to_numpy(dtype=float)
        differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if differ.any():
            row = int(np.argmax(differ))
            problems.append(f"feature {name}: {int(differ.sum()):,} rows differ; first, row "
                            f"{row} (customer_id {expected['customer_id'].iloc[row]}, "
                            f"event_timestamp {expected['event_timestamp'].iloc[row]}): "
                            f"gapless {float(a[row])!r}, pandas {float(b[row])!r}")
    return {"problems": problems, "rows": len(expected),
            "missing": int(p[FEATURES[0]].isna().sum())}


def run_child(mode: str, folder: Path, result: Path, sizes: tuple[int, int]) -> None:
    start = time.perf_counter()
    if mode == "generate":
        record = generate(folder, *sizes)
        record["seconds"] = time.perf_counter() - start
    elif mode == "check":
        record = check(folder)
    else:
        record = run_side(mode, folder)
    record["vm_hwm_kib"] = _results.status_kib("VmHWM")
    result.write_text(json.dumps(record), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
def spawn(mode: str, folder: Path, sizes: tuple[int, int]) -> dict[str, Any] | None:
    """Run one mode in a fresh child process (:func:`_results.reap`); None when the child
    failed (its error is printed above)."""
    result = folder / f"{mode}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--data",
               str(folder), "--result", str(result), "--feature-rows", str(sizes[0]),
               "--entity-rows", str(sizes[1])]
    try:
        return _results.reap(command, result, mode)
    except _results.ChildFailed as exc:
        print(exc, file=sys.stderr)
        return None


def table(runs: dict[str, dict[str, Any]]) -> str:
    lines = ["| side | join s (read included) | process wall s | peak RSS MiB | RSS before "
             "MiB | working MiB | rows | with features |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for side in SIDES:
        r = runs.get(side)
        if r is not None:
            lines.append(f"| {LABELS[side]} | {r['seconds']:.2f} | {r['process_seconds']:.1f} "
                         f"| {r['peak_kib'] / 1024:,.0f} | {r['rss_before_kib'] / 1024:,.0f} "
                         f"| {(r['peak_kib'] - r['rss_before_kib']) / 1024:,.0f} "
                         f"| {r['rows']:,} | {r['matched']:,} |")
    return "\n".join(lines)


def ratios(runs: dict[str, dict[str, Any]]) -> list[str]:
    g, p = runs.get("gapless"), runs.get("pandas")
    if g is None or p is None:
        return []
    working = ((p["peak_kib"] - p["rss_before_kib"])
               / max(1, g["peak_kib"] - g["rss_before_kib"]))
    lines = [f"- pandas / gapless: time {p['seconds'] / g['seconds']:.2f}x, peak RSS "
             f"{p['peak_kib'] / g['peak_kib']:.2f}x, working memory {working:.2f}x."]
    lines.append(f"- pandas' time: read {p['read_seconds']:.2f} s, sort both "
                 f"{p['sort_seconds']:.2f} s, `merge_asof` {p['merge_seconds']:.2f} s, back "
                 f"to the entity order {p['restore_seconds']:.2f} s.")
    return lines


def section(runs: dict[str, dict[str, Any]], generated: dict[str, Any],
            checked: dict[str, Any] | None, sizes: tuple[int, int], args: Any,
            notes: list[str]) -> list[str]:
    feature_rows, entity_rows = sizes
    lines = _results.opening(
        SECTION, "Point-in-time training sets: gapless `training_set` vs pandas `merge_asof`",
        args, ["gapless", "duckdb", "pandas", "numpy", "pyarrow"])
    if not args.quick and sizes != (FEATURE_ROWS, ENTITY_ROWS):
        lines += [f"**{feature_rows:,} x {entity_rows:,} rows, not {FEATURE_ROWS:,} x "
                  f"{ENTITY_ROWS:,}.**", ""]
    agreement = ("not compared (one side only)" if checked is None else
                 f"identical on all {checked['rows']:,} rows x {len(FEATURES)} features "
                 f"(NaN in the same places; {checked['missing']:,} rows with no row within "
                 f"{TTL} or an unknown customer)")
    lines += [
        f"Data: a feature table of {feature_rows:,} rows ({generated['customers_seen']:,} "
        f"customers with lognormal activity, event times unique per customer over {DAYS} "
        f"days, {len(FEATURES)} float features, 1% missing in `{NAN_FEATURE}`; "
        f"{generated['feature_arrow_bytes'] / MIB:,.0f} MiB as Arrow, "
        f"{generated['parquet_bytes'] / MIB:,.0f} MiB as Parquet, in event-time order) "
        f"joined to {entity_rows:,} entity rows ({UNKNOWN_SHARE:.0%} unknown customers, "
        f"lookup times over the same year); TTL {TTL}; seed {SEED}.", "",
        table(runs), "",
        *ratios(runs),
        f"- Results: {agreement}.",
        *notes, "",
        "How it is measured (see the docstring of `benchmarks/bench_features.py`): one run "
        "per side, each in its own fresh child reaped with `os.wait4` (peak RSS = "
        "`ru_maxrss`, interpreter, imports and the entity frame included). The timed part "
        "starts with the Parquet file on disk and the entity frame in memory and ends with "
        "the entity frame plus one column per feature in the entity order: gapless "
        "`ws.features.training_set(entities, [\"tx\"], timestamp=\"event_timestamp\")` "
        "(the view applied before, untimed); pandas `read_parquet`, `sort_values` of both, "
        f"`merge_asof(..., by=\"customer_id\", direction=\"backward\", "
        f"tolerance=pd.Timedelta(days={TTL_DAYS}))`, `sort_values` back. \"RSS before\" is the "
        "child's RSS just before the timed part (imports, the entity frame and, for gapless, "
        "the open workspace); \"working\" is the peak less that. "
        "DuckDB uses both cores; pandas' sorts and `merge_asof` one.", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FEATURE_ROWS:,} x {QUICK_ENTITY_ROWS:,} rows: a smoke "
                             "check")
    parser.add_argument("--feature-rows", type=int,
                        help=f"rows of the feature table (default {FEATURE_ROWS:,})")
    parser.add_argument("--entity-rows", type=int,
                        help=f"rows of the entity frame (default {ENTITY_ROWS:,})")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated sides to run (default {','.join(SIDES)})")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose features section is replaced")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = (args.feature_rows or (QUICK_FEATURE_ROWS if args.quick else FEATURE_ROWS),
             args.entity_rows or (QUICK_ENTITY_ROWS if args.quick else ENTITY_ROWS))
    if args.child is not None:
        run_child(args.child, args.data, args.result, sizes)
        return 0
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not sides or set(sides) - set(SIDES):
        parser.error(f"--sides: choose from {', '.join(SIDES)}, got {args.sides!r}")
    runs: dict[str, dict[str, Any]] = {}
    notes = [f"- {LABELS[side]}: not run (`--sides`)." for side in SIDES if side not in sides]
    failed = []
    with tempfile.TemporaryDirectory(prefix="gapless-bench-features-") as tmp:
        folder = Path(tmp)
        print(f"generating {sizes[0]:,} feature rows and {sizes[1]:,} entity rows into "
              f"{folder} ...", file=sys.stderr, flush=True)
        generated = spawn("generate", folder, sizes)
        if generated is None:
            raise SystemExit("generating the data failed; see above")
        for side in SIDES:
            if side in sides:
                record = spawn(side, folder, sizes)
                if record is None:
                    failed.append(side)
                else:
                    runs[side] = record
        checked = spawn("check", folder, sizes) if len(runs) == len(SIDES) else None
    if failed:
        raise SystemExit(f"the {', '.join(failed)} side(s) failed (see above); "
                         f"{args.output or 'nothing'} is left as it was")
    if checked is not None and checked["problems"]:
        raise SystemExit("gapless and pandas disagree:\n  " + "\n  ".join(checked["problems"])
                         + f"\n{args.output or 'nothing'} is left as it was")
    if len(runs) == len(SIDES) and checked is None:
        raise SystemExit("comparing the two results failed (see above)")
    _results.publish(SECTION, section(runs, generated, checked, sizes, args, notes),
                     args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Drift over time in bounded memory: gapless ``drift_windows`` on 1M and 10M logged rows.

The data: the 25 columns of ``bench_drift.py`` (20 numeric + 5 text categorical, the same
generators and seed, 2% missing in n04, n13, c4). A reference of 100,000 rows; logged
rows spread evenly over 24 hours, cut into 1-hour windows; the last 12 hours shifted as
``bench_drift.SHIFTS`` says (7 of the 25 columns move by more than the 0.1 thresholds).

The runs, each in its own fresh child process:

(a) ``feed``: N rows (1,000,000 and 10,000,000) generated hour by hour in chunks of
    20,000 and fed straight into ``DriftAccumulator.add`` (the accumulator the SQL path
    uses, numbers as float arrays and categories as lists of Python ``str``, as decoded
    JSON gives them), then every window judged. Writing 10M rows of JSON to SQLite on a
    2-core machine takes too long for a benchmark, so this isolates the accumulator:
    its throughput and whether its memory depends on N.
(b) ``sql``: end to end on a real workspace. A child writes N logged rows (50,000 and
    500,000) into the ``predictions`` table of a fresh SQLite workspace (bulk inserts of
    the rows a PredictionLog writes; not timed as part of the drift); then another child
    runs ``workspace.monitor.drift_windows(endpoint, reference, window="1h")``: the
    SQLAlchemy stream, ``json.loads`` of every row, the accumulator, the verdicts.

How it is measured: the parent imports only the standard library and reaps each child
with ``os.wait4``; the child's ``ru_maxrss`` is its peak RSS, interpreter and imports
included; each child also reports its RSS after imports and the reference profile, so
"working" is what streaming N rows added. "compute" times only the accumulation and
verdicts (generation excluded for ``feed``); "state" is the bytes the windows' summaries
hold at the end.

Run ``make bench`` (or ``python benchmarks/bench_drift_stream.py --output
benchmarks/RESULTS.md``); ``--quick`` for 100,000 / 1,000,000 fed rows and 10,000 /
50,000 in SQLite.
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
import bench_drift as data

SECTION = "drift-stream"
FEED_ROWS = (1_000_000, 10_000_000)
SQL_ROWS = (50_000, 500_000)
QUICK_FEED_ROWS = (100_000, 1_000_000)
QUICK_SQL_ROWS = (10_000, 50_000)
REFERENCE_ROWS = 100_000
HOURS = 24
CHUNK = 20_000
INSERT_BATCH = 10_000
START = 1_700_006_400.0  # a day boundary
ENDPOINT = "bench"
MIB = 1024 * 1024


# -- the data --------------------------------------------------------------------------
def reference_frame() -> Any:
    import numpy as np

    return data.frame(np.random.default_rng(data.SEED), REFERENCE_ROWS, False).to_pandas()


def chunks(rows: int) -> Any:
    """``(times, columns)`` chunks of at most CHUNK rows, hour by hour, the last 12 hours
    shifted; numbers as float arrays (NaN where missing), categories as lists of str
    (None where missing)."""
    import numpy as np

    rng = np.random.default_rng(data.SEED + 1)
    per_hour = rows // HOURS
    for hour in range(HOURS):
        shifted = hour >= HOURS // 2
        done = 0
        while done < per_hour:
            n = min(CHUNK, per_hour - done)
            times = START + hour * 3600 + (done + np.arange(n)) * (3600 / per_hour)
            columns: dict[str, Any] = {}
            for name in data.NUMERIC:
                values = data.numeric_values(rng, name, n, shifted).astype(float)
                if name in data.MISSING:
                    values[rng.random(n) < data.MISSING[name]] = np.nan
                columns[name] = values
            for name in data.LEVELS:
                codes, names = data.categorical_values(rng, name, n, shifted)
                labels = np.asarray(names, dtype=object)[codes]
                if name in data.MISSING:
                    labels[rng.random(n) < data.MISSING[name]] = None
                columns[name] = labels.tolist()
            yield times, columns
            done += n


def summarize(found: list[Any]) -> dict[str, Any]:
    """Which features the windows flagged, first half (unshifted) and second half."""
    middle = START + HOURS // 2 * 3600
    flagged: dict[str, dict[str, int]] = {"unshifted": {}, "shifted": {}}
    for window in found:
        half = "shifted" if window.start >= middle else "unshifted"
        for name, feature in window.features.items():
            if feature.drifted:
                flagged[half][name] = flagged[half].get(name, 0) + 1
    return {"windows": len(found), "flagged": flagged,
            "judged": sum(1 for w in found if w.drifted is not None),
            "rows_judged": sum(w.rows for w in found)}


def state_bytes(accumulator: Any) -> int:
    return sum(a.nbytes for b in accumulator.buckets.values()
               for a in (*b.counts.values(), *b.offsets.values()))


# -- the runs, each in its own child ---------------------------------------------------
def run_feed(rows: int) -> dict[str, Any]:
    import numpy as np

    from gapless.monitoring.drift_sketch import DriftAccumulator, DriftProfile
    from gapless.monitoring.drift_windows import judge

    profile = DriftProfile().fit(reference_frame())
    baseline = _results.status_kib("VmRSS")
    accumulator = DriftAccumulator(profile, 3600)
    spent, fed = 0.0, 0
    for times, columns in chunks(rows):
        ones = np.ones(times.size, dtype=np.int64)
        start = time.perf_counter()
        accumulator.add(times, ones, ["primary"] * times.size, columns)
        spent += time.perf_counter() - start
        fed += times.size
    start = time.perf_counter()
    found = judge(accumulator, ENDPOINT)
    spent += time.perf_counter() - start
    return {"rows": fed, "seconds": spent, "baseline_kib": baseline,
            "state_bytes": state_bytes(accumulator), **summarize(found)}


def run_sql_write(folder: Path, rows: int) -> dict[str, Any]:
    import numpy as np

    from gapless import Workspace
    from gapless.stores.tables import predictions

    start = time.perf_counter()
    written = 0
    with Workspace.init(folder / f"ws-{rows}") as ws:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            ws.metadata.write(lambda conn: conn.execute(predictions.insert(), batch))
            batch.clear()

        for times, columns in chunks(rows):
            names = list(columns)
            values = [columns[n].tolist() if isinstance(columns[n], np.ndarray) else columns[n]
                      for n in names]
            for i, at in enumerate(times.tolist()):
                inputs = {n: (None if isinstance(v[i], float) and v[i] != v[i] else v[i])
                          for n, v in zip(names, values, strict=True)}
                batch.append({"prediction_id": f"{written:032x}", "variant": "primary",
                              "endpoint": ENDPOINT, "model": ENDPOINT, "version": 1,
                              "role": "primary", "inputs_json": json.dumps(inputs),
                              "outputs_json": "0", "latency_ms": 1.0, "status": 200,
                              "created_at": at})
                written += 1
                if len(batch) >= INSERT_BATCH:
                    flush()
        if batch:
            flush()
    return {"rows": written, "seconds": time.perf_counter() - start,
            "db_bytes": sum(p.stat().st_size for p in (folder / f"ws-{rows}").rglob("*.db*"))}


def run_sql_drift(folder: Path, rows: int) -> dict[str, Any]:
    from gapless import Workspace

    reference = reference_frame()
    with Workspace(folder / f"ws-{rows}") as ws:
        monitor = ws.monitor
        baseline = _results.status_kib("VmRSS")
        start = time.perf_counter()
        found = monitor.drift_windows(ENDPOINT, reference, window="1h")
        spent = time.perf_counter() - start
    return {"rows": sum(w.rows for w in found), "seconds": spent, "baseline_kib": baseline,
            **summarize(found)}


def run_child(mode: str, folder: Path, result: Path, rows: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if mode == "feed":
        record = run_feed(rows)
    elif mode == "sql-write":
        record = run_sql_write(folder, rows)
    else:
        record = run_sql_drift(folder, rows)
    record["vm_hwm_kib"] = _results.status_kib("VmHWM")
    result.write_text(json.dumps(record), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
def spawn(mode: str, folder: Path, rows: int) -> dict[str, Any]:
    """Run one mode in a fresh child process (:func:`_results.reap`)."""
    result = folder / f"{mode}-{rows}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--data",
               str(folder), "--result", str(result), "--child-rows", str(rows)]
    try:
        return _results.reap(command, result, f"{mode} {rows:,}")
    except _results.ChildFailed as exc:
        raise SystemExit(str(exc)) from None


def table(runs: list[tuple[str, dict[str, Any]]]) -> str:
    lines = ["| run | rows | compute s | rows/s | peak RSS MiB | RSS before rows MiB | "
             "working MiB | windows | state KiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, r in runs:
        working = (r["peak_kib"] - r["baseline_kib"]) / 1024
        state = f"{r['state_bytes'] / 1024:,.0f}" if "state_bytes" in r else "n/a"
        lines.append(f"| {label} | {r['rows']:,} | {r['seconds']:.1f} | "
                     f"{r['rows'] / r['seconds']:,.0f} | {r['peak_kib'] / 1024:,.0f} | "
                     f"{r['baseline_kib'] / 1024:,.0f} | {working:,.0f} | {r['windows']} | "
                     f"{state} |")
    return "\n".join(lines)


def flags(runs: list[tuple[str, dict[str, Any]]]) -> str:
    moved = [n for n, (size, _) in data.SHIFTS.items()]
    lines = []
    for label, r in runs:
        shifted = r["flagged"]["shifted"]
        calm = r["flagged"]["unshifted"]
        always = sorted(n for n, c in shifted.items() if c == HOURS // 2)
        lines.append(f"- {label}: in the 12 shifted windows, flagged in every one: "
                     f"{', '.join(always) or 'none'}; other flags there: "
                     f"{sum(c for n, c in shifted.items() if n not in always)}; flags in "
                     f"the 12 unshifted windows: {sum(calm.values())}")
    lines.append(f"- Shifted columns (`bench_drift.SHIFTS`): {', '.join(moved)}; `data_drift` "
                 "on 1M rows flags n00, n01, n03, n08, n12, n16, c2 (the section above).")
    return "\n".join(lines)


def section(runs: list[tuple[str, dict[str, Any]]], writes: list[dict[str, Any]],
            args: Any) -> list[str]:
    lines = _results.opening(SECTION, "Drift over time in bounded memory: `drift_windows` "
                             "on 1M and 10M logged rows", args,
                             ["gapless", "numpy", "pandas", "sqlalchemy"])
    def growth(kind: str) -> str:
        found = [r for label, r in runs if label.startswith(kind)]
        change = (found[-1]["peak_kib"] - found[0]["peak_kib"]) / 1024
        return (f"- Peak RSS from {found[0]['rows']:,} to {found[-1]['rows']:,} rows "
                f"({kind}): {change:+,.0f} MiB for {found[-1]['rows'] // found[0]['rows']}x "
                "the rows.")

    lines += [
        f"Data: the 25 columns of `bench_drift.py` (seed {data.SEED}); a reference of "
        f"{REFERENCE_ROWS:,} rows; logged rows over {HOURS} hours in 1-hour windows, the "
        "last 12 shifted as `bench_drift.SHIFTS` says.", "",
        table(runs), "",
        growth("feed"), growth("sql"),
        *(f"- SQLite: writing the {w['rows']:,} rows (bulk inserts, not part of the drift) "
          f"took {w['seconds']:.0f} s; database {w['db_bytes'] / MIB:,.0f} MiB."
          for w in writes),
        flags(runs), "",
        "How it is measured (see the docstring of `benchmarks/bench_drift_stream.py`): each "
        "run in its own fresh child reaped with `os.wait4` (peak RSS = `ru_maxrss`, "
        "interpreter, imports and the fitted reference included); \"RSS before rows\" is "
        "the child's RSS after imports and fitting the reference profile, \"working\" the "
        "peak less that. \"feed\" times only `DriftAccumulator.add` and the verdicts "
        "(generating the rows is excluded); \"sql\" times `monitor.drift_windows` end to "
        "end (SQLAlchemy stream, `json.loads`, accumulation, verdicts). \"state\" is what "
        "the 24 windows' summaries hold: 25 features x (102 bins + 3 counts) x 8 bytes, "
        "twice for numbers.", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_FEED_ROWS} fed rows, {QUICK_SQL_ROWS} in SQLite")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose drift-stream section is replaced")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        run_child(args.child, args.data, args.result, args.child_rows)
        return 0
    feed_rows = QUICK_FEED_ROWS if args.quick else FEED_ROWS
    sql_rows = QUICK_SQL_ROWS if args.quick else SQL_ROWS
    runs: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="gapless-bench-drift-stream-") as tmp:
        folder = Path(tmp)
        for rows in feed_rows:
            runs.append((f"feed {rows:,}", spawn("feed", folder, rows)))
        writes = []
        for rows in sql_rows:
            writes.append(spawn("sql-write", folder, rows))
            runs.append((f"sql {writes[-1]['rows']:,}", spawn("sql-drift", folder, rows)))
    _results.publish(SECTION, section(runs, writes, args), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

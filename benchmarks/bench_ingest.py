"""Ingestion at scale: gapless ``data.add`` against ``pandas.read_csv(...).to_parquet(...)``.

The issue's bar: ingestion streams record batches, so a 10M-row x 20-column CSV ingests
with a peak RSS under 1.5 GB (1,500,000,000 bytes). The baseline is what people write
without gapless: ``pandas.read_csv(path).to_parquet(out)`` (pandas' defaults: the C
parser, the pyarrow engine, snappy).

1. A realistic CSV is generated once, in a child process, 500k rows at a time through
   ``pyarrow.csv.CSVWriter`` from a seeded numpy generator, so generating stays in
   bounded memory: 20 columns (6 integer, 7 float, 5 low-cardinality text, 1 timestamp,
   1 boolean) with missing values in 7 of them.
2. Each side then runs once in its own fresh child process (``--side``), which times
   its work from just before the call to just after it (imports and interpreter start
   excluded; the process wall time, which includes them, is reported beside it). The
   parent reaps each child with ``os.wait4``, whose rusage is that child's alone; its
   ``ru_maxrss`` is the peak RSS. The parent imports only the standard library, because
   on Linux a child's ``ru_maxrss`` starts from its parent's at fork. Each child also
   reports its own ``VmHWM``, as a cross-check.
3. Both sides read the same file, just written, so both read it from the page cache.
   Rows are checked on both sides so both did the same work.

``--profile`` adds a third child: gapless again, with its stages wrapped (in that child
only) to time each one and take its exact peak RSS; see :class:`StageMeter`.

Run ``make bench`` (or ``python benchmarks/bench_ingest.py --output
benchmarks/RESULTS.md``); ``--rows 200000`` for a smoke check; ``--keep-data DIR`` keeps
the CSV for the next run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _results

SECTION = "ingest"
DEFAULT_ROWS = 10_000_000
CHUNK_ROWS = 500_000
SEED = 20240601
LIMIT_BYTES = 1_500_000_000  # the 1.5 GB
MIB = 1024 * 1024
SIDES = ("gapless", "pandas")


# -- the data --------------------------------------------------------------------------
COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "JP", "ES", "IT", "NL", "MX",
             "SE", "PL", "KR", "TR", "ZA", "AR", "NG"]
TEXT_COLUMNS: dict[str, tuple[list[str], list[float], float]] = {
    # name: (values, weights, fraction missing)
    "country": (COUNTRIES, [1 / (rank + 1) for rank in range(len(COUNTRIES))], 0.0),
    "device": (["mobile", "desktop", "tablet", "tv"], [0.6, 0.3, 0.08, 0.02], 0.01),
    "plan": (["free", "basic", "pro", "team", "enterprise"], [0.5, 0.2, 0.15, 0.1, 0.05], 0.0),
    "channel": (["organic", "paid_search", "social", "email", "referral", "direct"],
                [0.3, 0.2, 0.2, 0.1, 0.1, 0.1], 0.02),
    "status": (["ok", "error", "timeout"], [0.95, 0.04, 0.01], 0.0),
}


def chunk(rng: Any, start: int, n: int) -> Any:
    """Rows ``start`` to ``start + n`` of the benchmark table, as a pyarrow Table."""
    import numpy as np
    import pyarrow as pa

    def missing(fraction: float) -> Any:
        return rng.random(n) < fraction if fraction else None

    def number(values: Any, fraction: float = 0.0) -> Any:
        return pa.array(values, mask=missing(fraction))

    def text(name: str) -> Any:
        values, weights, fraction = TEXT_COLUMNS[name]
        p = np.asarray(weights) / sum(weights)
        codes = rng.choice(len(values), size=n, p=p).astype(np.int32)
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=missing(fraction)), pa.array(values)
        ).cast(pa.string())

    ids = np.arange(start, start + n, dtype=np.int64)
    seconds = ids * 3 + rng.integers(0, 3, size=n)
    columns = {
        "event_id": number(ids),
        "event_time": number(np.datetime64("2024-01-01T00:00:00", "s") + seconds),
        "user_id": number(rng.integers(1, 2_000_000, size=n)),
        "session_id": number(rng.integers(1, 50_000_000, size=n)),
        "age": number(rng.integers(18, 90, size=n), 0.03),
        "country": text("country"),
        "device": text("device"),
        "plan": text("plan"),
        "channel": text("channel"),
        "status": text("status"),
        "is_returning": number(rng.random(n) < 0.4),
        "clicks": number(rng.poisson(3.0, size=n)),
        "items": number(rng.poisson(1.2, size=n)),
        "duration_s": number(np.round(rng.exponential(60.0, size=n), 1)),
        "amount": number(np.round(rng.lognormal(3.0, 1.0, size=n), 2), 0.10),
        "discount": number(np.round(rng.uniform(0.0, 0.3, size=n), 3), 0.40),
        "income": number(np.round(rng.normal(52_000, 18_000, size=n), 2), 0.08),
        "score": number(np.round(rng.normal(0.0, 1.0, size=n), 4)),
        "latitude": number(np.round(rng.uniform(-60.0, 70.0, size=n), 5)),
        "longitude": number(np.round(rng.uniform(-180.0, 180.0, size=n), 5), 0.05),
    }
    return pa.table(columns)


def generate_csv(path: Path, rows: int) -> None:
    """Write ``rows`` rows to ``path``, ``CHUNK_ROWS`` at a time; the file appears whole or
    not at all."""
    import numpy as np
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(SEED)
    partial = path.with_name(path.name + ".partial")
    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = chunk(rng, start, min(CHUNK_ROWS, rows - start))
            if writer is None:
                writer = pacsv.CSVWriter(partial, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# -- the children ----------------------------------------------------------------------
class StageMeter:
    """Time and peak RSS of each stage of one run, for ``--profile``.

    The peak is exact, not sampled: when a stage starts or ends, the kernel's high-water
    mark (VmHWM) since the last reading is credited to every open stage and then reset by
    writing 5 to /proc/self/clear_refs. Resetting it also resets the process's
    ``ru_maxrss``, so a profiled run is never the measured one.
    """

    def __init__(self) -> None:
        self.order: list[str] = []
        self.depth: dict[str, int] = {}
        self.seconds: dict[str, float] = defaultdict(float)
        self.inner_seconds: dict[str, float] = defaultdict(float)
        self.peak_kib: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self.exact = self._reset()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._mark()
        if name not in self.depth:
            self.order.append(name)
            self.depth[name] = len(self.stack)
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self._mark()
            self.stack.pop()
            self.seconds[name] += elapsed
            self.calls[name] += 1
            if parent is not None:
                self.inner_seconds[parent] += elapsed

    def report(self) -> list[dict[str, Any]]:
        return [
            {"stage": name, "depth": self.depth[name], "calls": self.calls[name],
             "seconds": self.seconds[name],
             "self_seconds": self.seconds[name] - self.inner_seconds[name],
             "peak_kib": self.peak_kib[name] if self.exact else None}
            for name in self.order
        ]

    def _mark(self) -> None:
        hwm = _results.status_kib("VmHWM")
        for name in self.stack:
            self.peak_kib[name] = max(self.peak_kib[name], hwm)
        self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
            return True
        except OSError:
            return False


def instrument(meter: StageMeter) -> None:
    """Wrap the stages of ``DataVersions.add`` in ``meter``, in this process only."""
    import pyarrow.parquet as pq

    from gapless.data import snapshot, versions
    from gapless.stores import artifacts, bytestores

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with meter.stage(name):
                return function(*args, **kwargs)

        return wrapper

    def timed_batches(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            batches = function(*args, **kwargs)
            while True:
                with meter.stage("read + parse CSV batches (pyarrow)"):
                    batch = next(batches, None)
                if batch is None:
                    return
                yield batch

        return wrapper

    repository = versions.DataRepository
    versions.open_source = timed("open source (sniff encoding, delimiter)",
                                 versions.open_source)
    versions.write_snapshot = timed("snapshot: CSV -> Parquet (snapshot.py)",
                                    versions.write_snapshot)
    snapshot._batches = timed_batches(snapshot._batches)
    pq.ParquetWriter.write_table = timed("write Parquet row groups (zstd)",
                                         pq.ParquetWriter.write_table)
    snapshot.hash_file = timed("sha256 of the snapshot", snapshot.hash_file)
    repository.with_digest = timed("metadata: look up digest", repository.with_digest)
    versions.column_stats = timed("column stats (DuckDB, stats.py)", versions.column_stats)
    artifacts.ArtifactStore.put_file = timed("artifact store put_file (stores/)",
                                             artifacts.ArtifactStore.put_file)
    artifacts.hash_file = timed("sha256 of the snapshot, again", artifacts.hash_file)
    bytestores.LocalByteStore.put_file = timed("copy + fsync into the store",
                                               bytestores.LocalByteStore.put_file)
    repository.insert_version = timed("metadata: insert version", repository.insert_version)
    versions.DataVersions._cache = timed("copy into the dataset cache",
                                         versions.DataVersions._cache)


def run_side(side: str, csv: Path, workdir: Path, result: Path, rows: int,
             profile: bool) -> None:
    """One side's work, in this (child) process; what it measured goes to ``result``."""
    record: dict[str, Any] = {"side": side}
    if side == "generate":
        start = time.perf_counter()
        generate_csv(csv, rows)
        record.update(seconds=time.perf_counter() - start, rows=rows)
    elif side == "gapless":
        import gapless

        meter = StageMeter() if profile else None
        if meter is not None:
            instrument(meter)
        start = time.perf_counter()
        with nullcontext() if meter is None else meter.stage("total"):
            workspace = gapless.Workspace.init(workdir)
            try:
                added = workspace.data.add("big", csv)
            finally:
                workspace.close()
        record.update(seconds=time.perf_counter() - start, rows=added.version.row_count,
                      output_bytes=added.version.size, message=added.message)
        if meter is not None:
            record["stages"] = meter.report()
    elif side == "pandas":
        import pandas as pd

        output = workdir / "big.parquet"
        start = time.perf_counter()
        frame = pd.read_csv(csv)
        frame.to_parquet(output)
        record.update(seconds=time.perf_counter() - start, rows=len(frame),
                      output_bytes=output.stat().st_size)
    else:
        raise SystemExit(f"unknown side {side!r}; known: generate, {', '.join(SIDES)}")
    record["vm_hwm_kib"] = _results.status_kib("VmHWM")
    result.write_text(json.dumps(record), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    side: str
    rows: int
    seconds: float  # the work, timed inside the child
    process_seconds: float  # the child process, start to exit
    peak_kib: int  # ru_maxrss of the child, from os.wait4
    own_hwm_kib: int  # the child's VmHWM at its end, a cross-check
    output_bytes: int
    extra: dict[str, Any]

    @property
    def peak_bytes(self) -> int:
        return self.peak_kib * 1024


def spawn(side: str, csv: Path, workdir: Path, rows: int, *, profile: bool = False
          ) -> Measurement:
    """Run one side in a fresh child process and reap it alone with ``os.wait4``."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir.parent / f"{workdir.name}-result.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--side", side,
               "--csv", str(csv), "--workdir", str(workdir), "--result", str(result),
               "--rows", str(rows), *(["--profile"] if profile else [])]
    print(f"{side}{' (profiled)' if profile else ''}: running ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the {side} child failed with exit status {child.returncode}; "
                         "its error is printed above")
    record = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    measurement = Measurement(
        side=side, rows=int(record["rows"]), seconds=float(record["seconds"]),
        process_seconds=elapsed, peak_kib=usage.ru_maxrss,
        own_hwm_kib=int(record["vm_hwm_kib"]), output_bytes=int(record.get("output_bytes", 0)),
        extra={k: v for k, v in record.items() if k in ("stages", "message")},
    )
    peak = "" if profile else f", peak RSS {measurement.peak_kib / 1024:,.0f} MiB"
    print(f"{side}: {measurement.seconds:.1f} s{peak}", file=sys.stderr, flush=True)
    return measurement


def dataset(rows: int, keep: Path | None, scratch: Path) -> tuple[Path, float | None]:
    """The benchmark CSV: reused from ``keep`` when there, else generated; with the
    seconds generating took (None when reused)."""
    folder = keep if keep is not None else scratch
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"ingest-{rows}rows-seed{SEED}.csv"
    if csv.exists():
        print(f"reusing {csv}", file=sys.stderr, flush=True)
        return csv, None
    print(f"generating {rows:,} rows into {csv} ...", file=sys.stderr, flush=True)
    generated = spawn("generate", csv, scratch / "generate", rows)
    return csv, generated.seconds


def compare(rows: int, keep: Path | None, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gapless-bench-ingest-") as tmp:
        scratch = Path(tmp)
        csv, generate_seconds = dataset(rows, keep, scratch)
        measured: dict[str, Measurement] = {}
        for side in SIDES:
            measured[side] = spawn(side, csv, scratch / side, rows)
            _remove_tree(scratch / side)  # free the disk before the next side
        for m in measured.values():
            if m.rows != rows:
                raise SystemExit(f"{m.side} read {m.rows:,} rows from {csv}, expected {rows:,}; "
                                 "the timing would not compare like with like")
        profiled = spawn("gapless", csv, scratch / "profile", rows, profile=True) if (
            profile) else None
        return {"measured": measured, "profiled": profiled, "csv_bytes": csv.stat().st_size,
                "generate_seconds": generate_seconds}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# -- report ----------------------------------------------------------------------------
def table(measured: dict[str, Measurement]) -> str:
    lines = ["| side | rows | wall s | peak RSS MiB | output size MiB | process wall s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for side, label in (("gapless", "gapless `ws.data.add`"),
                        ("pandas", "`pandas.read_csv(...).to_parquet(...)`")):
        m = measured[side]
        lines.append(f"| {label} | {m.rows:,} | {m.seconds:.1f} | {m.peak_kib / 1024:,.0f} "
                     f"| {m.output_bytes / MIB:,.1f} | {m.process_seconds:.1f} |")
    return "\n".join(lines)


def verdict(measured: dict[str, Measurement]) -> str:
    g, p = measured["gapless"], measured["pandas"]
    under = g.peak_bytes < LIMIT_BYTES
    return (
        f"- Ratios: gapless takes {g.seconds / p.seconds:.2f}x pandas' time; pandas peaks at "
        f"{p.peak_kib / g.peak_kib:.2f}x gapless' RSS\n"
        f"- gapless peak RSS < 1.5 GB (1,500,000,000 bytes = {LIMIT_BYTES / MIB:,.0f} MiB): "
        f"{'yes' if under else '**no**'} ({g.peak_bytes / 1e9:.2f} GB)\n"
        f"- Cross-check, each child's own VmHWM: gapless {g.own_hwm_kib / 1024:,.0f} MiB, "
        f"pandas {p.own_hwm_kib / 1024:,.0f} MiB"
    )


def stage_table(profiled: Measurement) -> str:
    lines = ["| stage | calls | time s | self s | peak RSS MiB |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for stage in profiled.extra["stages"]:
        indent = "&nbsp;&nbsp;" * stage["depth"]
        peak = "n/a" if stage["peak_kib"] is None else f"{stage['peak_kib'] / 1024:,.0f}"
        lines.append(f"| {indent}{stage['stage']} | {stage['calls']} | {stage['seconds']:.2f} "
                     f"| {stage['self_seconds']:.2f} | {peak} |")
    return "\n".join(lines)


def section(outcome: dict[str, Any], rows: int, profile: bool) -> str:
    measured: dict[str, Measurement] = outcome["measured"]
    begin, end = _results.markers(SECTION)
    note = ("" if rows == DEFAULT_ROWS else
            f"\n**{rows:,} rows, not the issue's {DEFAULT_ROWS:,}: a smoke check, not the "
            "reference numbers.**\n")
    profiled = outcome["profiled"]
    stages = "" if profiled is None else f"""
Where gapless spends it (`--profile`: a separate gapless run with its stages wrapped;
time is inclusive, self excludes the stages listed under it; the peak is exact per
stage, from the kernel's high-water mark):

{stage_table(profiled)}
"""
    return f"""{begin}
## Ingestion: gapless `data.add` vs `pandas.read_csv(...).to_parquet(...)`
{note}
- Date: {_results.now()}
- Command: `{_results.command(default_run=rows == DEFAULT_ROWS and not profile)}`
- Machine: {_results.machine()}
- Versions: gapless {_results.version("gapless")}, pyarrow {_results.version("pyarrow")}, \
pandas {_results.version("pandas")}, DuckDB {_results.version("duckdb")}, \
numpy {_results.version("numpy")}
- Data: one CSV of {rows:,} rows x 20 columns ({outcome["csv_bytes"] / MIB:,.0f} MiB; 6 integer,
  7 float, 5 low-cardinality text, 1 timestamp, 1 boolean; 7 columns with missing values),
  generated with seed {SEED}

{table(measured)}

{verdict(measured)}
{stages}
How it is measured (see the docstring of `benchmarks/bench_ingest.py`): one run per side,
each in its own fresh child process reaped with `os.wait4`, so the peak RSS
(`ru_maxrss`) is that side's alone. "wall s" is the work: gapless `Workspace.init` +
`data.add` (stream CSV -> Parquet snapshot, sha256, DuckDB column stats, artifact
store, metadata record); pandas `read_csv` with its defaults + `to_parquet` with its
defaults (pyarrow, snappy; gapless writes zstd level 1). "process wall s" adds
interpreter start-up and imports. Both read the same file from the page cache.
{end}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows in the generated CSV (default {DEFAULT_ROWS:,})")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose ingest section is replaced with the results")
    parser.add_argument("--keep-data", type=Path, metavar="DIR",
                        help="keep the generated CSV in DIR and reuse it when it is there")
    parser.add_argument("--profile", action="store_true",
                        help="also run gapless once more with a per-stage time/memory breakdown")
    # The child processes' mode; not for people.
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    if args.side is not None:
        run_side(args.side, args.csv, args.workdir, args.result, args.rows, args.profile)
        return 0
    outcome = compare(args.rows, args.keep_data, args.profile)
    if outcome["generate_seconds"] is not None:
        print(f"generated the CSV ({outcome['csv_bytes'] / MIB:,.0f} MiB) in "
              f"{outcome['generate_seconds']:.1f} s", file=sys.stderr)
    print(table(outcome["measured"]))
    print(verdict(outcome["measured"]))
    if outcome["profiled"] is not None:
        print(stage_table(outcome["profiled"]))
    if args.output is not None:
        _results.write_section(args.output, SECTION, section(outcome, args.rows, args.profile))
        print(f"wrote the {SECTION} section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

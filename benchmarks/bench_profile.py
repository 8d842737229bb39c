"""Profiling at scale: gapless ``profile`` + its HTML report, beside a pandas floor.

The issue's bar: a 1M-row x 20-column table profiles in under 15 s on the reference
machine (2 cores), end to end as a user runs it::

    from gapless.data.profiling import profile
    from gapless.reports.profile import profile_html
    from gapless.reports.render import write_html

    p = profile(path, target="c1")
    write_html("profile.html", profile_html(p))

The baseline is ``pandas.read_parquet(path)`` followed by ``df.describe(include="all")``,
``df.corr(numeric_only=True)`` and ``df.corr(method="spearman", numeric_only=True)``. It
computes far less than the gapless profile (no histograms, no Cramér's V, no target
association, no PCA, no alerts, no report), so it is a floor, not a like-for-like peer;
the like-for-like peer, ydata-profiling, is not installed in the benchmark venv.

1. A seeded mixed table is generated once, in a child process, into a Parquet file
   written as gapless writes its snapshots (zstd level 1, row groups of 1,048,576 rows):
   8 floats with 5% missing (sharing one latent factor, so correlations and PCA have
   structure), 4 integers, 1 lognormal, 7 text categoricals with 2, 5, 12, 40, 300, 3
   and 7 levels (skewed frequencies) and 2% missing. ``c1`` (5 levels) is the target,
   and shifts ``f0``, so target association finds something.
2. Each side then runs once in its own fresh child process (``--side``), which times
   its steps from just before the first call to just after the last (interpreter start
   and imports excluded, gapless' lazy imports too; the process wall time, which
   includes them, is reported beside it). The parent reaps each child with
   ``os.wait4``, whose rusage is that child's alone; its ``ru_maxrss`` is the peak RSS.
   The parent imports only the standard library, because on Linux a child's
   ``ru_maxrss`` starts from its parent's at fork. Each child also reports its own
   ``VmHWM`` as a cross-check.
3. Both sides read the same file, just written, so both read it from the page cache.
   Row counts are checked on both sides.

``--cprofile`` adds a third child: gapless again under ``cProfile`` (never the measured
run, since tracing slows pure-Python code), listing where the profile's time goes.

Run ``make bench`` (or ``python benchmarks/bench_profile.py --output
benchmarks/RESULTS.md``); ``--rows 100000`` for a smoke check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _results

SECTION = "profile"
DEFAULT_ROWS = 1_000_000
CHUNK_ROWS = 1024 * 1024  # one chunk per row group, as gapless snapshots are written
SEED = 20240611
LIMIT_SECONDS = 15.0  # the bar
TARGET = "c1"
FLOATS, INTEGERS = 8, 4
LEVELS = (2, 5, 12, 40, 300, 3, 7)  # levels of categoricals c0 .. c6
FLOAT_MISSING, CATEGORY_MISSING = 0.05, 0.02
MIB = 1024 * 1024
SIDES = ("gapless", "pandas")
CPROFILE_TOP = 20


# -- the data --------------------------------------------------------------------------
def chunk(rng: Any, n: int) -> Any:
    """``n`` rows of the benchmark table, as a pyarrow Table."""
    import numpy as np
    import pyarrow as pa

    def text(index: int, levels: int) -> Any:
        weights = 1.0 / np.arange(1, levels + 1) ** 0.8
        codes = rng.choice(levels, size=n, p=weights / weights.sum()).astype(np.int32)
        names = pa.array([f"c{index}_level_{j:03d}" for j in range(levels)])
        return codes, pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=rng.random(n) < CATEGORY_MISSING), names
        ).cast(pa.string())

    categoricals = {f"c{i}": text(i, levels) for i, levels in enumerate(LEVELS)}
    target_codes = categoricals[TARGET][0]
    latent = rng.normal(0.0, 1.0, size=n)
    columns: dict[str, Any] = {}
    for i in range(FLOATS):
        values = (i + 1) * latent + rng.normal(i * 10.0, 1.0 + i, size=n)
        if i == 0:
            values += 0.5 * target_codes
        columns[f"f{i}"] = pa.array(values, mask=rng.random(n) < FLOAT_MISSING)
    columns["i0"] = pa.array(rng.integers(0, 10, size=n))
    columns["i1"] = pa.array(rng.integers(0, 1_000, size=n))
    columns["i2"] = pa.array(rng.poisson(3.0, size=n))
    columns["i3"] = pa.array(rng.integers(0, 1_000_000, size=n))
    columns["amount"] = pa.array(np.round(rng.lognormal(3.0, 1.0, size=n), 2))
    columns.update({name: array for name, (_, array) in categoricals.items()})
    return pa.table(columns)


def generate_parquet(path: Path, rows: int) -> None:
    """Write ``rows`` rows to ``path``; the file appears whole or not at all."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    partial = path.with_name(path.name + ".partial")
    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = chunk(rng, min(CHUNK_ROWS, rows - start))
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="zstd",
                                          compression_level=1)
            writer.write_table(table, row_group_size=CHUNK_ROWS)
        if writer is not None:
            writer.close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# -- the children ----------------------------------------------------------------------
def import_gapless() -> tuple[Any, Any, Any]:
    """gapless' profile and report functions, with the libraries they import lazily
    (DuckDB, pyarrow, plotly, Jinja), so the timed calls do no importing."""
    import duckdb  # noqa: F401
    import jinja2  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import plotly.io  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from gapless.data.profiling import profile
    from gapless.reports.profile import profile_html
    from gapless.reports.render import write_html

    return profile, profile_html, write_html


def run_gapless(data: Path, workdir: Path) -> dict[str, Any]:
    """The user's two calls: profile the file, render and write its HTML report."""
    start = time.perf_counter()
    profile, profile_html, write_html = import_gapless()
    imported = time.perf_counter()
    result = profile(data, target=TARGET)
    profiled = time.perf_counter()
    html = profile_html(result)
    rendered = time.perf_counter()
    report = write_html(workdir / "profile.html", html)
    written = time.perf_counter()
    return {"rows": result["table"]["rows"], "import_seconds": imported - start,
            "compute_seconds": profiled - imported, "render_seconds": rendered - profiled,
            "write_seconds": written - rendered, "seconds": written - imported,
            "html_bytes": report.stat().st_size, "alerts": len(result["alerts"])}


def run_pandas(data: Path) -> dict[str, Any]:
    """What people write without a profiler: summary statistics and two correlations."""
    start = time.perf_counter()
    import pandas as pd
    import pyarrow.parquet  # noqa: F401

    imported = time.perf_counter()
    frame = pd.read_parquet(data)
    read = time.perf_counter()
    frame.describe(include="all")
    described = time.perf_counter()
    frame.corr(numeric_only=True)
    pearson = time.perf_counter()
    frame.corr(method="spearman", numeric_only=True)
    done = time.perf_counter()
    return {"rows": len(frame), "import_seconds": imported - start,
            "read_seconds": read - imported, "describe_seconds": described - read,
            "pearson_seconds": pearson - described, "spearman_seconds": done - pearson,
            "seconds": done - imported}


def run_cprofile(data: Path, workdir: Path) -> dict[str, Any]:
    """gapless under cProfile: the costliest gapless functions and calls overall."""
    import cProfile
    import pstats

    import gapless

    profile, profile_html, write_html = import_gapless()
    package = str(Path(gapless.__file__).resolve().parent)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    write_html(workdir / "profile.html", profile_html(profile(data, target=TARGET)))
    profiler.disable()
    seconds = time.perf_counter() - start
    entries = [
        {"function": _function_label(where, package), "calls": calls, "self": own,
         "cumulative": cumulative, "ours": where[0].startswith(package)}
        for where, (_, calls, own, cumulative, _) in pstats.Stats(profiler).stats.items()
    ]
    ours = sorted((e for e in entries if e["ours"]), key=lambda e: -e["cumulative"])
    hot = sorted(entries, key=lambda e: -e["self"])
    return {"rows": 0, "seconds": seconds, "ours": ours[:CPROFILE_TOP],
            "hot": hot[:CPROFILE_TOP]}


def _function_label(where: tuple[str, int, str], package: str) -> str:
    filename, line, name = where
    if filename == "~":  # a builtin or C function
        return name
    if filename.startswith(package):
        filename = "gapless/" + filename[len(package):].lstrip("/")
    else:
        filename = Path(filename).name
    return f"{filename}:{line} {name}"


def run_side(side: str, data: Path, workdir: Path, result: Path, rows: int) -> None:
    """One side's work, in this (child) process; what it measured goes to ``result``."""
    if side == "generate":
        start = time.perf_counter()
        generate_parquet(data, rows)
        record = {"rows": rows, "seconds": time.perf_counter() - start}
    elif side == "gapless":
        record = run_gapless(data, workdir)
    elif side == "pandas":
        record = run_pandas(data)
    elif side == "cprofile":
        record = run_cprofile(data, workdir)
    else:
        raise SystemExit(f"unknown side {side!r}; known: generate, cprofile, {', '.join(SIDES)}")
    record.update(side=side, vm_hwm_kib=_results.status_kib("VmHWM"))
    result.write_text(json.dumps(record), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    side: str
    rows: int
    seconds: float  # the work, timed inside the child, imports excluded
    process_seconds: float  # the child process, start to exit
    peak_kib: int  # ru_maxrss of the child, from os.wait4
    own_hwm_kib: int  # the child's VmHWM at its end, a cross-check
    extra: dict[str, Any]


def spawn(side: str, data: Path, workdir: Path, rows: int) -> Measurement:
    """Run one side in a fresh child process and reap it alone with ``os.wait4``."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir.parent / f"{workdir.name}-result.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--side", side,
               "--data", str(data), "--workdir", str(workdir), "--result", str(result),
               "--rows", str(rows)]
    print(f"{side}: running ...", file=sys.stderr, flush=True)
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
        side=side, rows=int(record.pop("rows")), seconds=float(record.pop("seconds")),
        process_seconds=elapsed, peak_kib=usage.ru_maxrss,
        own_hwm_kib=int(record.pop("vm_hwm_kib")), extra=record,
    )
    print(f"{side}: {measurement.seconds:.1f} s (process {elapsed:.1f} s), "
          f"peak RSS {measurement.peak_kib / 1024:,.0f} MiB", file=sys.stderr, flush=True)
    return measurement


def compare(rows: int, cprofile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gapless-bench-profile-") as tmp:
        scratch = Path(tmp)
        data = scratch / f"profile-{rows}rows-seed{SEED}.parquet"
        print(f"generating {rows:,} rows into {data} ...", file=sys.stderr, flush=True)
        generated = spawn("generate", data, scratch / "generate", rows)
        measured = {side: spawn(side, data, scratch / side, rows) for side in SIDES}
        for m in measured.values():
            if m.rows != rows:
                raise SystemExit(f"{m.side} read {m.rows:,} rows from {data}, expected "
                                 f"{rows:,}; the timing would not compare like with like")
        profiled = spawn("cprofile", data, scratch / "cprofile", rows) if cprofile else None
        return {"measured": measured, "profiled": profiled, "data_bytes": data.stat().st_size,
                "generate_seconds": generated.seconds}


# -- report ----------------------------------------------------------------------------
def table(measured: dict[str, Measurement]) -> str:
    g, p = measured["gapless"], measured["pandas"]
    lines = ["| side | rows | compute s | report s | work s | process wall s | peak RSS MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| gapless `profile` + `profile_html` + `write_html` | {g.rows:,} "
             f"| {g.extra['compute_seconds']:.2f} "
             f"| {g.extra['render_seconds'] + g.extra['write_seconds']:.2f} "
             f"| {g.seconds:.2f} | {g.process_seconds:.2f} | {g.peak_kib / 1024:,.0f} |",
             f"| pandas `read_parquet` + `describe` + 2x `corr` (a floor) | {p.rows:,} "
             f"| {p.seconds:.2f} | - | {p.seconds:.2f} | {p.process_seconds:.2f} "
             f"| {p.peak_kib / 1024:,.0f} |"]
    return "\n".join(lines)


def verdict(measured: dict[str, Measurement]) -> str:
    g, p = measured["gapless"], measured["pandas"]
    under = g.process_seconds < LIMIT_SECONDS
    return (
        f"- gapless end to end (child process wall: interpreter start, imports, profile, "
        f"report) < {LIMIT_SECONDS:.0f} s: {'yes' if under else '**no**'} "
        f"({g.process_seconds:.2f} s; the work alone {g.seconds:.2f} s)\n"
        f"- gapless steps: imports {g.extra['import_seconds']:.2f} s, `profile` "
        f"{g.extra['compute_seconds']:.2f} s, `profile_html` {g.extra['render_seconds']:.2f} s, "
        f"`write_html` {g.extra['write_seconds']:.2f} s ({g.extra['html_bytes'] / MIB:,.1f} MiB "
        f"of HTML, {g.extra['alerts']} alerts)\n"
        f"- pandas steps: imports {p.extra['import_seconds']:.2f} s, `read_parquet` "
        f"{p.extra['read_seconds']:.2f} s, `describe` {p.extra['describe_seconds']:.2f} s, "
        f"`corr` {p.extra['pearson_seconds']:.2f} s, spearman `corr` "
        f"{p.extra['spearman_seconds']:.2f} s\n"
        f"- Ratios: gapless' work takes {g.seconds / p.seconds:.2f}x the pandas floor's "
        f"({g.seconds / (p.seconds - p.extra['spearman_seconds']):.2f}x without its spearman "
        f"`corr`); gapless peaks at {g.peak_kib / p.peak_kib:.2f}x its RSS\n"
        f"- Cross-check, each child's own VmHWM: gapless {g.own_hwm_kib / 1024:,.0f} MiB, "
        f"pandas {p.own_hwm_kib / 1024:,.0f} MiB"
    )


def cprofile_table(profiled: Measurement) -> str:
    lines = ["| gapless function (cumulative, under cProfile) | calls | cumulative s | self s |",
             "| --- | ---: | ---: | ---: |"]
    for e in profiled.extra["ours"]:
        lines.append(f"| `{e['function']}` | {e['calls']:,} | {e['cumulative']:.2f} "
                     f"| {e['self']:.2f} |")
    lines += ["", "| any function (self time, under cProfile) | calls | self s | cumulative s |",
              "| --- | ---: | ---: | ---: |"]
    for e in profiled.extra["hot"]:
        lines.append(f"| `{e['function']}` | {e['calls']:,} | {e['self']:.2f} "
                     f"| {e['cumulative']:.2f} |")
    return "\n".join(lines)


def section(outcome: dict[str, Any], rows: int, cprofile: bool) -> str:
    measured: dict[str, Measurement] = outcome["measured"]
    begin, end = _results.markers(SECTION)
    note = ("" if rows == DEFAULT_ROWS else
            f"\n**{rows:,} rows, not the issue's {DEFAULT_ROWS:,}: a smoke check, not the "
            "reference numbers.**\n")
    profiled = outcome["profiled"]
    where = "" if profiled is None else f"""
Where gapless spends it (`--cprofile`: a separate gapless run under cProfile,
{profiled.seconds:.1f} s traced; tracing slows pure-Python code, so read the shares, not
the totals; time inside DuckDB queries shows as `execute` / `fetchall`):

{cprofile_table(profiled)}
"""
    return f"""{begin}
## Profiling: gapless `profile` + HTML report vs a pandas floor

**The pandas baseline is a floor, not a like-for-like peer:** `describe` and two
correlation matrices compute far less than the gapless profile (no histograms, no
Cramér's V, no target association, no PCA, no duplicate rows or columns, no alerts, no
report). The like-for-like peer, ydata-profiling, is not installed in the benchmark venv.
{note}
- Date: {_results.now()}
- Command: `{_results.command(default_run=rows == DEFAULT_ROWS and not cprofile)}`
- Machine: {_results.machine()}
- Versions: gapless {_results.version("gapless")}, DuckDB {_results.version("duckdb")}, \
pyarrow {_results.version("pyarrow")}, pandas {_results.version("pandas")}, \
numpy {_results.version("numpy")}, plotly {_results.version("plotly")}
- Data: one Parquet file of {rows:,} rows x 20 columns ({outcome["data_bytes"] / MIB:,.0f} MiB,
  zstd; 8 float with 5% missing, 4 integer, 1 lognormal, 7 text categorical with
  {", ".join(map(str, LEVELS))} levels and 2% missing), generated with seed {SEED};
  target `{TARGET}` ({LEVELS[1]} levels)

{table(measured)}

{verdict(measured)}
{where}
How it is measured (see the docstring of `benchmarks/bench_profile.py`): one run per side,
each in its own fresh child process reaped with `os.wait4`, so the peak RSS
(`ru_maxrss`) is that side's alone. gapless: "compute" is `profile(path,
target="{TARGET}")` (DuckDB column statistics and histograms over every row, duplicate rows
and columns, correlations, Cramér's V, target association and PCA on a 200,000-row seeded
sample, alerts); "report" is `profile_html` + `write_html`. pandas: "compute" is
`read_parquet` + `describe(include="all")` + `corr(numeric_only=True)` +
`corr(method="spearman", numeric_only=True)`, all over every row: pandas' Spearman with
missing values ranks each pair of columns on its own complete rows, so it grows with
rows x pairs, while gapless computes its correlations on the sample. "work" excludes
imports (each child imports its libraries first, gapless' lazily imported DuckDB,
pyarrow, plotly and Jinja included); "process wall" is the child from start to exit, the
time a user waits. Both read the same file from the page cache.
{end}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows in the generated table (default {DEFAULT_ROWS:,})")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose profile section is replaced with the results")
    parser.add_argument("--cprofile", action="store_true",
                        help="also run gapless once more under cProfile and list where "
                             "the time goes")
    # The child processes' mode; not for people.
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    if args.side is not None:
        run_side(args.side, args.data, args.workdir, args.result, args.rows)
        return 0
    outcome = compare(args.rows, args.cprofile)
    print(f"generated the Parquet file ({outcome['data_bytes'] / MIB:,.0f} MiB) in "
          f"{outcome['generate_seconds']:.1f} s", file=sys.stderr)
    print(table(outcome["measured"]))
    print(verdict(outcome["measured"]))
    if outcome["profiled"] is not None:
        print(cprofile_table(outcome["profiled"]))
    if args.output is not None:
        _results.write_section(args.output, SECTION, section(outcome, args.rows, args.cprofile))
        print(f"wrote the {SECTION} section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Data drift at scale: gapless ``data_drift`` beside Evidently's DataDriftPreset and a
NumPy/SciPy floor, on the same two frames, in one run.

The data: a reference and a current frame of N rows each (default 1,000,000) x 20
numeric + 5 categorical columns, generated from one seeded numpy generator. Some columns
of the current frame are shifted by known amounts (``SHIFTS``): large, medium and tiny
moves of the mean, a change of spread, a multiplicative change, rows moved to one level,
a level that is new in the current frame. The tiny ones are the shifts a p-value test
flags on a million rows although they hardly matter. The others are drawn from the
reference's distribution, two of them with 2% missing values on both sides.

The sides, each computing per-column drift over every row:

(a) Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` with every default
    (it picks a test per column from its type and the reference's size) and
    ``snapshot.dict()`` to read the results. Evidently 0.7 needs pandas < 3 and gapless
    pandas 3, so this side runs with the Python of its own venv, ``.venv-evidently``
    (``make .venv-evidently/.installed``; ``--evidently-python`` points elsewhere).
(b) The floor, what one writes by hand: per numeric column ``scipy.stats.ks_2samp``, a
    PSI over 10 reference-quantile bins (numpy) and ``scipy.stats.wasserstein_distance``;
    per categorical column the level counts (pandas ``value_counts``), then
    ``scipy.stats.chi2_contingency`` and the Jensen-Shannon distance
    (``scipy.spatial.distance.jensenshannon``). No verdict logic, no report.
(c) gapless: ``gapless.monitoring.drift.data_drift(reference, current)`` with its
    defaults. Where that import fails, this side is skipped with a note and the others
    are still measured and reported.

How it is measured:

1. The two frames are generated once, in a child process, and written as Parquet files
   to a temporary folder.
2. Each side runs once in its own fresh child process (``--side``): it imports its
   libraries, reads both files with ``pandas.read_parquet`` (timed apart, as "read"),
   runs itself once on the first 5,000 rows of each frame (a warm-up, untimed, so lazy
   imports are not counted), then times its computation on the whole frames. The parent
   reaps each child with ``os.wait4``, whose rusage is that child's alone; its
   ``ru_maxrss`` is the peak RSS, frames included. The parent imports only the standard
   library, because on Linux a child's ``ru_maxrss`` starts from its parent's at fork.
   Each child also reports its own ``VmHWM`` and the in-memory size of its two frames
   (``memory_usage(deep=True)``; pandas 2 holds text as Python objects, pandas 3 as
   Arrow strings, so the sizes differ).
3. Each side must report all 25 columns, so all did the same work.

Run ``make bench`` (or ``python benchmarks/bench_drift.py --output
benchmarks/RESULTS.md``); ``--quick`` for a 100,000-row smoke check; ``--sides`` to run
some sides only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _results

SECTION = "drift"
DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 100_000
WARMUP_ROWS = 5_000
SEED = 20240717
MIB = 1024 * 1024
SIDES = ("floor", "gapless", "evidently")
LABELS = {"evidently": "Evidently `DataDriftPreset`", "floor": "NumPy/SciPy floor",
          "gapless": "gapless `data_drift`"}
EVIDENTLY_PYTHON = Path(__file__).resolve().parent.parent / ".venv-evidently" / "bin" / "python"
PSI_BINS = 10

# name -> distribution; the number in the name orders the columns.
NUMERIC = {**{f"n{i:02d}": "normal" for i in range(0, 6)},
           **{f"n{i:02d}": "lognormal" for i in range(6, 10)},
           **{f"n{i:02d}": "exponential" for i in range(10, 13)},
           **{f"n{i:02d}": "uniform" for i in range(13, 16)},
           **{f"n{i:02d}": "integer" for i in range(16, 20)}}
LEVELS = {"c0": 3, "c1": 5, "c2": 8, "c3": 20, "c4": 50}
MISSING = {"n04": 0.02, "n13": 0.02, "c4": 0.02}  # on both sides, unshifted
# column -> (size, what changes in the current frame); see ``current_values``.
SHIFTS = {
    "n00": ("large", "mean + 0.5 sd"),
    "n01": ("medium", "mean + 0.2 sd"),
    "n02": ("tiny", "mean + 0.02 sd"),
    "n03": ("large", "sd x 1.5, same mean"),
    "n08": ("large", "x 1.35 (log-mean + 0.3)"),
    "n12": ("medium", "scale x 1.2"),
    "n16": ("medium", "+ 50 (0.17 sd)"),
    "c1": ("large", "10% of rows moved to level c1_04"),
    "c2": ("medium", "5% of rows get a new level, c2_new"),
    "c3": ("tiny", "1% of rows moved to level c3_19"),
}


# -- the data --------------------------------------------------------------------------
def numeric_values(rng: Any, name: str, n: int, shifted: bool) -> Any:
    """``n`` values of numeric column ``name``, shifted as ``SHIFTS`` says when ``shifted``."""
    index, family = int(name[1:]), NUMERIC[name]
    if family == "normal":
        mean, sd = 3.0 * index, 1.0 + index % 4
        shift = {"n00": 0.5, "n01": 0.2, "n02": 0.02}.get(name, 0.0) if shifted else 0.0
        spread = 1.5 if shifted and name == "n03" else 1.0
        return rng.normal(mean + shift * sd, sd * spread, size=n)
    if family == "lognormal":
        return rng.lognormal(3.0 + (0.3 if shifted and name == "n08" else 0.0), 0.8, size=n)
    if family == "exponential":
        return rng.exponential(60.0 * (1.2 if shifted and name == "n12" else 1.0), size=n)
    if family == "uniform":
        return rng.uniform(-50.0, 50.0, size=n)
    return rng.integers(0, 1000, size=n) + (50 if shifted and name == "n16" else 0)


def categorical_values(rng: Any, name: str, n: int, shifted: bool) -> tuple[Any, list[str]]:
    """Codes of categorical column ``name`` and the level names they index."""
    import numpy as np

    levels = LEVELS[name]
    names = [f"{name}_{j:02d}" for j in range(levels)]
    weights = 1.0 / np.arange(1, levels + 1) ** 0.8
    codes = rng.choice(levels, size=n, p=weights / weights.sum())
    move = {"c1": (0.10, levels - 1), "c2": (0.05, levels), "c3": (0.01, levels - 1)}
    if shifted and name in move:
        fraction, code = move[name]
        codes[rng.random(n) < fraction] = code
        if code == levels:
            names.append(f"{name}_new")
    return codes, names


def frame(rng: Any, n: int, shifted: bool) -> Any:
    """One of the two frames, as a pyarrow Table."""
    import pyarrow as pa

    def missing(name: str) -> Any:
        return rng.random(n) < MISSING[name] if name in MISSING else None

    columns: dict[str, Any] = {}
    for name in NUMERIC:
        columns[name] = pa.array(numeric_values(rng, name, n, shifted), mask=missing(name))
    for name in LEVELS:
        codes, names = categorical_values(rng, name, n, shifted)
        columns[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes.astype("int32"), mask=missing(name)), pa.array(names)
        ).cast(pa.string())
    return pa.table(columns)


def generate(folder: Path, rows: int) -> dict[str, Any]:
    """Write reference.parquet and current.parquet into ``folder``."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    sizes = {}
    for label, shifted in (("reference", False), ("current", True)):
        table = frame(rng, rows, shifted)
        pq.write_table(table, folder / f"{label}.parquet")
        sizes[f"{label}_arrow_bytes"] = table.nbytes
    return sizes


# -- the sides, each in its own child --------------------------------------------------
def run_evidently(reference: Any, current: Any) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current, reference)
    result = snapshot.dict()
    columns, summary = {}, {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            summary = {"drifted": int(metric["value"]["count"]),
                       "share": float(metric["value"]["share"]),
                       "drift_share": float(config.get("drift_share", 0.5))}
        elif config["type"].endswith(":ValueDrift"):
            method, threshold, score = config["method"], config["threshold"], metric["value"]
            # A p-value drifts below its threshold, a distance at or above it.
            drifted = score < threshold if "p_value" in method else score >= threshold
            columns[config["column"]] = {"test": method, "statistic": score,
                                         "threshold": threshold, "drifted": bool(drifted)}
    summary["dataset_drift"] = summary.get("share", 0.0) >= summary.get("drift_share", 0.5)
    return {"columns": columns, "summary": summary}


def run_floor(reference: Any, current: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from scipy import stats
    from scipy.spatial import distance

    columns = {}
    for name in reference.columns:
        if pd.api.types.is_numeric_dtype(reference[name]):
            ref = reference[name].to_numpy(dtype=float)
            cur = current[name].to_numpy(dtype=float)
            ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
            ks = stats.ks_2samp(ref, cur)
            edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, PSI_BINS + 1))[1:-1])
            bins = len(edges) + 1
            p_ref = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=bins)
            p_cur = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=bins)
            p_ref = np.clip(p_ref / len(ref), 1e-6, None)
            p_cur = np.clip(p_cur / len(cur), 1e-6, None)
            psi = float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))
            wasserstein = float(stats.wasserstein_distance(ref, cur))
            columns[name] = {"kind": "numeric", "ks": float(ks.statistic),
                             "ks_p": float(ks.pvalue), "psi": psi, "wasserstein": wasserstein,
                             "wasserstein_sd": wasserstein / max(float(np.std(ref)), 1e-3)}
        else:
            ref_counts = reference[name].value_counts()
            cur_counts = current[name].value_counts()
            levels = ref_counts.index.union(cur_counts.index)
            ref_n = ref_counts.reindex(levels, fill_value=0).to_numpy()
            cur_n = cur_counts.reindex(levels, fill_value=0).to_numpy()
            chi2 = stats.chi2_contingency(np.vstack([ref_n, cur_n]))
            js = distance.jensenshannon(ref_n / ref_n.sum(), cur_n / cur_n.sum())
            columns[name] = {"kind": "categorical", "chi2": float(chi2.statistic),
                             "chi2_p": float(chi2.pvalue), "js": float(js)}
    return {"columns": columns, "summary": {}}


def import_gapless() -> Any:
    from gapless.monitoring.drift import data_drift

    return data_drift


def run_gapless(reference: Any, current: Any) -> dict[str, Any]:
    report = import_gapless()(reference, current)
    found = report.to_dict()
    columns = {c["column"]: {"test": c["test"], "statistic": c["statistic"],
                             "p_value": c["p_value"], "threshold": c["threshold"],
                             "drifted": c["drifted"], "measures": c.get("measures", {})}
               for c in found["columns"]}
    summary = {"drifted": found.get("drifted_columns"), "share": found.get("drift_share"),
               "drift_share": found.get("share"), "dataset_drift": found.get("dataset_drift")}
    return {"columns": columns, "summary": summary}


RUNNERS = {"evidently": run_evidently, "floor": run_floor, "gapless": run_gapless}


def run_side(side: str, folder: Path, result: Path, rows: int) -> None:
    """One side's work, in this (child) process; what it measured goes to ``result``."""
    record: dict[str, Any] = {"side": side}
    if side == "generate":
        start = time.perf_counter()
        record.update(generate(folder, rows))
        record["seconds"] = time.perf_counter() - start
    else:
        start = time.perf_counter()
        import pandas as pd
        import pyarrow.parquet  # noqa: F401

        if side == "gapless":
            try:
                import_gapless()
            except ImportError as exc:
                record["skipped"] = f"`from gapless.monitoring.drift import data_drift` failed: " \
                                    f"{type(exc).__name__}: {exc}"
                result.write_text(json.dumps(record), encoding="utf-8")
                return
        elif side == "evidently":
            import evidently

            record["evidently_version"] = evidently.__version__
        runner = RUNNERS[side]
        imported = time.perf_counter()
        reference = pd.read_parquet(folder / "reference.parquet")
        current = pd.read_parquet(folder / "current.parquet")
        read = time.perf_counter()
        record["rss_after_read_kib"] = _results.status_kib("VmRSS")
        runner(reference.head(WARMUP_ROWS), current.head(WARMUP_ROWS))
        warm = time.perf_counter()
        outcome = runner(reference, current)
        done = time.perf_counter()
        record.update(outcome, rows=len(reference), import_seconds=imported - start,
                      read_seconds=read - imported, warmup_seconds=warm - read,
                      seconds=done - warm, pandas_version=pd.__version__,
                      frame_bytes=int(reference.memory_usage(deep=True).sum()
                                      + current.memory_usage(deep=True).sum()))
    record["vm_hwm_kib"] = _results.status_kib("VmHWM")
    result.write_text(json.dumps(record, default=float), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    side: str
    seconds: float  # the computation, timed inside the child
    process_seconds: float  # the child process, start to exit
    peak_kib: int  # ru_maxrss of the child, from os.wait4
    record: dict[str, Any]


SideFailed = _results.ChildFailed


def spawn(side: str, python: str, folder: Path, rows: int) -> Measurement:
    """Run one side in a fresh child process (:func:`_results.reap`)."""
    result = folder / f"{side}-result.json"
    command = [python, str(Path(__file__).resolve()), "--side", side, "--data", str(folder),
               "--result", str(result), "--rows", str(rows)]
    record = _results.reap(command, result, side)
    if "skipped" in record:
        print(f"{side}: skipped: {record['skipped']}", file=sys.stderr, flush=True)
    return Measurement(side, float(record.get("seconds", 0.0)), record["process_seconds"],
                       record["peak_kib"], record)


def compare(rows: int, sides: Sequence[str], evidently_python: Path) -> dict[str, Any]:
    expected = set(NUMERIC) | set(LEVELS)
    notes = {side: "not run (`--sides`)" for side in SIDES if side not in sides}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gapless-bench-drift-") as tmp:
        folder = Path(tmp)
        print(f"generating 2 x {rows:,} rows into {folder} ...", file=sys.stderr, flush=True)
        generated = spawn("generate", sys.executable, folder, rows)
        parquet = sum((folder / f"{n}.parquet").stat().st_size for n in ("reference", "current"))
        measured: dict[str, Measurement] = {}
        for side in sides:
            python = sys.executable
            if side == "evidently":
                if not evidently_python.exists():
                    notes[side] = (f"skipped: no {evidently_python}; create it with "
                                   "`make .venv-evidently/.installed`")
                    continue
                python = str(evidently_python)
            try:
                m = spawn(side, python, folder, rows)
            except SideFailed as exc:  # the other sides still run; nothing is written
                failed[side] = str(exc)
                continue
            if "skipped" in m.record:
                notes[side] = f"skipped: {m.record['skipped']}"
                continue
            if m.record["rows"] != rows or set(m.record["columns"]) != expected:
                raise SystemExit(f"{side} compared {m.record['rows']:,} rows and columns "
                                 f"{sorted(m.record['columns'])}, expected {rows:,} rows and "
                                 f"{sorted(expected)}; the timing would not compare like "
                                 "with like")
            measured[side] = m
    return {"measured": measured, "notes": notes, "failed": failed,
            "generated": generated.record, "parquet_bytes": parquet}


# -- report ----------------------------------------------------------------------------
def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}x" if numerator and denominator else "n/a"


def table(measured: dict[str, Measurement]) -> str:
    lines = ["| side | compute s | read s | process wall s | peak RSS MiB | frames MiB "
             "| working MiB | pandas |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for side in SIDES:
        if side in measured:
            m = measured[side]
            lines.append(f"| {LABELS[side]} | {m.seconds:.2f} | {m.record['read_seconds']:.2f} "
                         f"| {m.process_seconds:.1f} | {m.peak_kib / 1024:,.0f} "
                         f"| {m.record['frame_bytes'] / MIB:,.0f} "
                         f"| {working_mib(m)} | {m.record['pandas_version']} |")
    return "\n".join(lines)


def working_mib(m: Measurement) -> str:
    """Memory the computation added above the process with both frames loaded: its own
    VmHWM less its VmRSS right after reading (imports and frames excluded)."""
    after = m.record.get("rss_after_read_kib")
    if not after:
        return "-"
    return f"{max(0, m.record['vm_hwm_kib'] - after) / 1024:,.0f}"


def ratios(measured: dict[str, Measurement], notes: dict[str, str]) -> str:
    g = measured.get("gapless")
    lines = []
    for side in ("evidently", "floor"):
        m = measured.get(side)
        if m is not None and g is not None:
            lines.append(f"- {LABELS[side]} / gapless: time {ratio(m.seconds, g.seconds)}, "
                         f"peak RSS {ratio(m.peak_kib, g.peak_kib)}")
    lines += [f"- {LABELS[side]}: {note}" for side, note in notes.items()]
    if "gapless" in notes:
        lines.append("- Ratios against gapless need its side; rerun when "
                     "`gapless.monitoring.drift` imports.")
    lines += ["- Cross-check, each child's own VmHWM: " + ", ".join(
        f"{side} {m.record['vm_hwm_kib'] / 1024:,.0f} MiB" for side, m in measured.items())]
    return "\n".join(lines)


def verdicts(measured: dict[str, Measurement]) -> str:
    """Per shifted column, what each side found; then the unshifted columns in one line."""
    ev, fl, ga = (measured.get(s) for s in ("evidently", "floor", "gapless"))

    def judged(m: Measurement | None, name: str) -> str:
        if m is None:
            return "-"
        c = m.record["columns"][name]
        flag = {True: "**drift**", False: "no drift", None: "no verdict"}[c["drifted"]]
        score = "n/a" if c["statistic"] is None else f"{c['statistic']:.3g}"
        return f"{c['test']} {score}: {flag}"

    def floor(name: str) -> str:
        if fl is None:
            return "-"
        c = fl.record["columns"][name]
        if c["kind"] == "numeric":
            return (f"KS {c['ks']:.3g} (p {c['ks_p']:.2g}), PSI {c['psi']:.3g}, "
                    f"W/sd {c['wasserstein_sd']:.3g}")
        return f"chi2 p {c['chi2_p']:.2g}, JS {c['js']:.3g}"

    lines = ["| column | known shift | Evidently | floor | gapless |",
             "| --- | --- | --- | --- | --- |"]
    for name, (size, what) in SHIFTS.items():
        lines.append(f"| `{name}` | {size}: {what} | {judged(ev, name)} | {floor(name)} "
                     f"| {judged(ga, name)} |")
    steady = [n for n in (*NUMERIC, *LEVELS) if n not in SHIFTS]
    counts = []
    for side in ("evidently", "gapless"):
        m = measured.get(side)
        if m is not None:
            flagged = [n for n in steady if m.record["columns"][n]["drifted"]]
            counts.append(f"{LABELS[side]} flags {len(flagged)}"
                          + (f" ({', '.join(flagged)})" if flagged else ""))
    if fl is not None:
        cols = fl.record["columns"]
        counts.append("the floor has KS/chi2 p < 0.05 on "
                      f"{sum(cols[n].get('ks_p', cols[n].get('chi2_p', 1)) < 0.05 for n in steady)}"
                      f", PSI >= 0.2 on {sum(cols[n].get('psi', 0) >= 0.2 for n in steady)}")
    lines += ["", f"Unshifted columns ({len(steady)}): " + "; ".join(counts) + "."]
    for side in ("evidently", "gapless"):
        m = measured.get(side)
        if m is not None:
            s = m.record["summary"]
            lines.append(f"{LABELS[side]}: {s['drifted']} of {len(m.record['columns'])} "
                         f"columns drifted (share "
                         f"{s['share']:.2f}), dataset drift at share >= {s['drift_share']}: "
                         f"{s['dataset_drift']}.")
    return "\n".join(lines)


def section(outcome: dict[str, Any], rows: int, quick: bool, default_run: bool) -> str:
    measured: dict[str, Measurement] = outcome["measured"]
    begin, end = _results.markers(SECTION)
    ev = measured.get("evidently")
    evidently = (f"Evidently {ev.record['evidently_version']} (pandas "
                 f"{ev.record['pandas_version']}, own venv)") if ev else "Evidently not run"
    note = ("" if rows == DEFAULT_ROWS else
            f"\n**{rows:,} rows{' (`--quick`)' if quick else ''}, not {DEFAULT_ROWS:,}: a "
            "smoke check, not the reference numbers.**\n")
    generated = outcome["generated"]
    arrow = generated["reference_arrow_bytes"] + generated["current_arrow_bytes"]
    return f"""{begin}
## Data drift: gapless `data_drift` vs Evidently `DataDriftPreset` vs a NumPy/SciPy floor
{note}
- Date: {_results.now()}
- Command: `{_results.command(default_run=default_run)}`
- Machine: {_results.machine()}
- Versions: gapless {_results.version("gapless")}, {evidently}, pandas \
{_results.version("pandas")}, numpy {_results.version("numpy")}, scipy \
{_results.version("scipy")}, pyarrow {_results.version("pyarrow")}
- Data: a reference and a current frame of {rows:,} rows each x 25 columns (20 numeric:
  6 normal, 4 lognormal, 3 exponential, 3 uniform, 4 integer; 5 text categorical with
  {", ".join(map(str, LEVELS.values()))} levels; 2% missing in n04, n13, c4), seed {SEED};
  {arrow / MIB:,.0f} MiB as Arrow, {outcome["parquet_bytes"] / MIB:,.0f} MiB as Parquet;
  {len(SHIFTS)} columns of the current frame shifted by known amounts (below)

{table(measured)}

{ratios(measured, outcome["notes"])}

{verdicts(measured)}

How it is measured (see the docstring of `benchmarks/bench_drift.py`): one run per side,
each in its own fresh child process reaped with `os.wait4`, so the peak RSS
(`ru_maxrss`) is that side's alone, its two frames included ("frames MiB" is their
`memory_usage(deep=True)`; "working MiB" is the peak less the RSS right after reading:
what the computation itself added). "compute" is the drift computation on the two frames, after
imports, `read_parquet` ("read") and an untimed warm-up on {WARMUP_ROWS:,} rows; "process
wall" is the child from start to exit. Evidently: `Report([DataDriftPreset()]).run(current,
reference)` + `snapshot.dict()`, all defaults; floor: per numeric column `ks_2samp`, PSI
over {PSI_BINS} reference-quantile bins, `wasserstein_distance` (W/sd: divided by the
reference's sd, as Evidently norms it), per categorical column `value_counts`,
`chi2_contingency`, Jensen-Shannon, one thread, no verdicts; gapless:
`data_drift(reference, current)`, all defaults.
{end}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_ROWS:,} rows per frame: a smoke check")
    parser.add_argument("--rows", type=int,
                        help=f"rows per frame (default {DEFAULT_ROWS:,}, {QUICK_ROWS:,} "
                             "with --quick)")
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated sides to run (default {','.join(SIDES)})")
    parser.add_argument("--evidently-python", type=Path, default=EVIDENTLY_PYTHON,
                        help="the Python of the venv with Evidently (default "
                             ".venv-evidently/bin/python)")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose drift section is replaced with the results")
    # The child processes' mode; not for people.
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    if rows <= WARMUP_ROWS:
        parser.error(f"--rows must be more than {WARMUP_ROWS:,} (the warm-up), got {rows}")
    if args.side is not None:
        run_side(args.side, args.data, args.result, rows)
        return 0
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = sorted(set(sides) - set(SIDES))
    if unknown or not sides:
        parser.error(f"--sides: unknown {unknown}; choose from {', '.join(SIDES)}")
    outcome = compare(rows, [s for s in SIDES if s in sides], args.evidently_python)
    text = section(outcome, rows, args.quick,
                   default_run=rows == DEFAULT_ROWS and len(sides) == len(SIDES))
    print(text)
    if outcome["failed"]:
        raise SystemExit("; ".join(outcome["failed"].values())
                         + (f"; {args.output} is left as it was" if args.output else ""))
    if args.output is not None:
        _results.write_section(args.output, SECTION, text)
        print(f"wrote the {SECTION} section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

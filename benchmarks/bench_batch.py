"""Batch scoring speed, gapless against raw scikit-learn ``model.predict``, in one run.

One fitted scikit-learn pipeline (scaler + one-hot + logistic regression on loan rows, as
in ``bench_serving.py``) scores one Parquet file of loan rows (``make_loans`` rows, tiled,
in several row groups) into a Parquet file of predictions, two ways:

* gapless: the model is registered in a fresh temporary workspace and scored with
  ``predict_batch(ws, model="bench@1", ...)`` -- what ``gapless predict --model bench@1
  --input FILE --output out.parquet`` runs: resolve the version, read and verify the
  stored model, check the input's columns, stream the file in chunks (default size),
  write ``row``, ``prediction`` and ``proba_<class>`` atomically; and once more with
  ``probabilities=False`` (``row`` and ``prediction``), the raw side's work;
* raw: the same pipeline, already in memory, does what a hand-written script does:
  ``pyarrow.parquet.read_table`` of the model's columns, ``.to_pandas()``,
  ``model.predict`` on the whole frame, ``pyarrow.parquet.write_table`` of the predictions.

Each measurement runs in a fresh child process (the sides alternate, three runs each,
median reported), timed around the work alone, imports excluded (skops's too: it is
imported before the clock, though the model is read, verified and loaded inside it); its
peak memory is the child's RSS high-water mark (``ru_maxrss``), imports included. The
whole ``gapless predict`` command (a process: interpreter start, imports, progress bar)
is timed once per run too. The two outputs' predictions are checked to be equal. Run ``make
bench`` (or ``python benchmarks/bench_batch.py --output benchmarks/RESULTS.md``);
``--quick`` scores fewer rows for a smoke check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import opening, publish

SECTION = "batch"
FEATURES = ["age", "income", "loan_amount", "interest_rate", "credit_score", "region",
            "employment", "purpose"]
MODEL = "bench@1"
ROW_GROUP = 131_072
RUNS = 3


# -- children: each step in its own process ------------------------------------------------
def prepare(folder: Path, rows: int) -> None:
    """Fit and register the model, pickle it for the raw side, write the input file."""
    import pickle

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from bench_serving import fitted, register

    from gapless.data.sample_data import make_loans

    model, X, y = fitted()
    register(folder / "ws", model, X, y)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    base = make_loans(min(rows, 200_000), seed=11).dropna(subset=FEATURES)
    base = base[FEATURES + ["application_id"]].reset_index(drop=True)
    table = pa.Table.from_pandas(base, preserve_index=False)
    repeats = -(-rows // table.num_rows)
    tiled = pa.concat_tables([table] * repeats).slice(0, rows)
    tiled = tiled.set_column(tiled.schema.get_field_index("application_id"), "application_id",
                             pa.array(np.arange(1, rows + 1, dtype=np.int64)))
    pq.write_table(tiled, folder / "input.parquet", row_group_size=ROW_GROUP)


def score_gapless(folder: Path, output: Path, probabilities: bool) -> tuple[float, int]:
    import skops.io  # noqa: F401  (an import, ~1 s: outside the clock like the others)

    import gapless
    from gapless.serving.batch import predict_batch

    with gapless.Workspace(folder / "ws") as ws:
        started = time.perf_counter()
        result = predict_batch(ws, model=MODEL, input=str(folder / "input.parquet"),
                               output=str(output), probabilities=probabilities)
        return time.perf_counter() - started, result.rows


def score_raw(folder: Path, output: Path) -> tuple[float, int]:
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    model = pickle.loads((folder / "model.pkl").read_bytes())
    started = time.perf_counter()
    frame = pq.read_table(folder / "input.parquet", columns=FEATURES).to_pandas()
    predictions = model.predict(frame)
    pq.write_table(pa.table({"prediction": predictions}), output)
    return time.perf_counter() - started, len(frame)


def check(folder: Path) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    ours = pq.read_table(folder / "gapless.parquet")
    theirs = pq.read_table(folder / "raw.parquet").column("prediction").to_numpy()
    for name in ("gapless", "gapless-predictions"):
        found = pq.read_table(folder / f"{name}.parquet").column("prediction").to_numpy()
        if not np.array_equal(found, theirs):
            raise SystemExit(f"{name} and raw predictions differ")
    if ours.column("row").to_pylist() != list(range(ours.num_rows)):
        raise SystemExit("gapless output rows are out of order")


def child(step: str, folder: Path, rows: int) -> None:
    import resource

    result: dict[str, Any] = {}
    if step == "prepare":
        prepare(folder, rows)
    elif step == "check":
        check(folder)
    else:
        import pandas  # noqa: F401  (imports before the clock, the same for both sides)
        import pyarrow.parquet  # noqa: F401
        import sklearn.pipeline  # noqa: F401

        output = folder / f"{step}.parquet"
        if step == "raw":
            seconds, scored = score_raw(folder, output)
        else:
            seconds, scored = score_gapless(folder, output, probabilities=step == "gapless")
        result = {"seconds": seconds, "rows": scored}
    result["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


# -- the parent: only the standard library, so it stays small ------------------------------
def spawn(step: str, folder: Path, rows: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", step,
                           "--folder", str(folder), "--rows", str(rows)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cli(folder: Path) -> float:
    """Wall time of the whole ``gapless predict`` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
    output = folder / "cli.parquet"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gapless.cli.main", "-w", str(folder / "ws"),
                           "predict", "--model", MODEL, "--input",
                           str(folder / "input.parquet"), "--output", str(output)],
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"gapless predict failed:\n{done.stderr}")
    output.unlink()
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = args.rows or (200_000 if args.quick else 2_000_000)
    if args.child:
        child(args.child, args.folder, rows)
        return
    runs: dict[str, list[dict[str, Any]]] = {"gapless": [], "gapless-predictions": [],
                                             "raw": []}
    cli_seconds: list[float] = []
    folder = Path(tempfile.mkdtemp(prefix="gapless-bench-"))
    try:
        spawn("prepare", folder, rows)
        size = (folder / "input.parquet").stat().st_size
        for _ in range(RUNS):
            for side in runs:
                runs[side].append(spawn(side, folder, rows))
                print(side, runs[side][-1], file=sys.stderr, flush=True)
            cli_seconds.append(cli(folder))
            print("gapless predict", round(cli_seconds[-1], 2), file=sys.stderr, flush=True)
        spawn("check", folder, rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    median = {side: statistics.median(r["seconds"] for r in found)
              for side, found in runs.items()}
    rss = {side: max(r["max_rss_kib"] for r in found) / 1024 for side, found in runs.items()}
    speed = {side: rows / seconds for side, seconds in median.items()}
    groups = -(-rows // ROW_GROUP)
    lines = opening(SECTION, "Batch scoring: gapless vs raw scikit-learn `model.predict`", args,
                    ["gapless", "scikit-learn", "pyarrow", "pandas"])
    lines += [f"{rows:,} loan rows (8 model columns + an id) in one Parquet file of "
              f"{size / 2 ** 20:.0f} MiB, {groups} row groups; scaler + one-hot + logistic "
              f"regression. Median of {RUNS} runs, each side in a fresh process; peak RSS is "
              "the highest of its runs.", "",
              "| side | seconds | rows/s | peak RSS (MiB) |", "| --- | ---: | ---: | ---: |",
              f"| gapless `predict_batch` (stream in chunks; prediction + probabilities) | "
              f"{median['gapless']:.2f} | {speed['gapless']:,.0f} | {rss['gapless']:.0f} |",
              f"| gapless `predict_batch(..., probabilities=False)` (predictions only) | "
              f"{median['gapless-predictions']:.2f} | {speed['gapless-predictions']:,.0f} | "
              f"{rss['gapless-predictions']:.0f} |",
              f"| raw: `read_table` + `to_pandas` + `model.predict` + `write_table` | "
              f"{median['raw']:.2f} | {speed['raw']:,.0f} | {rss['raw']:.0f} |",
              f"| `gapless predict` CLI, whole process (start, imports, progress bar) | "
              f"{statistics.median(cli_seconds):.2f} | "
              f"{rows / statistics.median(cli_seconds):,.0f} | |", "",
              f"Throughput ratio gapless / raw: {speed['gapless'] / speed['raw']:.2f} "
              "(target >= 0.90) with probabilities, "
              f"{speed['gapless-predictions'] / speed['raw']:.2f} with predictions only (the "
              "raw side's work). gapless also resolves and verifies the stored model (inside "
              "its time; the raw side's model is unpickled before its clock starts), writes "
              "`row` (and by default a `proba_<class>` column per class) next to "
              "`prediction`, writes atomically; its memory is bounded by the chunk size, "
              "while the raw side holds the whole file. Both outputs' predictions are "
              "checked to be equal."]
    publish(SECTION, lines, args.output)


if __name__ == "__main__":
    main()

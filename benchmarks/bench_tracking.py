"""Tracking speed, gapless against MLflow, both on SQLite, in one process and one run.

The three cases are the three ways people meet tracking latency (the targets are the
ones the issue set, as MLflow time / gapless time):

(a) a training loop that calls ``log_metric`` 10,000 times in one run: the cost a
    user pays per step. The run is ended inside the timing, so every point is in the
    database when the clock stops and buffering cannot hide unwritten work. Target 10x.
(b) a sweep: 100 runs, each started, given 10 params and 10 metrics one call at a
    time, and ended. Each run needs its own writes, so batching helps less. Target 3x.
(c) a comparison page: 20 searches with a metric filter over 1,000 runs, each with a
    few params and metrics, returning every match as a full run record. The runs are
    written before the clock starts. Target 10x.

Both sides get the same treatment: a fresh temporary folder for each case, the
database created (migrations included), the experiment made and one empty warm-up
run recorded before timing, so one-off costs (schema, imports, git and environment
capture) stay out. Each side is called through its public, default API, one call at
a time, as a user writes it; MLflow logs synchronously, its default. (a) and (b) are
timed once per side; (c) is the best of three rounds of the 20 searches.

Run ``make bench`` (or ``python benchmarks/bench_tracking.py --output
benchmarks/RESULTS.md``); ``--quick`` runs smaller cases, for smoke checks only.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from _results import command, machine, markers, now, version, write_section

EXPERIMENT = "bench"
SEARCH_FILTER = "metrics.m0 > 0.5"
SEARCH_ROUNDS = 3
SECTION_BEGIN, SECTION_END = markers("tracking")


@dataclass(frozen=True)
class Sizes:
    """How much work each case does."""

    metric_calls: int  # (a)
    runs: int  # (b)
    params_per_run: int  # (b)
    metrics_per_run: int  # (b)
    search_runs: int  # (c): runs written before searching, and the search limit
    searches: int  # (c): searches per timed round


FULL = Sizes(metric_calls=10_000, runs=100, params_per_run=10, metrics_per_run=10,
             search_runs=1_000, searches=20)
QUICK = Sizes(metric_calls=1_000, runs=10, params_per_run=10, metrics_per_run=10,
              search_runs=200, searches=5)


@dataclass(frozen=True)
class RunSpec:
    """Params and metrics of one run written before the search case."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]


class Tracker(Protocol):
    """One tracking library, opened on a fresh folder, driven through its public API."""

    name: str

    def stream_metrics(self, calls: int) -> str:
        """Log ``calls`` points of metric ``loss`` one call at a time in one run, end it;
        return the run id."""

    def metric_count(self, run_id: str, key: str) -> int: ...

    def log_runs(self, runs: int, n_params: int, n_metrics: int) -> None:
        """Start, log params and metrics one call at a time, and end ``runs`` runs."""

    def populate(self, specs: Sequence[RunSpec]) -> None: ...

    def search(self, filter_string: str, limit: int) -> int:
        """Search the benchmark experiment; return how many runs matched."""

    def run_count(self) -> int: ...

    def close(self) -> None: ...


class GaplessTracker:
    """gapless on a fresh workspace (SQLite metadata under ``<root>/.gapless``)."""

    name = "gapless"

    def __init__(self, root: Path) -> None:
        import gapless

        self.workspace = gapless.Workspace.init(root)
        with self.workspace.start_run(EXPERIMENT, "warm-up"):
            pass

    def stream_metrics(self, calls: int) -> str:
        with self.workspace.start_run(EXPERIMENT, "metric-stream") as run:
            for step in range(calls):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
        return run.id

    def metric_count(self, run_id: str, key: str) -> int:
        return len(self.workspace.runs.metric_history(run_id, key))

    def log_runs(self, runs: int, n_params: int, n_metrics: int) -> None:
        for index in range(runs):
            with self.workspace.start_run(EXPERIMENT, f"run-{index}") as run:
                for p in range(n_params):
                    run.log_param(f"p{p}", index * p)
                for m in range(n_metrics):
                    run.log_metric(f"m{m}", index / (m + 1))

    def populate(self, specs: Sequence[RunSpec]) -> None:
        for spec in specs:
            with self.workspace.start_run(EXPERIMENT, spec.name) as run:
                run.log_params(spec.params)
                run.log_metrics(spec.metrics)

    def search(self, filter_string: str, limit: int) -> int:
        return len(self.workspace.runs.search(filter_string, experiment=EXPERIMENT, limit=limit))

    def run_count(self) -> int:
        return len(self.workspace.runs.search(experiment=EXPERIMENT, limit=None))

    def close(self) -> None:
        self.workspace.close()


class MlflowTracker:
    """MLflow's fluent API on a fresh ``sqlite:///<root>/mlflow.db`` tracking URI."""

    name = "MLflow"

    def __init__(self, root: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.mlflow = mlflow
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        # An explicit artifact location keeps MLflow's default ./mlruns out of the cwd.
        self.experiment_id = mlflow.create_experiment(
            EXPERIMENT, artifact_location=(root / "artifacts").as_uri()
        )
        mlflow.set_experiment(experiment_id=self.experiment_id)
        self.client = MlflowClient()
        with mlflow.start_run(run_name="warm-up"):
            pass

    def stream_metrics(self, calls: int) -> str:
        with self.mlflow.start_run(run_name="metric-stream") as run:
            for step in range(calls):
                self.mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        return run.info.run_id

    def metric_count(self, run_id: str, key: str) -> int:
        return len(self.client.get_metric_history(run_id, key))

    def log_runs(self, runs: int, n_params: int, n_metrics: int) -> None:
        for index in range(runs):
            self.mlflow.start_run(run_name=f"run-{index}")
            for p in range(n_params):
                self.mlflow.log_param(f"p{p}", index * p)
            for m in range(n_metrics):
                self.mlflow.log_metric(f"m{m}", index / (m + 1))
            self.mlflow.end_run()

    def populate(self, specs: Sequence[RunSpec]) -> None:
        for spec in specs:
            with self.mlflow.start_run(run_name=spec.name):
                self.mlflow.log_params(spec.params)
                self.mlflow.log_metrics(spec.metrics)

    def search(self, filter_string: str, limit: int) -> int:
        return len(self.client.search_runs(
            [self.experiment_id], filter_string=filter_string, max_results=limit
        ))

    def run_count(self) -> int:
        return len(self.client.search_runs([self.experiment_id], max_results=50_000))

    def close(self) -> None:
        self.mlflow.set_tracking_uri(None)


TRACKERS: tuple[Callable[[Path], Tracker], ...] = (GaplessTracker, MlflowTracker)


# -- cases ---------------------------------------------------------------------------
def measure_metric_stream(tracker: Tracker, sizes: Sizes) -> float:
    start = time.perf_counter()
    run_id = tracker.stream_metrics(sizes.metric_calls)
    elapsed = time.perf_counter() - start
    _expect(tracker, "metric points stored", tracker.metric_count(run_id, "loss"),
            sizes.metric_calls)
    return elapsed


def measure_many_runs(tracker: Tracker, sizes: Sizes) -> float:
    start = time.perf_counter()
    tracker.log_runs(sizes.runs, sizes.params_per_run, sizes.metrics_per_run)
    elapsed = time.perf_counter() - start
    _expect(tracker, "runs stored (with the warm-up run)", tracker.run_count(), sizes.runs + 1)
    return elapsed


def measure_search(tracker: Tracker, sizes: Sizes) -> float:
    specs = population(sizes.search_runs)
    tracker.populate(specs)
    expected = sum(spec.metrics["m0"] > 0.5 for spec in specs)
    best = float("inf")
    for _ in range(SEARCH_ROUNDS):
        start = time.perf_counter()
        for _ in range(sizes.searches):
            found = tracker.search(SEARCH_FILTER, sizes.search_runs)
        best = min(best, time.perf_counter() - start)
        _expect(tracker, f"runs matching {SEARCH_FILTER!r}", found, expected)
    return best


def population(count: int) -> list[RunSpec]:
    """The same ``count`` runs for both sides: 3 params and 3 metrics each, m0 uniform."""
    rng = random.Random(20240601)
    return [
        RunSpec(
            name=f"pop-{index}",
            params={"model": rng.choice(["rf", "gbm", "linear"]),
                    "max_depth": str(rng.randint(2, 12)),
                    "lr": f"{rng.uniform(0.001, 0.3):.4f}"},
            metrics={"m0": rng.random(), "m1": rng.random(), "m2": rng.gauss(0, 1)},
        )
        for index in range(count)
    ]


def _expect(tracker: Tracker, what: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise SystemExit(f"{tracker.name}: expected {wanted} {what}, found {got}; "
                         "the timing would not compare like with like")


@dataclass(frozen=True)
class Case:
    label: str
    describe: Callable[[Sizes], str]
    target: float
    measure: Callable[[Tracker, Sizes], float]


CASES = (
    Case("a", lambda s: f"{s.metric_calls:,} log_metric calls in one run, run ended",
         10.0, measure_metric_stream),
    Case("b", lambda s: f"{s.runs} runs x {s.params_per_run} params x {s.metrics_per_run} "
                        "metrics, one call each", 3.0, measure_many_runs),
    Case("c", lambda s: f"{s.searches} searches `{SEARCH_FILTER}` over {s.search_runs:,} runs "
                        f"(best of {SEARCH_ROUNDS})", 10.0, measure_search),
)


@dataclass(frozen=True)
class Result:
    case: Case
    seconds: Mapping[str, float]

    @property
    def ratio(self) -> float:
        return self.seconds["MLflow"] / self.seconds["gapless"]

    @property
    def met(self) -> bool:
        return self.ratio >= self.case.target


def run_cases(sizes: Sizes) -> list[Result]:
    results = []
    for case in CASES:
        seconds = {}
        for factory in TRACKERS:
            with fresh_folder() as folder:
                tracker = factory(folder)
                try:
                    seconds[tracker.name] = case.measure(tracker, sizes)
                finally:
                    tracker.close()
            print(f"({case.label}) {tracker.name}: {seconds[tracker.name]:.3f} s",
                  file=sys.stderr, flush=True)
        results.append(Result(case, seconds))
    return results


@contextmanager
def fresh_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gapless-bench-") as tmp:
        yield Path(tmp)


# -- report ----------------------------------------------------------------------------
def table(results: Sequence[Result], sizes: Sizes) -> str:
    lines = [
        "| case | gapless (s) | MLflow (s) | ratio (MLflow / gapless) | target | met? |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for result in results:
        lines.append(
            f"| ({result.case.label}) {result.case.describe(sizes)} "
            f"| {result.seconds['gapless']:.3f} | {result.seconds['MLflow']:.3f} "
            f"| {result.ratio:.1f}x | >= {result.case.target:g}x "
            f"| {'yes' if result.met else '**no**'} |"
        )
    return "\n".join(lines)


def section(results: Sequence[Result], sizes: Sizes, quick: bool) -> str:
    note = ("\n**Quick mode (`--quick`): smaller cases for a smoke check, not the reference "
            "numbers.**\n" if quick else "")
    return f"""{SECTION_BEGIN}
## Tracking: gapless vs MLflow, both on SQLite
{note}
- Date: {now()}
- Command: `{command(default_run=not quick)}`
- Machine: {machine()}
- Versions: gapless {version("gapless")}, MLflow {version("mlflow")}, SQLAlchemy \
{version("sqlalchemy")}, SQLite {sqlite3.sqlite_version}

{table(results, sizes)}

How it is measured (see the docstring of `benchmarks/bench_tracking.py`): each case and
each side gets a fresh temporary folder; the database, the experiment and one empty
warm-up run are created before the clock starts. Both sides use their public default
API one call at a time (MLflow: fluent `mlflow.start_run` / `log_param` / `log_metric` /
`end_run`, synchronous logging, and `MlflowClient.search_runs`; gapless: `start_run` /
`log_param` / `log_metric`, and `workspace.runs.search`). (a) and (b) are timed once per
side, with the run(s) ended inside the timing; (c) is the best of {SEARCH_ROUNDS} rounds,
after writing the runs outside the timing. Each result is checked (points stored, runs
stored, matches found) so both sides did the same work.
{SECTION_END}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose tracking section is replaced with the results")
    parser.add_argument("--quick", action="store_true",
                        help="smaller cases, for a smoke check only")
    args = parser.parse_args(argv)
    # Synchronous logging is MLflow's default; make sure no environment turns it off.
    os.environ.pop("MLFLOW_ENABLE_ASYNC_LOGGING", None)
    sizes = QUICK if args.quick else FULL
    results = run_cases(sizes)
    print(table(results, sizes))
    if args.output is not None:
        write_section(args.output, "tracking", section(results, sizes, args.quick))
        print(f"wrote the tracking section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

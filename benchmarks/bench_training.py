"""Model search: the per-trial overhead of gapless' search against a bare Optuna +
scikit-learn loop, and what 2 workers buy (local processes and Dask).

The issue's bar: gapless' search costs at most 10% more per trial than the loop people
write without it, on the same data and space. Both sides search the default
``random_forest`` space (``n_estimators`` fixed to 50) of ``make_loans`` with 5-fold
CV scored by ROC AUC, for the same number of trials:

- **gapless**: the search exactly as :class:`gapless.training.trainer.Trainer` runs it:
  ``plan_training(...).search(executor, on_trial=...)``, each trial recorded as a child
  run of an open parent run through ``Trainer._log_child`` (one ``Tracking.log_run``).
  Only the search is timed; the baseline, the refit and the evaluation that
  ``ws.train`` adds around it are not part of the comparison.
- **bare**: ``optuna.create_study(...).optimize(objective)``, where ``objective``
  suggests the same parameters under the same names and runs
  ``sklearn.model_selection.cross_val_score`` on an identical estimator (built once by
  ``gapless.training.pipeline.build_pipeline``, then ``set_params`` per trial) over
  the same folds (``plan.folds``) with ``scoring="roc_auc"``. Only orchestration
  differs.

To compare like with like, both sides use gapless' sampler settings
(``TPESampler(seed=0, multivariate=True, group=True, n_startup_trials=8)``), so they
sample the same parameters trial by trial, and gapless' median pruning is switched off in
its child (``ModelSearch._medians`` returns no medians), so every trial runs all 5 folds
on both sides. The parent checks that both sides sampled the same parameters and got
the same CV score in every trial, and says so in the report.

Each run is one fresh child process (``--side``) that builds its own workspace and plan,
then times only the search (imports, data and planning excluded). Overhead compares the
best of ``--repeats`` runs per side, run alternately. On a shared virtual machine the
speed of the CPUs drifts by several percent from one minute to the next, more than the
overhead itself, so a **paired** run measures it once more with the drift cancelled: one
child runs gapless' search and, right after each gapless trial is recorded, one trial of
the bare loop (``ask``, objective, ``tell``, as ``optimize`` does), timing each side's
share of every pair. The paired run gives the verdict; the separate runs show how far
apart two runs of the same code land on this machine.

The speed-up runs gapless' search ``--repeats`` times more on ``local:2`` (two worker
processes) and on ``dask-local:2`` (a Dask LocalCluster of two single-threaded workers
on 127.0.0.1), against the best ``local:1`` run (in process). With two trials in flight
TPE samples other parameters after its start-up trials, so the work differs from the
serial runs'; the report adds a speed-up estimated for equal work (see
:func:`equal_work`).

The default size, 4,000 rows and 20 trials of about 1.6 s each, keeps ``make bench``'s
share near 6 minutes on 2 CPUs. Each child's "other CPUs" says how busy the rest of the
machine was meanwhile (/proc/stat less the CPU time of the child's process tree; the
parent adopts orphaned forkserver processes, so local workers count as the child's).

``--profile`` adds a child running gapless' ``local:1`` search under cProfile (never a
measured run), timing the steps gapless adds to each trial (see :data:`PROFILED`).

Run ``make bench`` (or ``python benchmarks/bench_training.py --output
benchmarks/RESULTS.md``); ``--rows 2000 --trials 4 --repeats 1`` for a smoke check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _results

SECTION = "training"
DEFAULT_ROWS = 4_000
DEFAULT_TRIALS = 20
DEFAULT_REPEATS = 2
FOLDS = 5
N_ESTIMATORS = 50
SEED = 0
TARGET_OVERHEAD = 0.10  # the 10%
SCALING = ("local:2", "dask-local:2")
# What --profile reports: (step, who does it, file, function); cumulative times nest.
PROFILED = (
    ("a whole trial (`evaluate_trial`)", "gapless", "gapless/training/search.py",
     "evaluate_trial"),
    ("fit a fold's pipeline (`Pipeline.fit`)", "both", "sklearn/pipeline.py", "fit"),
    ("score a fold (`_Scorer.__call__`)", "both", "sklearn/metrics/_scorer.py", "__call__"),
    ("plan the trial's pipeline (`build_pipeline`)", "gapless",
     "gapless/training/pipeline.py", "build_pipeline"),
    ("re-validate the spec (`TaskSpec.model_validate`)", "gapless", "pydantic/main.py",
     "model_validate"),
    ("look up the scorer (`get_scorer`)", "gapless", "sklearn/metrics/_scorer.py",
     "get_scorer"),
    ("record the child run (`Trainer._log_child`)", "gapless",
     "gapless/training/trainer.py", "_log_child"),
    ("sample the parameters (`ModelSearch._sample`)", "gapless",
     "gapless/training/search.py", "_sample"),
    ("Optuna `ask` (TPE)", "both", "optuna/study/study.py", "ask"),
    ("report folds + Optuna `tell` (`ModelSearch._tell`)", "gapless",
     "gapless/training/search.py", "_tell"),
    ("progress (`ModelSearch._progress`)", "gapless", "gapless/training/search.py",
     "_progress"),
)
# The default random_forest space (gapless.training.candidates._FOREST) less
# n_estimators: (kind, low, high, log). The gapless child checks it still is.
SPACE = {"max_depth": ("int", 2, 32, False), "min_samples_leaf": ("int", 1, 20, True),
         "max_features": ("float", 0.1, 1.0, False)}


def task_spec(trials: int) -> dict[str, Any]:
    return {"dataset": "loans@1", "target": "defaulted",
            "features": {"exclude": ["customer_id"]}, "cv": {"folds": FOLDS},
            "budget": {"trials": trials}, "seed": SEED,
            "candidates": [{"family": "random_forest",
                            "params": {"n_estimators": N_ESTIMATORS}}]}


# -- the children ----------------------------------------------------------------------
def prepare(workdir: Path, rows: int, trials: int) -> tuple[Any, Any, Any, float]:
    """A fresh workspace holding ``make_loans(rows)``, the spec and its training plan,
    with the seconds planning took. Imports Optuna, so neither side's timing does."""
    import warnings

    import optuna

    import gapless
    from gapless.data.sample_data import make_loans
    from gapless.training.plan import plan_training
    from gapless.training.specs import load_task_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    workspace = gapless.Workspace.init(workdir)
    workspace.data.add("loans", make_loans(rows, seed=SEED), time_column="applied_at")
    spec = load_task_spec(task_spec(trials))
    start = time.perf_counter()
    plan = plan_training(workspace.data, spec)
    return workspace, spec, plan, time.perf_counter() - start


def sampler() -> Any:
    """gapless' sampler settings (see ``ModelSearch.run``), used by both sides."""
    import optuna

    return optuna.samplers.TPESampler(seed=SEED, multivariate=True, group=True,
                                      n_startup_trials=8)


def check_space(plan: Any) -> None:
    from gapless.training.candidates import Fixed, FloatRange, IntRange

    kinds = {IntRange: "int", FloatRange: "float"}
    space = plan.spaces["random_forest"]
    found = {name: (kinds[type(p)], p.low, p.high, p.log) for name, p in space.items()
             if not isinstance(p, Fixed)}
    if found != SPACE or space["n_estimators"] != Fixed(N_ESTIMATORS):
        raise SystemExit(f"the random_forest space is now {space}; update SPACE in "
                         f"{Path(__file__).name} so the bare loop searches the same space")


def run_gapless(workspace: Any, spec: Any, plan: Any, executor: str,
                after_trial: Callable[[], None] | None = None) -> dict[str, Any]:
    """gapless' search as the trainer runs it, child runs included; pruning off.
    ``after_trial`` (the paired run's bare trial) runs after each trial is recorded."""
    from gapless.compute import open_executor
    from gapless.training.search import ModelSearch
    from gapless.training.trainer import Trainer

    check_space(plan)
    ModelSearch._medians = staticmethod(lambda outcomes: {})  # type: ignore[method-assign]
    trainer = Trainer(workspace.data, workspace.runs)
    tracking = 0.0
    marks: list[float] = []  # when each trial's gapless work ended
    with workspace.runs.start_run(spec.experiment, f"train {plan.version.ref}",
                                  parent=None, tags={}) as run:
        def on_trial(outcome: Any) -> None:  # as Trainer.train's, timed
            nonlocal tracking
            start = time.perf_counter()
            trainer._log_child(
                run, plan, f"trial-{outcome.number} {outcome.family}", outcome.family,
                outcome.params, outcome.fold_scores, outcome.started, outcome.finished,
                {"role": "trial", "state": outcome.state,
                 **({"error": outcome.error[:500]} if outcome.error else {})},
                status="FAILED" if outcome.state == "failed" else "FINISHED")
            marks.append(time.perf_counter())
            tracking += marks[-1] - start
            if after_trial is not None:
                after_trial()

        opened = time.perf_counter()
        with open_executor(executor) as pool:
            started, cpu = time.perf_counter(), time.process_time()
            search = plan.search(pool, on_trial=on_trial, on_progress=None)
            ended, cpu = time.perf_counter(), time.process_time() - cpu
        closed = time.perf_counter()
    errors = [t.error for t in search.trials if t.error]
    if errors:
        raise SystemExit(f"{len(errors)} gapless trials failed; the first: {errors[0]}")
    return {"startup_seconds": started - opened, "seconds": ended - started,
            "cpu_seconds": cpu, "close_seconds": closed - ended, "tracking_seconds": tracking,
            "marks": marks, "started": started, "ended": ended,
            "trials": [{"params": {k: v for k, v in t.params.items() if k in SPACE},
                        "value": t.value, "state": t.state,
                        "seconds": t.finished - t.started} for t in search.trials]}


def bare_loop(spec: Any, plan: Any) -> tuple[Any, Callable[[Any], float], list[float]]:
    """The loop people write, ready to run: an Optuna study, and an objective running
    ``cross_val_score``; with the list each trial's seconds inside it go to."""
    import optuna
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    from gapless.training.pipeline import build_pipeline

    X, y = plan.train.drop(columns=[plan.target]), plan.train[plan.target]
    template = build_pipeline(plan.train, spec, "random_forest",
                              {"n_estimators": N_ESTIMATORS}, target=plan.target,
                              problem=plan.problem, seed=spec.seed)
    folds = list(plan.folds)
    inside: list[float] = []

    def objective(trial: Any) -> float:
        trial.suggest_categorical("family", ["random_forest"])
        params = {}
        for name, (kind, low, high, log) in SPACE.items():
            suggest = trial.suggest_int if kind == "int" else trial.suggest_float
            params[name] = suggest(f"random_forest.{name}", low, high, log=log)
        start = time.perf_counter()
        model = clone(template).set_params(**{f"model__{k}": v for k, v in params.items()})
        scores = cross_val_score(model, X, y, cv=folds, scoring="roc_auc")
        inside.append(time.perf_counter() - start)
        return statistics.fmean(float(s) for s in scores)

    return optuna.create_study(direction="maximize", sampler=sampler()), objective, inside


def bare_trials(study: Any, inside: list[float]) -> list[dict[str, Any]]:
    return [{"params": {k.split(".", 1)[1]: v for k, v in t.params.items() if k != "family"},
             "value": t.value, "state": t.state.name.lower(), "seconds": s}
            for t, s in zip(study.trials, inside, strict=True)]


def run_bare(spec: Any, plan: Any, trials: int) -> dict[str, Any]:
    """The bare loop, as people write it: ``study.optimize(objective)``."""
    study, objective, inside = bare_loop(spec, plan)
    start, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=trials)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"startup_seconds": 0.0, "seconds": seconds, "cpu_seconds": cpu,
            "close_seconds": 0.0, "tracking_seconds": 0.0,
            "trials": bare_trials(study, inside)}


def run_paired(workspace: Any, spec: Any, plan: Any) -> dict[str, Any]:
    """Both sides in this process, trial by trial: after each gapless trial is recorded,
    one bare trial (``ask``, objective, ``tell``: what ``optimize`` does), so the two
    sides of each pair run seconds apart and the machine's drift cancels out."""
    study, objective, inside = bare_loop(spec, plan)
    ends: list[float] = []

    def bare_trial() -> None:
        trial = study.ask()
        study.tell(trial, objective(trial))
        ends.append(time.perf_counter())

    record = run_gapless(workspace, spec, plan, "local:1", after_trial=bare_trial)
    pairs, previous = [], record["started"]
    for mark, end in zip(record.pop("marks"), ends, strict=True):
        pairs.append([mark - previous, end - mark])  # [gapless, bare] seconds
        previous = end
    pairs[-1][0] += record["ended"] - previous  # the search's last bookkeeping
    record.update(seconds=sum(g for g, _ in pairs), pairs=pairs,
                  bare_trials=bare_trials(study, inside))
    return record


def run_profile(workspace: Any, spec: Any, plan: Any) -> dict[str, Any]:
    """gapless' local:1 search under cProfile: the cumulative time of each step in
    :data:`PROFILED`."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    record = run_gapless(workspace, spec, plan, "local:1")
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    record["steps"] = []
    for label, who, path, function in PROFILED:
        found = [(calls, cumulative) for (filename, _, name), (_, calls, _, cumulative, _)
                 in stats.items()
                 if name == function and filename.replace(os.sep, "/").endswith(path)]
        record["steps"].append({"step": label, "who": who,
                                "calls": sum(c for c, _ in found),
                                "cumulative": sum(t for _, t in found)})
    return record


def run_side(side: str, executor: str, workdir: Path, result: Path, rows: int,
             trials: int) -> None:
    """One run, in this (child) process; what it measured goes to ``result``."""
    workspace, spec, plan, plan_seconds = prepare(workdir, rows, trials)
    try:
        if side == "gapless":
            record = run_gapless(workspace, spec, plan, executor)
        elif side == "bare":
            record = run_bare(spec, plan, trials)
        elif side == "paired":
            record = run_paired(workspace, spec, plan)
        elif side == "profile":
            record = run_profile(workspace, spec, plan)
        else:
            raise SystemExit(f"unknown side {side!r}; known: gapless, bare, paired, profile")
    finally:
        workspace.close()
    for key in ("marks", "started", "ended"):  # this process's clock: no use elsewhere
        record.pop(key, None)
    record.update(side=side, executor=executor, plan_seconds=plan_seconds,
                  train_rows=len(plan.train))
    result.write_text(json.dumps(record), encoding="utf-8")


# -- the parent ------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    side: str
    executor: str
    seconds: float  # the search, timed inside the child
    cpu_seconds: float  # the child's CPU time during the search (its workers' not counted)
    startup_seconds: float  # opening the executor (a Dask cluster, ...)
    close_seconds: float
    tracking_seconds: float  # child-run writes (gapless only)
    process_seconds: float
    other_cpus: float  # CPUs that other processes kept busy while the child ran, on average
    train_rows: int
    trials: list[dict[str, Any]]
    extra: dict[str, Any]

    @property
    def label(self) -> str:
        return "bare Optuna + scikit-learn" if self.side == "bare" else f"gapless {self.executor}"

    @property
    def per_trial(self) -> float:
        return self.seconds / len(self.trials)

    @property
    def busy(self) -> float:
        """Seconds spent inside trials (fitting and scoring 5 folds), summed."""
        return sum(t["seconds"] for t in self.trials)

    def count(self, state: str) -> int:
        return sum(t["state"] == state for t in self.trials)


def spawn(side: str, executor: str, workdir: Path, rows: int, trials: int) -> Run:
    """One run in a fresh child process."""
    workdir.mkdir(parents=True)
    result = workdir.parent / f"{workdir.name}-result.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--side", side,
               "--executor", executor, "--workdir", str(workdir), "--result", str(result),
               "--rows", str(rows), "--trials", str(trials)]
    print(f"{side} {executor}: running ...", file=sys.stderr, flush=True)
    busy, ours, start = busy_cpu_seconds(), descendants_cpu_seconds(), time.perf_counter()
    child = subprocess.Popen(command)
    _, status, _ = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    reap_orphans()
    busy, ours = busy_cpu_seconds() - busy, descendants_cpu_seconds() - ours
    if child.returncode != 0:
        raise SystemExit(f"the {side} {executor} child failed with exit status "
                         f"{child.returncode}; its error is printed above")
    others = max(0.0, busy - ours) / elapsed
    record = json.loads(result.read_text(encoding="utf-8"))
    result.unlink()
    run = Run(side=side, executor=executor, seconds=record["seconds"],
              cpu_seconds=record["cpu_seconds"],
              startup_seconds=record["startup_seconds"],
              close_seconds=record["close_seconds"],
              tracking_seconds=record["tracking_seconds"], process_seconds=elapsed,
              train_rows=record["train_rows"], trials=record["trials"], other_cpus=others,
              extra={k: record[k] for k in ("steps", "pairs", "bare_trials", "plan_seconds")
                     if k in record})
    print(f"{side} {executor}: search {run.seconds:.1f} s, {run.per_trial:.3f} s/trial; "
          f"other processes used {others:.2f} CPUs meanwhile", file=sys.stderr, flush=True)
    return run


def become_subreaper() -> None:
    """Adopt this process's orphaned descendants (Linux), so their CPU time is counted:
    ``local:N`` workers are children of multiprocessing's forkserver, which outlives the
    child that started it by a moment and is then reparented here instead of to init."""
    import ctypes
    from contextlib import suppress

    with suppress(OSError, AttributeError):  # not Linux: "other CPUs" may then count them
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_orphans(timeout: float = 10.0) -> None:
    """Wait (up to ``timeout`` s) for adopted orphans to exit, so their time is counted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def descendants_cpu_seconds() -> float:
    """CPU seconds of this process's reaped descendants (RUSAGE_CHILDREN)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_cpu_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (not idle, not waiting on I/O; steal
    included), from /proc/stat; 0 where there is none."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(f) for f in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def compare(rows: int, trials: int, repeats: int, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gapless-bench-training-") as tmp:
        scratch = Path(tmp)
        serial: dict[str, list[Run]] = {"gapless": [], "bare": []}
        scaling: dict[str, list[Run]] = {uri: [] for uri in SCALING if uri not in skipped()}
        for repeat in range(repeats):  # interleaved, so drift spreads over every kind
            for side in serial:
                serial[side].append(spawn(side, "local:1", scratch / f"{side}-{repeat}",
                                          rows, trials))
            for uri in scaling:
                scaling[uri].append(spawn("gapless", uri, scratch / f"{uri}-{repeat}".replace(
                    ":", "-"), rows, trials))
        paired = spawn("paired", "local:1", scratch / "paired", rows, trials)
        profiled = spawn("profile", "local:1", scratch / "profile", rows, trials) if (
            profile) else None
    return {"serial": serial, "paired": paired, "scaling": scaling, "profiled": profiled}


def skipped() -> dict[str, str]:
    """Executors of :data:`SCALING` this venv cannot open, with why; found without
    importing anything, so the parent stays small."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return {"dask-local:2": "distributed is not installed in this venv; "
                                "pip install 'gapless[dask]' to measure it"}
    return {}


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def same_work(serial: dict[str, list[Run]], paired: Run) -> str:
    """Whether every gapless and bare run, the paired one's two sides included, sampled
    the same parameters and scored the same CV values, trial by trial."""
    reference = serial["gapless"][0].trials
    runs = [(run.label, run.trials) for run in (*serial["gapless"], *serial["bare"], paired)]
    runs.append(("the paired run's bare side", paired.extra["bare_trials"]))
    for label, trials in runs:
        for mine, theirs in zip(trials, reference, strict=True):
            if mine["params"] != theirs["params"]:
                return f"**no**: {label} sampled {mine['params']} for {theirs['params']}"
            if abs(mine["value"] - theirs["value"]) > 1e-9:
                return (f"**no**: {label} scored {mine['value']!r} for "
                        f"{theirs['params']}, gapless {theirs['value']!r}")
    return "yes"


# -- report ----------------------------------------------------------------------------
def overhead_table(serial: dict[str, list[Run]]) -> str:
    lines = ["| side | run | trials (complete) | search s | s / trial | CPU s / trial "
             "| in trials s / trial | tracking s / trial | the rest s / trial | other CPUs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for side in ("gapless", "bare"):
        for number, run in enumerate(serial[side], 1):
            n = len(run.trials)
            mark = "**" if run is best(serial[side]) and len(serial[side]) > 1 else ""
            rest = run.seconds - run.busy - run.tracking_seconds
            lines.append(
                f"| {run.label} | {number} | {n} ({run.count('complete')}) | "
                f"{run.seconds:.2f} | {mark}{run.per_trial:.3f}{mark} | "
                f"{run.cpu_seconds / n:.3f} | {run.busy / n:.3f} | "
                f"{run.tracking_seconds / n:.4f} | {rest / n:.4f} | {run.other_cpus:.2f} |")
    return "\n".join(lines)


def overhead(serial: dict[str, list[Run]]) -> float:
    g, b = best(serial["gapless"]), best(serial["bare"])
    return (g.per_trial - b.per_trial) / b.per_trial


def spread(runs: list[Run]) -> float:
    return max(r.per_trial for r in runs) / min(r.per_trial for r in runs) - 1


def overhead_verdict(serial: dict[str, list[Run]], paired: Run) -> str:
    g, b = best(serial["gapless"]), best(serial["bare"])
    value, n = overhead(serial), len(g.trials)
    g_cpu = min(r.cpu_seconds for r in serial["gapless"]) / n
    b_cpu = min(r.cpu_seconds for r in serial["bare"]) / n
    pairs = paired.extra["pairs"]
    g_paired, b_paired = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    paired_value = (g_paired - b_paired) / b_paired
    q1, median, q3 = (statistics.quantiles([gi / bi - 1 for gi, bi in pairs], n=4)
                      if len(pairs) > 1 else [pairs[0][0] / pairs[0][1] - 1] * 3)
    g_in, b_in = paired.busy, sum(t["seconds"] for t in paired.extra["bare_trials"])
    tracking = paired.tracking_seconds
    rest = (g_paired - g_in - tracking) - (b_paired - b_in)

    def target(v: float) -> str:
        return "yes" if v <= TARGET_OVERHEAD else "**no**"

    return (f"- **Overhead, paired run** (one process, a bare trial right after each gapless "
            f"one, so the machine's drift cancels): ({g_paired / n:.3f} - {b_paired / n:.3f}) "
            f"/ {b_paired / n:.3f} = **{paired_value:+.1%}**; within the 10% target: "
            f"{target(paired_value)}; per-trial overhead: median {median:+.1%}, middle half "
            f"{q1:+.1%} to {q3:+.1%}\n"
            f"- Where gapless' extra {(g_paired - b_paired) / n:+.4f} s / trial goes (paired "
            f"run): inside trials {(g_in - b_in) / n:+.4f} (spec re-validation, the trial's "
            f"pipeline planned, against `cross_val_score`'s own machinery), recording the "
            f"child run {tracking / n:+.4f}, the rest (sampling, ask/tell, bookkeeping) "
            f"{rest / n:+.4f}\n"
            f"- Separate processes, best run each: ({g.per_trial:.3f} - {b.per_trial:.3f}) / "
            f"{b.per_trial:.3f} = {value:+.1%}; within the 10% target: {target(value)}; in "
            f"CPU time (least per side) {(g_cpu - b_cpu) / b_cpu:+.1%}. Run-to-run spread "
            f"of s / trial (slowest over fastest run): gapless "
            f"{spread(serial['gapless']):.1%}, bare {spread(serial['bare']):.1%}; where it "
            f"is near the overhead or above, these runs measure the machine's drift, not "
            f"gapless\n"
            f"- Same parameters sampled and same CV score in every trial, every run: "
            f"{same_work(serial, paired)}")


def workers(run: Run) -> int:
    return int(run.executor.rsplit(":", 1)[1])


def equal_work(run: Run, reference: Run) -> tuple[float, int, float]:
    """How much longer ``run``'s trials took than the same trials (same parameters) in
    ``reference`` once its workers were warm (each worker's first trial, which imports
    the model libraries, left out), with how many trials that compares; and the
    seconds ``reference`` would have needed for ``run``'s trials: theirs where it ran
    them, the others' scaled back by that slowdown."""
    def key(trial: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted(trial["params"].items()))

    serial = {key(t): t["seconds"] for t in reference.trials}
    warm = [(t["seconds"], serial[key(t)]) for number, t in enumerate(run.trials)
            if number >= workers(run) and key(t) in serial]
    slower = (sum(mine for mine, _ in warm) / sum(theirs for _, theirs in warm)
              if warm else 1.0)
    work = sum(serial.get(key(t), t["seconds"] / slower) for t in run.trials)
    return slower, len(warm), work


def scaling_table(serial: dict[str, list[Run]], paired: Run,
                  scaling: dict[str, list[Run]]) -> str:
    reference = best([*serial["gapless"], paired])
    lines = ["| executor | start-up s | search s | s / trial | trial s (summed) | "
             "trials in parallel | warm trial slowdown (compared) | speed-up (search) | "
             "speed-up (with start-up) | speed-up (equal work) | other CPUs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base_total = reference.startup_seconds + reference.seconds
    for run in (reference, *(best(runs) for runs in scaling.values())):
        total = run.startup_seconds + run.seconds
        slower, compared, work = equal_work(run, reference)
        equal = reference.seconds / (run.seconds * reference.busy / work)
        lines.append(
            f"| `{run.executor}` | {run.startup_seconds:.2f} | {run.seconds:.2f} | "
            f"{run.per_trial:.3f} | {run.busy:.1f} | {run.busy / run.seconds:.2f} | "
            f"{slower:.2f}x ({compared}) | {reference.seconds / run.seconds:.2f}x | "
            f"{base_total / total:.2f}x | {equal:.2f}x | {run.other_cpus:.2f} |")
    spreads = ", ".join(f"`{uri}` {spread(runs):.1%}" for uri, runs in scaling.items())
    notes = [f"Run-to-run spread of the search's wall time: {spreads}"] if scaling and all(
        len(runs) > 1 for runs in scaling.values()) else []
    notes += [f"`{uri}` not measured: {why}" for uri, why in skipped().items()]
    return "\n".join(lines) + "".join(f"\n\n{note}" for note in notes)


def profile_table(profiled: Run) -> str:
    n = len(profiled.trials)
    lines = [f"| step (profiled: {profiled.per_trial:.3f} s / trial) | on which side | calls "
             "| s / trial |", "| --- | --- | ---: | ---: |"]
    for step in profiled.extra["steps"]:
        lines.append(f"| {step['step']} | {step['who']} | {step['calls']:,} | "
                     f"{step['cumulative'] / n:.4f} |")
    return "\n".join(lines)


def section(outcome: dict[str, Any], rows: int, trials: int, repeats: int,
            profile: bool) -> str:
    serial, scaling, profiled = outcome["serial"], outcome["scaling"], outcome["profiled"]
    begin, end = _results.markers(SECTION)
    train_rows = serial["gapless"][0].train_rows
    default_size = (rows, trials, repeats) == (DEFAULT_ROWS, DEFAULT_TRIALS, DEFAULT_REPEATS)
    note = "" if default_size else (
        f"\n**Not the default size ({DEFAULT_ROWS:,} rows, {DEFAULT_TRIALS} trials, "
        f"{DEFAULT_REPEATS} repeats): a smoke check, not the reference numbers.**\n")
    profile = "" if profiled is None else f"""
Where the time goes (`--profile`: a separate gapless `local:1` search under cProfile,
which slows Python code; cumulative times, so rows nest; "both": the bare loop does
the same work):

{profile_table(profiled)}
"""
    return f"""{begin}
## Model search: per-trial overhead against bare Optuna + scikit-learn, and 2 workers
{note}
- Date: {_results.now()}
- Command: `{_results.command(default_run=default_size and not profile)}`
- Machine: {_results.machine()}
- **{_results.machine().split(" ", 1)[0]} CPUs**: 2 workers use them all; the coordinator
  (TPE, tracking writes) shares them with the workers
- "other CPUs" in the tables: how many CPUs were kept busy by anything but that run
  (other processes, the hypervisor's steal), on average, while its child process ran
  (from /proc/stat, less the CPU time of the child and its workers); above 0.1 or so,
  other work shared the machine and inflated that run's wall time
- Versions: gapless {_results.version("gapless")}, Optuna {_results.version("optuna")}, \
scikit-learn {_results.version("scikit-learn")}, Dask {_results.version("dask")}, \
distributed {_results.version("distributed")}, pandas {_results.version("pandas")}
- Data and search: `make_loans({rows:,}, seed={SEED})`, {train_rows:,} training rows after
  gapless' test split, {FOLDS}-fold CV (`plan.folds`), ROC AUC; `random_forest` with
  `n_estimators={N_ESTIMATORS}` and the default space for `max_depth`,
  `min_samples_leaf`, `max_features`; {trials} trials per run; TPE with gapless' settings
  on both sides; pruning off (every trial runs all folds)

### Overhead of gapless' search, `local:1`: {repeats} run(s) per side, then a paired run

{overhead_table(serial)}

{overhead_verdict(serial, outcome["paired"])}

"s / trial" is the search's wall time over the trials (bold: the best run, compared);
the table lists the separate runs, the verdict adds the paired run (see the docstring).
"in trials" is the time inside each trial (gapless: `evaluate_trial`, i.e. spec
re-validation, the trial's pipeline planned once and cloned per fold, fit and score;
bare: `clone` + `set_params` + `cross_val_score`, which clones per fold); "tracking"
is gapless recording each trial as a child run; "the rest"
is Optuna's ask/tell (TPE) and the search's own bookkeeping.

### Speed-up with 2 workers: gapless' search, best of {repeats} run(s) each

`local:1` is the fastest of its measurements above: the separate runs and the paired
run's gapless share.

{scaling_table(serial, outcome["paired"], scaling)}

"start-up" opens the executor (`local:2` starts its processes lazily, at the first
trial, so inside "search"; `dask-local:2` starts a LocalCluster of 2 single-threaded
workers). "trial s (summed)" is the time inside trials added up, and "trials in
parallel" that over the search's wall time. With two trials in flight TPE samples other
parameters after its 8 random start-up trials, so the work differs between runs and the
plain speed-ups mix parallelism with luck. "warm trial slowdown" compares the trials
both runs sampled alike, leaving out each worker's first trial (which imports the model
libraries): how much longer a trial took in a worker than in process (how many trials
compared in brackets). "speed-up (equal work)" estimates the speed-up for the same work
as `local:1`: this run's search time, scaled by how long `local:1` took for the trials
this run sampled (theirs where `local:1` ran them too, the others' by the slowdown)
against the trials `local:1` did run; first-trial imports count against it, start-up not.
{profile}
How it is measured (see the docstring of `benchmarks/bench_training.py`): each run is a
fresh child process that builds its own workspace and plan, then times only the search
(imports, data and planning excluded).
{end}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows of make_loans (default {DEFAULT_ROWS:,})")
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                        help=f"trials per search (default {DEFAULT_TRIALS})")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"runs per side for the overhead (default {DEFAULT_REPEATS})")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="Markdown file whose training section is replaced with the results")
    parser.add_argument("--profile", action="store_true",
                        help="also run gapless' search once under cProfile")
    # The child processes' mode; not for people.
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--executor", default="local:1", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("rows", "trials", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.side is not None:
        run_side(args.side, args.executor, args.workdir, args.result, args.rows, args.trials)
        return 0
    become_subreaper()
    outcome = compare(args.rows, args.trials, args.repeats, args.profile)
    print(overhead_table(outcome["serial"]))
    print(overhead_verdict(outcome["serial"], outcome["paired"]))
    print(scaling_table(outcome["serial"], outcome["paired"], outcome["scaling"]))
    if outcome["profiled"] is not None:
        print(profile_table(outcome["profiled"]))
    if args.output is not None:
        _results.write_section(args.output, SECTION, section(
            outcome, args.rows, args.trials, args.repeats, args.profile))
        print(f"wrote the {SECTION} section of {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

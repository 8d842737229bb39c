"""``gapless demo``: the lifecycle on bundled data, end to end, in a throwaway workspace.

It grows with every capability. Today, on a generated loan-applications table (mixed
types, missing values that depend on other columns, outliers, duplicates, a drift over
time): ingest it as a versioned dataset, validate it against a declared schema
(quarantining failing rows), clean it with a recorded spec, profile it to an HTML
report, then train on the cleaned version: a heuristic baseline, an Optuna search over
three model families with cross-validation, the winner scored once on the latest
quarter, behavioural and fairness checks, and a model card; finally register the model
(signature, lineage back to the raw CSV) and promote it through per-alias gates, where
staging accepts it and production refuses it for failing its fairness thresholds; then
deploy what staging accepted to the endpoint ``loans``, start the server in process (no
port) and send it rows of the dataset, retrain the search's runner-up trial as a
challenger and roll it out as a canary that the server's own controller ramps (10, 50,
100 %) under guardrails until it promotes or rolls it back, and show each variant's
numbers for the canary period; then feed the endpoint traffic that shifts halfway,
send the outcomes late as feedback, and show the drift and the performance drop that
monitoring finds, in the terminal and an HTML report (see ``demo_monitoring``); finally
the drop fires an alert whose trigger the scheduler turns into an unattended retraining
pipeline run: a challenger trained on the new traffic, challenged, canaried under live
traffic and promoted or rolled back (see ``demo_retraining``), and a summary page;
last, the applicants' repayment history becomes a feature view, joined point in time
for training (measured against the same search without it), materialized, and fetched
by customer id when the endpoint ``loans-repayments`` serves (see ``demo_features``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gapless.cli.demo_features import serve_with_features
from gapless.cli.demo_monitoring import monitor_shift
from gapless.cli.demo_retraining import retrain_on_alert
from gapless.cli.render import console

if TYPE_CHECKING:
    from gapless.workspace import Workspace

EXPERIMENT = "demo-loan-default"
MODEL = "loan-default"
# What the demo's model must show: staging asks for skill, production also for fairness.
GATES: dict[str, Any] = {"aliases": {
    "staging": {"metrics": {"roc_auc": {"min": 0.6}, "brier": {"max": 0.25}},
                "behavioural": True, "fairness": False, "data_validation": "passed"},
    "production": {"metrics": {"roc_auc": {"min": 0.6}, "brier": {"max": 0.25}},
                   "beat_current": {"metric": "roc_auc", "delta": 0.0},
                   "behavioural": True, "fairness": True, "data_validation": "passed"},
}}
TARGET = "defaulted"
ENDPOINT = "loans"
BATCH_ROWS = 8  # rows per request: small batches, as an application would send them
CANARY_DEADLINE_S = 30.0

SCHEMA: dict[str, Any] = {
    "description": "what a loan application must look like",
    "columns": {
        "application_id": {"not_null": True, "unique": True},
        "applied_at": {"not_null": True},
        "age": {"min": 18, "max": 100},
        "income": {"min": 0, "max_missing_fraction": 0.05},
        "region": {"allowed_values": ["north", "south", "east", "west", "central"]},
        "interest_rate": {"min": 0, "max": 30},
        TARGET: {"not_null": True, "allowed_values": [0, 1]},
    },
    "table": {
        "row_count": {"min": 1000},
        "predicates": [{"name": "loan_is_positive", "sql": "loan_amount > 0"}],
    },
}

CLEANING: dict[str, Any] = {
    "duplicates": True,
    "missing": {
        "income": {"strategy": "median", "flag": True},
        "housing": {"strategy": "mode", "flag": True},
        "credit_score": {"strategy": "knn", "features": ["age", "loan_amount", "interest_rate"]},
        "debt": {"strategy": "median"},
    },
    "outliers": {"age": {"method": "iqr", "factor": 3, "action": "drop"}},
    "time_column": "applied_at",
}


def demo(
    directory: Path = typer.Option(
        None, "--dir", "--keep", help="Keep the demo workspace in this folder instead of a "
        "temporary one (explore it with `gapless -w DIR serve` and the dashboard)."
    ),
    rows: int = typer.Option(5000, "--rows", help="Loan applications to generate."),
    use_case: str = typer.Option("loans", "--use-case", help="loans (credit risk, the "
                                 "default) or tourism (destination recommendations)."),
) -> None:
    """Run the whole lifecycle on bundled data in a throwaway workspace."""
    from gapless.core.errors import ValidationError
    from gapless.workspace import Workspace

    if use_case not in ("loans", "tourism"):
        raise ValidationError(f"--use-case {use_case!r}: expected loans or tourism")
    out = console()
    root = directory or Path(tempfile.mkdtemp(prefix="gapless-demo-"))
    try:
        with Workspace.init(root) as ws:
            out.print(f"[bold]gapless demo[/] ({use_case}) workspace: {ws.root}\n")
            if use_case == "tourism":
                from gapless.cli.demo_tourism import run_tourism

                run_tourism(ws, say=out.print)
                return
            cleaned = prepare_data(ws, rows, say=out.print)
            run_id = train_candidates(ws, cleaned, say=out.print)
            deployed = register_and_promote(ws, run_id, say=out.print)
            deploy_and_canary(ws, cleaned, run_id, deployed, say=out.print)
            shift_at = monitor_shift(ws, cleaned, endpoint=ENDPOINT, target=TARGET,
                                     batch_rows=BATCH_ROWS, say=out.print)
            retrain_on_alert(ws, cleaned, endpoint=ENDPOINT, target=TARGET, model=MODEL,
                             shift_at=shift_at, batch_rows=BATCH_ROWS, say=out.print)
            serve_with_features(ws, cleaned, target=TARGET, say=out.print)
            if directory is None:
                out.print("\n(the workspace is temporary; run `gapless demo --dir DIR` to keep it)")
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)


def prepare_data(ws: Workspace, rows: int, *, say: Callable[..., None]) -> str:
    """Ingest, validate (quarantine), clean and profile; returns the cleaned version's ref."""
    from gapless.data.sample_data import make_loans
    from gapless.reports.profile import profile_html
    from gapless.reports.render import write_html
    from gapless.reports.validation import write_validation_report

    reports = ws.root / "reports"
    raw = ws.root / "raw" / "loans.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    make_loans(rows, seed=7).to_csv(raw, index=False)
    added = ws.data.add("loans", str(raw), time_column="applied_at",
                        description="loan applications, generated by gapless.data.sample_data")
    say(f"[bold]1. ingest[/]   {added.message}")

    outcome = ws.data.validate(added.version, SCHEMA, on_fail="quarantine")
    write_validation_report(outcome.result, reports / "validation.html",
                            reports / "validation.json")
    failed = ", ".join(o.id for o in outcome.result.failed) or "none"
    say(f"[bold]2. validate[/] {'passed' if outcome.passed else 'failed'}: {failed}")
    if outcome.quarantine is not None:
        say(f"             quarantined {outcome.quarantine.row_count:,} rows as "
            f"{outcome.quarantine.ref}")
    say(f"             report: {reports / 'validation.html'}")

    cleaned = ws.data.clean(added.version, CLEANING, description="demo cleaning")
    report = cleaned.version.spec["report"]
    say(f"[bold]3. clean[/]    {cleaned.message} (duplicates dropped: "
        f"{report['duplicates']['rows_dropped']}, values imputed: "
        f"{sum(c['imputed'] for c in report['missing']['columns'].values())}, "
        f"outlier rows dropped: {report['outliers']['rows_dropped']})")
    revalidated = ws.data.validate(cleaned.version, SCHEMA, on_fail="warn")
    say(f"             {cleaned.version.ref} against the same schema: "
        f"{'passed' if revalidated.passed else 'failed'} (the registry's data gate reads this)")

    profile = ws.data.profile(cleaned.version, target=TARGET)
    write_html(reports / "profile.html", profile_html(profile))
    top = profile["target_association"]["columns"][0]
    say(f"[bold]4. profile[/]  {len(profile['alerts'])} alerts; strongest link to {TARGET}: "
        f"{top['column']} ({top['measure']} {top['value']:+.2f}); "
        f"report: {reports / 'profile.html'}")
    return cleaned.version.ref


def train_spec(dataset: str) -> dict[str, Any]:
    """The demo's task spec: a heuristic first, then a small search over three families."""
    return {
        "name": EXPERIMENT,
        "dataset": dataset,
        "target": TARGET,
        "features": {"exclude": ["customer_id"]},
        "split": {"method": "time", "time_column": "applied_at", "test_size": 0.25},
        "cv": {"folds": 4},
        "baseline": {"rule": "credit_score < 560"},
        "candidates": [
            {"family": "logistic_regression", "params": {"max_iter": 500}},
            {"family": "random_forest", "params": {"n_estimators": 100}},
            {"family": "hist_gradient_boosting"},
        ],
        "budget": {"trials": 12},
        "imbalance": {"class_weight": "balanced"},
        "behavioural_tests": [
            {"type": "directional", "name": "a better credit score never raises the risk",
             "column": "credit_score", "delta": 50, "direction": "decrease",
             "tolerance": 0.02},
            {"type": "invariance", "name": "the channel does not decide",
             "column": "channel", "values": ["branch", "online", "broker"], "tolerance": 0.1},
        ],
        "fairness": {"sensitive": ["region"]},
        "limitations": "Trained on synthetic loan applications generated by gapless; "
                       "the test split is the latest quarter, so it also shows drift.",
    }


def train_candidates(ws: Workspace, dataset: str, *, say: Callable[..., None]) -> str:
    """Train the baseline and the candidates, write the model card; returns the run id."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gapless.cli.runs import runs_table

    with Progress(TextColumn("             {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console(), transient=True) as progress:
        task = progress.add_task("searching", total=None)
        result = ws.train(train_spec(dataset), on_progress=lambda p: progress.update(
            task, completed=p.done, total=p.total,
            description=f"best cv {p.best:.3f}" if p.best is not None else "searching"))
    card = ws.root / "reports" / "model_card.html"
    card.write_bytes(ws.runs.read_artifact(result.run_id, "model_card.html"))
    found = ws.runs.search(f"parent_id = '{result.run_id}' and status = 'FINISHED'",
                           order_by="metrics.cv_roc_auc DESC", limit=6)
    say(f"[bold]5. train[/]    {result.trials['complete']} trials done, "
        f"{result.trials['pruned']} pruned, {result.trials['failed']} failed")
    console().print(runs_table(found, title="best trials and the baseline, by CV ROC AUC",
                               metric_keys=["cv_roc_auc"], param_keys=["family"]))
    verdicts = []
    if result.evaluation.get("behavioural"):
        verdicts.append("behavioural tests " + (
            "passed" if result.evaluation["behavioural_passed"] else "FAILED"))
    if result.evaluation.get("fairness") is not None:
        verdicts.append("fairness " + ("passed" if result.evaluation["fairness_passed"]
                                       else "FAILED"))
    say(f"best: [bold]{result.best_family}[/] cv roc_auc={result.cv_score:.3f}, test "
        f"roc_auc={result.test_metrics['roc_auc']:.3f} (baseline "
        f"{result.baseline_test_metrics['roc_auc']:.3f}); {'; '.join(verdicts)}")
    say(f"model card: {card}")
    say(f"inspect it: gapless -w {ws.root} runs show {result.run_id[:8]}")
    return result.run_id


def register_and_promote(ws: Workspace, run_id: str, *, say: Callable[..., None]) -> str:
    """Register the trained model and promote it through the gates of staging and
    production; returns what to deploy: the highest alias applied, else the version."""
    from gapless.core.errors import PromotionRefusedError

    version = ws.models.register(run_id, MODEL, description="demo loan-default model")
    chain = " -> ".join(str(step["name"])[:24] for step in ws.models.lineage(version)
                        if step["kind"] in ("version", "run", "dataset", "source"))
    say(f"[bold]6. register[/] {version.ref}: {len(version.signature['inputs'])} input columns "
        f"in its signature; lineage {chain}")
    deployable = version.ref
    for alias in ("staging", "production"):
        try:
            promotion = ws.models.promote(version.ref, alias, gates=GATES,
                                          reason=f"demo: first candidate for {alias}")
        except PromotionRefusedError as exc:
            say(f"[bold]7. promote[/]  {alias}: [red]refused[/], every failing gate listed:")
            for gate in exc.gates:
                if not gate["passed"]:
                    say(f"             - {gate['gate']}: {gate['detail']}")
            continue
        deployable = f"{MODEL}@{alias}"
        say(f"[bold]7. promote[/]  {MODEL}@{alias} -> version {promotion.to_version} "
            f"({len(promotion.gates)} gates passed)")
    say(f"audit log: gapless -w {ws.root} models history {MODEL}")
    return deployable


def deploy_and_canary(ws: Workspace, dataset: str, run_id: str, model: str, *,
                      say: Callable[..., None]) -> None:
    """Deploy ``model`` on the endpoint ``loans`` and serve rows of ``dataset`` through an
    in-process app (no port), then canary a challenger until the server's own controller
    promotes or rolls it back (or ``CANARY_DEADLINE_S`` passes: the outcome is never
    forced), and show each variant's numbers for the canary period."""
    import time
    import warnings
    from collections import Counter

    from gapless.cli.render import variant_table
    from gapless.server.app import create_app
    from gapless.serving.canary import CanaryController, variant_windows
    from gapless.serving.deployments import Guardrails, Ramp

    with warnings.catch_warnings():  # Starlette's notice about its httpx dependency
        warnings.filterwarnings("ignore", message="Using `httpx` with")
        from fastapi.testclient import TestClient

    first = ws.deploy(ENDPOINT, model, strategy="single", reason="demo: first deployment")
    say(f"\n[bold]8. deploy[/]   endpoint {ENDPOINT} serves {model} "
        f"(strategy single, revision {first.revision})")
    batches = _request_batches(ws, dataset)
    with TestClient(create_app(ws, auth=False, poll_interval=0.1,
                               canary_interval=0.2)) as client:
        answers = [_predict(client, next(batches)) for _ in range(25)]
        labels = Counter(p for a in answers for p in a["predictions"])
        say(f"[bold]9. serve[/]    POST /v1/endpoints/{ENDPOINT}/predict: {len(answers)} "
            f"requests of {BATCH_ROWS} rows from the latest quarter of {dataset} (keyed by "
            f"customer_id), answered by {', '.join(sorted({a['model'] for a in answers}))}; "
            f"{labels[1] / sum(labels.values()):.0%} predicted to default")

        challenger = train_challenger(ws, dataset, run_id, say=say)
        canary = ws.deploy(ENDPOINT, challenger, strategy="canary",
                           ramp=Ramp(steps=[10, 50, 100], interval_s=1.0),
                           guardrails=Guardrails(min_requests=30, max_error_rate=0.01,
                                                 max_p95_ms=500.0, max_prediction_shift=0.2),
                           reason="demo: canary of the runner-up")
        say(f"             canary {challenger} at 10% beside {model}, ramp 10 -> 50 -> 100% "
            f"every 1s; guardrails: error rate <= 1%, p95 <= 500 ms, prediction shift (PSI) "
            f"<= 0.2, judged after 30 rows")
        started, sent = time.monotonic(), 0
        while (time.monotonic() - started < CANARY_DEADLINE_S
               and ws.deployments.get(ENDPOINT).spec.strategy == "canary"):
            _predict(client, next(batches))
            sent += 1
        elapsed = time.monotonic() - started
    # Leaving the client closed the prediction log, so every answered row is in it now.
    final = ws.deployments.get(ENDPOINT)
    steps = ws.deployments.history(ENDPOINT)[canary.revision:]
    for entry in steps if final.spec.strategy == "canary" else steps[:-1]:
        say(f"             revision {entry['revision']}: {entry['reason']}")
    if final.spec.strategy == "canary":
        decision = CanaryController(ws.metadata).preview(ENDPOINT).decision
        say(f"             [yellow]still ramping[/] after {elapsed:.0f}s and {sent} requests "
            f"(next decision {decision.action}: {decision.reason})")
    else:
        won = final.spec.variants[0].model == challenger
        say(f"             {'[green]promoted[/]' if won else '[red]rolled back[/]'} after "
            f"{elapsed:.1f}s and {sent} requests, revision {final.revision}: "
            f"{ws.deployments.history(ENDPOINT)[-1]['reason']}")

    windows = variant_windows(ws.metadata, ENDPOINT, canary.updated_at,
                              None if final.spec.strategy == "canary" else final.updated_at)
    models = {v.name: v.model for v in canary.spec.variants}
    table = variant_table(windows, models=models, title=f"{ENDPOINT} per variant during the "
                          f"canary (revisions {canary.revision}-{final.revision}, from the "
                          "prediction log)")
    console().print(table)
    say(f"[bold]11. live[/]    {ENDPOINT} revision {final.revision}, {final.spec.strategy}: "
        + ", ".join(f"{v.name}={v.model} {v.weight:g}%" for v in final.spec.variants
                    if v.role == "primary"))
    say(f"serve it: gapless -w {ws.root} serve --no-auth, then POST rows to "
        f"/v1/endpoints/{ENDPOINT}/predict; watch it: gapless -w {ws.root} deploy "
        f"{ENDPOINT} --status")


def train_challenger(ws: Workspace, dataset: str, run_id: str, *,
                     say: Callable[..., None]) -> str:
    """Retrain the search's runner-up (its second-best complete trial) with that trial's
    parameters fixed, on the same data, split and checks, and register it as the next
    version; returns its ref. The runner-up rather than the best of another family:
    evaluating some families (SHAP, permutation importance) takes a minute on a laptop,
    while the runner-up usually shares the winner's family and costs what it did."""
    import ast

    trials = ws.runs.search(f"parent_id = '{run_id}' and tags.role = 'trial' and "
                            "tags.state = 'complete'", order_by="metrics.cv_roc_auc DESC",
                            limit=2)
    runner_up = trials[-1]

    def value(text: str) -> Any:  # tracking keeps params as text
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    family = runner_up.params["family"]
    spec = {**train_spec(dataset), "name": f"{EXPERIMENT}-challenger", "budget": {"trials": 1},
            "candidates": [{"family": family, "params": {
                k: value(v) for k, v in runner_up.params.items() if k != "family"}}]}
    with console().status(f"             retraining {family} as the challenger"):
        result = ws.train(spec)
    version = ws.models.register(result.run_id, MODEL,
                                 description=f"demo challenger: {family}, the runner-up")
    say(f"[bold]10. canary[/]  challenger {version.ref}: {family} with the parameters of "
        f"{runner_up.name} (cv roc_auc {runner_up.metrics['cv_roc_auc']:.3f}), retrained: "
        f"test roc_auc {result.test_metrics['roc_auc']:.3f}")
    return version.ref


def _request_batches(ws: Workspace, dataset: str) -> Any:
    """Endless ``(keys, records)`` batches of the latest quarter of ``dataset`` (the rows
    the models were tested on, not fitted on), as JSON would carry them, without the
    target: ids and context ride along, and the server ignores what no signature names."""
    import itertools
    import json

    frame = ws.data.load(dataset).sort_values("applied_at")
    latest = frame.iloc[int(len(frame) * 0.75):].drop(columns=[TARGET])
    records = json.loads(latest.to_json(orient="records", date_format="iso"))
    chunks = [records[i:i + BATCH_ROWS] for i in range(0, len(records), BATCH_ROWS)]
    return itertools.cycle([([r["customer_id"] for r in c], c) for c in chunks])


def _predict(client: Any, batch: tuple[list[str], list[dict[str, Any]]]) -> dict[str, Any]:
    keys, records = batch
    answer = client.post(f"/v1/endpoints/{ENDPOINT}/predict",
                         json={"instances": records, "keys": keys})
    if answer.status_code != 200:
        raise RuntimeError(f"demo: endpoint {ENDPOINT} answered {answer.status_code}: "
                           f"{answer.text[:500]}")
    return answer.json()

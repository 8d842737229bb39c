"""The demo's closing loop: the accuracy drop fires an alert, the alert triggers the
retraining pipeline, and the scheduler runs it unattended while traffic keeps coming.

The pipeline (``pipelines/retrain-loans.yaml`` in the workspace) turns the labelled
requests since the shift into a dataset, trains a challenger on them, registers it,
challenges the served champion (holdout and feedback), canaries it under guardrails with
the live traffic, and promotes it to production only if the canary ends at 100 %. Then
a summary page links every report the demo wrote.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from gapless.cli.demo_monitoring import PHASE_S, distort, request_batches

if TYPE_CHECKING:
    from gapless.workspace import Workspace

PIPELINE = "retrain-loans"
# The retrained model is judged on labels (holdout and feedback), so the guardrails watch
# errors and latency, not how differently it answers: answering differently is the point.
GUARDRAILS = {"min_requests": 30, "max_error_rate": 0.01, "max_p95_ms": 500.0,
              "max_prediction_shift": None}
GATES = {"aliases": {"production": {"metrics": {"roc_auc": {"min": 0.6}},
                                    "behavioural": False, "fairness": False,
                                    "data_validation": "off"}}}


def retraining_spec(endpoint: str, target: str, model: str, since: float) -> dict[str, Any]:
    train = {"name": "demo-loan-default-retrained", "dataset": "placeholder@1",
             "target": target,
             "features": {"exclude": ["applied_at"]},
             "split": {"method": "random", "test_size": 0.25}, "cv": {"folds": 3},
             "candidates": [{"family": "hist_gradient_boosting"}], "budget": {"trials": 2}}
    return {
        "name": PIPELINE, "executor": "local:1",
        "description": "retrain on the labelled traffic since the shift; take over only "
                       "through the gates and a canary",
        "triggers": {"alerts": True}, "params": {"since": since},
        "steps": [
            {"name": "feedback", "uses": "feedback",
             "with": {"endpoint": endpoint, "target": target, "since": "${params.since}"}},
            {"name": "train", "uses": "train",
             "with": {"spec": train, "dataset": "${steps.feedback.dataset}",
                      "executor": "local:1"}},
            {"name": "register", "uses": "register",
             "with": {"run_id": "${steps.train.run_id}", "model": model,
                      "description": "retrained on the traffic since the shift"}},
            {"name": "challenge", "uses": "challenge",
             # Judged on accuracy, the metric whose drop raised the alert.
             "with": {"challenger": "${steps.register.version}", "endpoint": endpoint,
                      "alias": "production", "gates": GATES, "since": "${params.since}",
                      "metric": "accuracy"}},
            {"name": "canary", "uses": "canary",
             "with": {"endpoint": endpoint, "model": "${steps.challenge.challenger}",
                      "steps": [20, 60, 100], "interval": 2.0, "guardrails": GUARDRAILS,
                      "timeout": 120, "poll": 0.25}},
            {"name": "promote", "uses": "promote",
             "with": {"version": "${steps.challenge.challenger}", "alias": "production",
                      "gates": GATES}, "needs": ["canary"]},
        ]}


def retrain_on_alert(ws: Workspace, dataset: str, *, endpoint: str, target: str, model: str,
                     shift_at: float, batch_rows: int, say: Callable[..., None]) -> None:
    """Alert, trigger, unattended retraining under live traffic, summary."""
    from gapless.cli.pipeline import show_run
    from gapless.cli.scheduler import build_scheduler

    folder = ws.root / "pipelines"
    folder.mkdir(exist_ok=True)
    spec_path = folder / f"{PIPELINE}.yaml"
    spec_path.write_text(yaml.safe_dump(retraining_spec(endpoint, target, model, shift_at),
                                        sort_keys=False), encoding="utf-8")
    rules = [{"name": "loans-accuracy", "endpoint": endpoint, "metric": "performance.accuracy",
              "window": "5s", "condition": "< 0.5", "min_rows": 100,
              "actions": ["log", {"pipeline": PIPELINE}]}]
    alerts = ws.monitor.alerts(rules, now=shift_at + PHASE_S)
    fired = alerts.fired
    say("\n[bold]13. alert[/]   rule loans-accuracy (performance.accuracy < 0.5 on 5s windows "
        "of labelled traffic): " + (f"[red]fired[/] at {fired[0].value:.3f}, trigger for "
                                     f"pipeline {PIPELINE}" if fired else
                                     f"quiet ({alerts.outcomes[0].reason})"))
    if not fired:
        return
    say(f"[bold]14. retrain[/] the scheduler consumes the trigger and runs {spec_path.name} "
        "unattended, while traffic (still distorted, labelled) keeps coming")
    with _traffic(ws, dataset, endpoint, target, batch_rows):
        actions = build_scheduler(ws, folder).tick()
    for action in actions:
        say(f"             scheduler: {action}")
    runs = ws.pipelines.runs(PIPELINE, limit=1)
    if not runs:
        return
    show_run(runs[0])
    challenged = next((st for st in runs[0].steps if st.step == "challenge"), None)
    for line in ((challenged.log or "").splitlines() if challenged else ()):
        if "beat current" in line:
            say(f"             {line}")
    final = ws.deployments.get(endpoint)
    serving = ", ".join(f"{v.model} {v.weight:g}%" for v in final.spec.variants
                        if v.role == "primary")
    production = ws.models.get(f"{model}@production").ref if _has_alias(
        ws, model, "production") else "none"
    say(f"             {endpoint} serves {serving} (revision {final.revision}); "
        f"{model}@production is {production}")
    path = write_summary(ws, runs[0], endpoint, model)
    say(f"             summary of everything the demo made: {path}")


def write_summary(ws: Workspace, run: Any, endpoint: str, model: str) -> Any:
    from gapless.reports.render import write_html
    from gapless.reports.summary import render_summary

    reports = ws.root / "reports"
    links = [(name, f"{name}.html", note) for name, note in (
        ("validation", "the raw data against its schema"),
        ("profile", "the cleaned data, column by column"),
        ("model_card", "the first model: metrics, slices, fairness, explanations"),
        ("monitoring", "windows of the endpoint, drift, realized and estimated accuracy"))
        if (reports / f"{name}.html").is_file()]
    versions = [[v.ref, ", ".join(v.aliases) or "-", v.description or "",
                 json.dumps({k: round(val, 4) for k, val in v.metrics.items()
                             if k in ("test_roc_auc", "test_accuracy")})]
                for v in ws.models.versions(model)]
    history = [[h["revision"], h["spec"].get("strategy"),
                ", ".join(f"{v.get('model')} {v.get('weight')}%"
                          for v in h["spec"].get("variants", [])), h["reason"] or ""]
               for h in ws.deployments.history(endpoint)]
    steps = [[s.step, s.status, f"{s.seconds:.1f}s" if s.seconds is not None else "-",
              s.error or json.dumps(s.outputs or {}, default=str)[:160]] for s in run.steps]
    page = render_summary(
        "gapless demo: the whole loop", subtitle=f"workspace {ws.root}",
        links=links, tables=[
            {"title": f"Retraining pipeline {run.pipeline}, run {run.id[:8]} ({run.status}, "
                      f"trigger {run.trigger})", "header": ["step", "status", "took", "outputs"],
             "rows": steps},
            {"title": f"Versions of {model}", "header": ["version", "aliases", "description",
                                                         "test metrics"], "rows": versions},
            {"title": f"Deployments of endpoint {endpoint}",
             "header": ["revision", "strategy", "variants", "reason"], "rows": history}])
    return write_html(reports / "index.html", page)


def _has_alias(ws: Workspace, model: str, alias: str) -> bool:
    return any(alias in v.aliases for v in ws.models.versions(model))


class _traffic:
    """Distorted, labelled traffic to the endpoint from a thread, for as long as the
    ``with`` block runs (through an in-process app whose controller ramps canaries)."""

    def __init__(self, ws: Workspace, dataset: str, endpoint: str, target: str,
                 rows: int) -> None:
        self.args = ws, dataset, endpoint, target, rows
        self.stop = threading.Event()

    def __enter__(self) -> None:
        import warnings

        from gapless.server.app import create_app

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using `httpx` with")
            from fastapi.testclient import TestClient

        ws, dataset, endpoint, target, rows = self.args
        self.client = TestClient(create_app(ws, auth=False, poll_interval=0.1,
                                            canary_interval=0.25))
        self.client.__enter__()
        batches = request_batches(ws, dataset, target, rows)

        def send() -> None:
            while not self.stop.is_set():
                records, outcomes = next(batches)
                answer = self.client.post(f"/v1/endpoints/{endpoint}/predict",
                                          json={"instances": [distort(r) for r in records]})
                if answer.status_code == 200:
                    self.client.post(f"/v1/endpoints/{endpoint}/feedback", json={
                        "feedback": [{"prediction_id": i, "label": y} for i, y in
                                     zip(answer.json()["ids"], outcomes, strict=True)]})
                time.sleep(0.005)

        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.client.__exit__(None, None, None)

"""``gapless serve`` and ``gapless deploy``: the REST server, and what it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gapless.cli.render import console, open_workspace, variant_table
from gapless.core.errors import ConfigError, ValidationError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(1, "--workers", min=1),
    no_auth: bool = typer.Option(False, "--no-auth",
                                 help="Serve without API keys (loopback only)."),
    max_body_mb: float = typer.Option(10.0, "--max-body-mb", min=0.001),
    micro_batch: bool = typer.Option(
        True, "--micro-batch/--no-micro-batch",
        help="Answer concurrent requests to one model with one predict call."),
    log_sample_rate: float = typer.Option(
        1.0, "--log-sample-rate", min=0.0, max=1.0,
        help="Share of predictions written to the prediction log (0 turns it off)."),
    scheduler: bool = typer.Option(
        False, "--scheduler", help="Also run the pipeline scheduler (as `gapless scheduler` "
        "does) in a background thread while the server runs."),
) -> None:
    """Serve every deployed endpoint over REST (docs at /docs)."""
    import os

    import uvicorn

    from gapless.server import factory

    if no_auth and host not in LOOPBACK:
        raise ConfigError(f"--no-auth is allowed only on loopback; {host} is reachable from "
                          "other machines — create a key with `gapless keys create`")
    with open_workspace(ctx) as ws:
        root = str(ws.root)
    os.environ[factory.WORKSPACE] = root
    os.environ[factory.AUTH] = "0" if no_auth else "1"
    os.environ[factory.MAX_BODY] = str(int(max_body_mb * 1024 * 1024))
    os.environ[factory.MICRO_BATCH] = "1" if micro_batch else "0"
    os.environ[factory.LOG_SAMPLE_RATE] = repr(log_sample_rate)
    console().print(f"serving {root} on http://{host}:{port} (docs: /docs; auth "
                    f"{'off' if no_auth else 'on'})")
    stop = None
    if scheduler:
        from gapless.cli.scheduler import start_background

        stop = start_background(root)
    try:
        uvicorn.run("gapless.server.factory:app", factory=True, host=host, port=port,
                    workers=workers, log_level="warning")
    finally:
        if stop is not None:
            stop.set()


def deploy(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="Endpoint name, e.g. churn."),
    model: str = typer.Option(None, "--model", help="NAME@VERSION or NAME@ALIAS."),
    strategy: str = typer.Option(
        "single", "--strategy",
        help="single, blue-green, shadow, canary, ab or champion-challenger."),
    weight: float = typer.Option(None, "--weight", min=0, max=100,
                                 help="Percent of traffic for the new model (canary, ab)."),
    steps: str = typer.Option(None, "--steps", help="Canary ramp, e.g. 5,25,50,100."),
    interval: float = typer.Option(None, "--interval", min=0.001,
                                   help="Seconds a canary holds each step when healthy."),
    runtime: str = typer.Option("python", "--runtime",
                                help="python, or onnx (checked against the model first)."),
    spec: Path = typer.Option(None, "--spec", help="Deployment spec YAML (any strategy)."),
    rollback: bool = typer.Option(False, "--rollback",
                                  help="Restore the previous deployment."),
    status: bool = typer.Option(False, "--status",
                                help="Show the deployment and each variant's live numbers."),
    promote_challenger: bool = typer.Option(
        False, "--promote-challenger",
        help="Promote the challenger if it beats the champion on feedback and passes the "
             "gates of --alias."),
    alias: str = typer.Option("production", "--alias"),
    reason: str = typer.Option(None, "--reason"),
) -> None:
    """Deploy a model to an endpoint, roll back, or show how its variants are doing;
    servers pick up a change within a second."""
    import yaml

    from gapless.serving.deployments import Ramp, load_spec

    actions = [model is not None, spec is not None, rollback, status, promote_challenger]
    if sum(actions) != 1:
        raise ValidationError("give one of --model NAME@VERSION, --spec FILE, --rollback, "
                              "--status or --promote-challenger")
    with open_workspace(ctx) as ws:
        if status:
            _show_status(ws, endpoint)
            return
        if promote_challenger:
            from gapless.serving.challenger import promote_challenger as promote

            done = promote(ws, endpoint, alias=alias, reason=reason)
            console().print(f"{endpoint}: challenger promoted to "
                            f"{done['promotion']['model']}@{alias} (v"
                            f"{done['promotion']['to_version']}), scored on {done['dataset']};"
                            f" deployment revision {done['revision']}")
            return
        if rollback:
            applied = ws.deployments.rollback(endpoint, reason=reason)
        elif spec is not None:
            applied = ws.deploy(endpoint, spec=load_spec(
                yaml.safe_load(Path(spec).read_text(encoding="utf-8")) or {}), reason=reason)
        else:
            ramp = None
            if steps is not None or interval is not None:
                fields = {"steps": [float(x) for x in steps.split(",")]} if steps else {}
                ramp = Ramp(**fields, **({"interval_s": interval} if interval else {}))
            applied = ws.deploy(endpoint, model, strategy=strategy, weight=weight, ramp=ramp,
                                runtime=runtime, reason=reason)
    console().print(f"{endpoint}: revision {applied.revision}, {applied.spec.strategy}: "
                    f"{_variants(applied.spec)}")


def _variants(spec: Any) -> str:
    return ", ".join(f"{v.name}={v.model}" + (f" {v.weight:g}%" if v.role == "primary"
                                               else " (shadow)") for v in spec.variants)


def _show_status(ws: Any, endpoint: str) -> None:
    """The deployment, each variant's numbers since it last changed, the canary's next
    decision and the challenger's standing on feedback."""
    from gapless.serving.canary import CanaryController, variant_windows
    from gapless.serving.challenger import compare_on_feedback

    current = ws.deployments.get(endpoint)
    out = console()
    out.print(f"{endpoint}: revision {current.revision}, {current.spec.strategy}: "
              f"{_variants(current.spec)} (by {current.updated_by})")
    windows = variant_windows(ws.metadata, endpoint, current.updated_at)
    table = variant_table(windows, title="since the last change (logged rows)")
    out.print(table)
    if current.spec.strategy == "canary" and current.spec.ramp is not None:
        tick = CanaryController(ws.metadata).preview(endpoint)
        out.print(f"canary: next decision {tick.decision.action} ({tick.decision.reason})")
    if current.spec.strategy == "champion-challenger":
        for row in compare_on_feedback(ws, endpoint):
            scores = ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                               if k in ("accuracy", "mae", "rmse") and v is not None)
            out.print(f"feedback: {row['variant']} ({row['model']}, {row['role']}): "
                      f"{row['rows']} labelled rows, {row['errors']} failed, {scores}")
    for entry in ws.deployments.history(endpoint)[-5:]:
        out.print(f"  revision {entry['revision']} by {entry['actor']}: "
                  f"{entry['reason'] or '-'}")

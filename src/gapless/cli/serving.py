"""``gapless serve`` and ``gapless deploy``: the REST server, and what it serves."""

from __future__ import annotations

from pathlib import Path

import typer

from gapless.cli.render import console, open_workspace
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
    console().print(f"serving {root} on http://{host}:{port} (docs: /docs; auth "
                    f"{'off' if no_auth else 'on'})")
    uvicorn.run("gapless.server.factory:app", factory=True, host=host, port=port,
                workers=workers, log_level="warning")


def deploy(
    ctx: typer.Context,
    endpoint: str = typer.Argument(..., help="Endpoint name, e.g. churn."),
    model: str = typer.Option(None, "--model", help="NAME@VERSION or NAME@ALIAS."),
    spec: Path = typer.Option(None, "--spec", help="Deployment spec YAML (any strategy)."),
    rollback: bool = typer.Option(False, "--rollback",
                                  help="Restore the previous deployment."),
    reason: str = typer.Option(None, "--reason"),
) -> None:
    """Deploy a model to an endpoint (or roll back); servers pick it up within a second."""
    import yaml

    from gapless.serving.deployments import DeploymentStore, load_spec, single

    if sum(x is not None and x is not False for x in (model, spec, rollback or None)) != 1:
        raise ValidationError("give one of --model NAME@VERSION, --spec FILE or --rollback")
    with open_workspace(ctx) as ws:
        store = DeploymentStore(ws.metadata)
        if rollback:
            applied = store.rollback(endpoint, reason=reason)
        else:
            chosen = single(model) if model else load_spec(
                yaml.safe_load(Path(spec).read_text(encoding="utf-8")) or {})
            for variant in chosen.variants:
                ws.models.get(variant.model)  # NotFoundError names a missing model
            applied = store.put(endpoint, chosen, reason=reason)
    variants = ", ".join(f"{v.name}={v.model}" + (f" {v.weight:g}%" if v.role == "primary"
                                                   else " (shadow)")
                         for v in applied.spec.variants)
    console().print(f"{endpoint}: revision {applied.revision}, {applied.spec.strategy}: "
                    f"{variants}")

"""``gapless models``: the registry — versions, lineage, aliases, gates, audit, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from gapless.cli.render import console, number, open_workspace, when
from gapless.core.errors import ValidationError

app = typer.Typer(help="Registered models: versions, aliases, promotion, audit, export.",
                  no_args_is_help=True)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every registered model with its latest version and aliases."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        models = ws.models.list()
    table = Table(title="registered models", title_justify="left")
    for column in ("name", "latest", "versions", "aliases", "created"):
        table.add_column(column)
    for item in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in item["aliases"].items()) or "-"
        table.add_row(item["name"], str(item["latest"]), str(item["versions"]), aliases,
                      when(item["created_at"]))
    console().print(table if models else "no registered models yet; "
                    "`gapless train SPEC --register NAME` registers one")


@app.command("show")
def show(ctx: typer.Context,
         ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS.")) -> None:
    """A version with its lineage chain, signature and metrics (NAME alone: all versions)."""
    from rich.table import Table

    out = console()
    with open_workspace(ctx) as ws:
        if "@" not in ref:
            versions = ws.models.versions(ref)
            table = Table(title=f"{ref}: versions", title_justify="left")
            for column in ("version", "aliases", "run", "format", "created", "by"):
                table.add_column(column)
            for v in versions:
                table.add_row(str(v.version), ", ".join(v.aliases) or "-", (v.run_id or "-")[:8],
                              v.format + (" (encrypted)" if v.encrypted else ""),
                              when(v.created_at), v.created_by)
            out.print(table)
            return
        version = ws.models.get(ref)
        chain = ws.models.lineage(version)
    out.print(f"[bold]{version.ref}[/] ({', '.join(version.aliases) or 'no alias'}) "
              f"sha256 {version.model_digest[:12]}… {version.format}"
              f"{', encrypted' if version.encrypted else ''}; registered {when(version.created_at)}"
              f" by {version.created_by}" + (f"; trusted by {version.trusted_by}"
                                             if version.trusted_by else ""))
    if version.description:
        out.print(version.description)
    out.print("[bold]lineage[/]")
    for step in chain:
        indent = "  " * (1 + int(step.get("depth", 0)))
        detail = f" ({step['detail']})" if step.get("detail") else ""
        out.print(f"{indent}-> {step['kind']}: {step['name']}{detail}")
    if version.signature:
        table = Table(title="signature", title_justify="left")
        for column in ("input", "type", "nullable", "values"):
            table.add_column(column)
        for column in version.signature["inputs"]:
            values = column.get("categories")
            shown = (", ".join(map(str, values[:6])) + (" …" if len(values) > 6 else "")
                     if values is not None else
                     f"{column.get('minimum')} .. {column.get('maximum')}"
                     if column.get("minimum") is not None else "")
            table.add_row(column["name"], column["type"],
                          "yes" if column.get("nullable") else "no", shown)
        output = version.signature["output"]
        table.add_row("[bold]→ " + output["name"], output["type"], "",
                      ", ".join(map(str, output.get("classes") or [])) or output["problem"])
        out.print(table)
    metrics = {k: v for k, v in version.metrics.items() if k.startswith(("test_", "cv_"))}
    if metrics:
        out.print("[bold]metrics[/] " + ", ".join(f"{k}={number(v)}"
                                                  for k, v in sorted(metrics.items())))


@app.command("promote")
def promote(ctx: typer.Context,
            ref: str = typer.Argument(..., help="The version to promote: NAME@VERSION."),
            to: str = typer.Option(..., "--to", help="Alias, e.g. production."),
            reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
            gates: Path = typer.Option(None, "--gates",
                                       help="Gates YAML (default: gates.yaml in the workspace)."),
            override: bool = typer.Option(False, "--override",
                                          help="Apply despite failed gates (admins only)."),
            ) -> None:
    """Point an alias at a version once it passes the promotion gates."""
    with open_workspace(ctx) as ws:
        _moved(ws.models.promote(ref, to, reason=reason, gates=gates, override=override))


@app.command("alias")
def alias(ctx: typer.Context,
          ref: str = typer.Argument(..., help="NAME@VERSION (or NAME with --remove)."),
          name: str = typer.Argument(..., help="The alias, e.g. staging or challenger."),
          reason: str = typer.Option(None, "--reason"),
          remove: bool = typer.Option(False, "--remove", help="Remove the alias instead."),
          gates: Path = typer.Option(None, "--gates"),
          override: bool = typer.Option(False, "--override")) -> None:
    """Set (or remove) any alias; gated like promote."""
    with open_workspace(ctx) as ws:
        if remove:
            _moved(ws.models.remove_alias(ref.split("@")[0], name, reason=reason))
        else:
            _moved(ws.models.alias(ref, name, reason=reason, gates=gates, override=override))


@app.command("rollback")
def rollback(ctx: typer.Context, name: str = typer.Argument(...),
             alias_name: str = typer.Option("production", "--alias"),
             reason: str = typer.Option(None, "--reason")) -> None:
    """Point an alias back at the version that held it before the current one."""
    with open_workspace(ctx) as ws:
        _moved(ws.models.rollback(name, alias_name, reason=reason))


@app.command("history")
def history(ctx: typer.Context, name: str = typer.Argument(...),
            alias_name: str = typer.Option(None, "--alias")) -> None:
    """The append-only audit log: who moved what, when, why, and the gate results."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        entries = ws.models.history(name, alias_name)
    table = Table(title=f"{name}: audit log", title_justify="left")
    for column in ("when", "who", "action", "alias", "from", "to", "outcome", "reason", "gates"):
        table.add_column(column)
    for e in entries:
        failed = [g["gate"] for g in e.gates if not g.get("passed")]
        gates = (f"[red]failed: {', '.join(failed)}[/]" if failed
                 else f"{len(e.gates)} passed" if e.gates else "-")
        style = {"refused": "red", "conflict": "yellow", "overridden": "magenta"}.get(e.outcome)
        table.add_row(when(e.created_at), e.actor, e.action, e.alias or "-",
                      _v(e.from_version), _v(e.to_version),
                      f"[{style}]{e.outcome}[/]" if style else e.outcome, e.reason or "-", gates)
    console().print(table)


@app.command("export")
def export(ctx: typer.Context, ref: str = typer.Argument(...),
           format: str = typer.Option("bundle", "--format", help="bundle or onnx."),
           out: Path = typer.Option(..., "--out", help="Folder to write into.")) -> None:
    """Write a deployable bundle (model, signature, requirements, Dockerfile) or an ONNX file
    with its equivalence and latency against the original."""
    with open_workspace(ctx) as ws:
        report = ws.models.export(ref, out, format=format)
    console().print(f"wrote {report['path']}")
    if "comparison" in report:
        _show_onnx(report["comparison"])


@app.command("import")
def import_file(ctx: typer.Context, path: Path = typer.Argument(...),
                name: str = typer.Option(..., "--name"),
                trust: bool = typer.Option(False, "--trust",
                                           help="Load a pickle/joblib file (runs its code)."),
                description: str = typer.Option(None, "--description")) -> None:
    """Register a model file: .skops (trusted types only), or pickle/joblib with --trust."""
    with open_workspace(ctx) as ws:
        version = ws.models.import_file(path, name, trust=trust, description=description)
    console().print(f"registered {version.ref} ({version.format}) from {path}")


@app.command("import-mlflow")
def import_mlflow(ctx: typer.Context, path: Path = typer.Argument(...),
                  name: str = typer.Option(..., "--name"),
                  trust: bool = typer.Option(False, "--trust",
                                             help="Load its pickle (runs its code)."),
                  description: str = typer.Option(None, "--description")) -> None:
    """Register a model directory saved by MLflow's sklearn flavor."""
    with open_workspace(ctx) as ws:
        version = ws.models.import_mlflow(path, name, trust=trust, description=description)
    console().print(f"registered {version.ref} ({version.format}) from MLflow model {path}")


@app.command("new-key")
def new_key() -> None:
    """Print a new random key for GAPLESS_ENCRYPTION_KEY (keep it out of gapless.yaml)."""
    from gapless.registry.encryption import generate_key

    typer.echo(generate_key())


@app.command("what-if")
def what_if(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="A training run id, or a model NAME@VERSION."),
    row: str = typer.Option(..., "--row", help='The case as JSON, e.g. {"age": 40, ...}.'),
    feature: str = typer.Option(..., "--feature", "-f", help="Column to vary."),
    values: str = typer.Option(..., "--values", help="JSON list, e.g. [500, 600, 700]."),
) -> None:
    """How the model's prediction for one case moves as FEATURE takes each value."""
    from rich.table import Table

    from gapless.evaluation import what_if as explore

    case, options = _json(row, "--row", dict), _json(values, "--values", list)
    with open_workspace(ctx) as ws:
        model = (ws.models.load(source) if "@" in source
                 else ws.models.load_run(ws.runs.get(source).id))
    results = explore(model, case, feature, options)
    table = Table(title=f"what if {feature} were ...", title_justify="left")
    keys = [k for k in results[0] if k != "value"] if results else []
    table.add_column(feature)
    for key in keys:
        table.add_column(key, justify="right")
    for item in results:
        table.add_row(str(item["value"]), *[
            number(v) if isinstance(v, float) else json.dumps(v, default=str)
            for v in (item[k] for k in keys)])
    console().print(table)


def _moved(result: Any) -> None:
    out = console()
    for gate in result.gates:
        mark = "[green]pass[/]" if gate["passed"] else "[red]FAIL[/]"
        out.print(f"  {mark} {gate['gate']}: {gate['detail']}")
    target = "removed" if result.to_version is None else f"-> version {result.to_version}"
    out.print(f"{result.model}@{result.alias}: {_v(result.from_version)} {target} "
              f"({result.outcome})")


def _show_onnx(comparison: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"ONNX vs scikit-learn on {comparison['rows']} held-out rows",
                  title_justify="left")
    for column in ("", "scikit-learn", "onnxruntime"):
        table.add_column(column, justify="right")
    latency = comparison["latency_ms"]
    table.add_row("single row (ms, median)", number(latency["sklearn"]["single_row"]),
                  number(latency["onnx"]["single_row"]))
    table.add_row(f"batch of {comparison['batch_rows']} (ms)",
                  number(latency["sklearn"]["batch"]), number(latency["onnx"]["batch"]))
    table.add_row("file size (bytes)", str(comparison.get("skops_bytes", "-")),
                  str(comparison["onnx_bytes"]))
    console().print(table)
    agreement = comparison.get("label_agreement")
    console().print(f"max abs difference {comparison['max_abs_diff']:.3g}"
                    + (f"; labels agree on {agreement:.2%}" if agreement is not None else ""))


def _v(version: int | None) -> str:
    return "-" if version is None else str(version)


def _json(text: str, option: str, kind: type) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{option} is not valid JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(value, kind):
        raise ValidationError(f"{option} must be a JSON {kind.__name__}, got {text!r}")
    return value


@app.command("import-bundle")
def import_bundle(ctx: typer.Context, path: Path = typer.Argument(...),
                  name: str = typer.Option(None, "--name", help="Default: the bundle's."),
                  alias_name: str = typer.Option(None, "--alias",
                                                 help="Also point this alias at it.")) -> None:
    """Register a bundle written by `gapless models export` (digests checked first)."""
    with open_workspace(ctx) as ws:
        version = ws.models.import_bundle(path, name=name, alias=alias_name)
    console().print(f"registered {version.ref} from bundle {path}"
                    + (f" as {alias_name}" if alias_name else ""))

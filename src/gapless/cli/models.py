"""``gapless models``: trained models (the registry commands join this group)."""

from __future__ import annotations

import json

import typer

from gapless.cli.render import console, number, open_workspace
from gapless.core.errors import ValidationError

app = typer.Typer(help="Inspect and manage trained models.", no_args_is_help=True)


@app.command("what-if")
def what_if(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Training run whose model to ask."),
    row: str = typer.Option(..., "--row", help='The case as JSON, e.g. {"age": 40, ...}.'),
    feature: str = typer.Option(..., "--feature", "-f", help="Column to vary."),
    values: str = typer.Option(..., "--values", help="JSON list, e.g. [500, 600, 700]."),
) -> None:
    """How the model's prediction for one case moves as FEATURE takes each value."""
    from rich.table import Table

    from gapless.evaluation import what_if as explore
    from gapless.training.trainer import model_of_run

    case, options = _json(row, "--row", dict), _json(values, "--values", list)
    with open_workspace(ctx) as ws:
        model = model_of_run(ws.runs, ws.runs.get(run_id).id)
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


def _json(text: str, option: str, kind: type) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{option} is not valid JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(value, kind):
        raise ValidationError(f"{option} must be a JSON {kind.__name__}, got {text!r}")
    return value

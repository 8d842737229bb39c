"""``gapless features``: register feature views, list them, build a training set."""

from __future__ import annotations

from pathlib import Path

import typer

from gapless.cli.render import console, open_workspace, when

app = typer.Typer(help="Feature views: versioned definitions, point-in-time training sets.",
                  no_args_is_help=True)


@app.command("apply")
def apply(ctx: typer.Context,
          spec: Path = typer.Argument(..., help="A feature view spec (YAML).")) -> None:
    """Register the views of SPEC: a changed definition becomes the next version."""
    with open_workspace(ctx) as ws:
        applied = ws.features.apply(spec)
    for a in applied:
        v = a.version
        console().print(f"{v.ref}: " + ("registered" if a.created else "unchanged") + f" "
                        f"({len(v.view.features)} features of {', '.join(v.view.entities)})",
                        highlight=False)


@app.command("list")
def list_views(ctx: typer.Context) -> None:
    """The latest version of every feature view."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        found = ws.features.views()
    table = Table("view", "entities", "timestamp", "ttl", "features", "source", "created")
    for v in found:
        source = v.view.source.dataset or v.view.source.parquet or ""
        table.add_row(v.ref, ", ".join(v.view.entities), v.view.timestamp or "(static)",
                      v.view.ttl or "-", ", ".join(f.name for f in v.view.features), source,
                      when(v.created_at))
    console().print(table if found else "no feature views yet: gapless features apply SPEC")


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    view: str = typer.Argument(..., help="A view: NAME (latest version) or NAME@VERSION."),
    until: str = typer.Option(None, "--until", help="As of this UTC time (ISO 8601; "
                              "default now)."),
    since: str = typer.Option(None, "--since", help="Only entities with source rows after "
                              "this time (incremental)."),
) -> None:
    """Write VIEW's values as of --until into the online store (idempotent; a new view
    version replaces the old one's rows)."""
    from gapless.cli.monitor import _utc_time

    with open_workspace(ctx) as ws:
        done = ws.features.materialize(
            view, until=_utc_time(until, "--until") if until else None,
            since=_utc_time(since, "--since") if since else None)
        fresh = ws.features.online_store.freshness(view.partition("@")[0],
                                                   int(done.view.rsplit("@", 1)[1]))
    dropped = f"; dropped version(s) {done.dropped_versions}" if done.dropped_versions else ""
    console().print(f"{done.view}: {done.rows:,} entities written as of {when(done.until)}; "
                    f"{fresh['rows']:,} in the online store{dropped}", highlight=False)


@app.command("get")
def get(
    ctx: typer.Context,
    view: str = typer.Argument(..., help="A view name."),
    key: list[str] = typer.Option(..., "--key", "-k", help="An entity key (repeat; a "
                                  "compound key as parts joined by |)."),
    feature: list[str] = typer.Option([], "--feature", "-f", help="A feature (default: "
                                      "all of the view's)."),
) -> None:
    """Online values of VIEW for the given entity keys, as serving reads them."""
    import json

    keys = [tuple(k.split("|")) if "|" in k else k for k in key]
    names = [f"{view}:{f}" for f in feature] or [view]
    with open_workspace(ctx) as ws:
        rows = ws.features.online(keys, names)
    for k, row in zip(key, rows, strict=True):
        console().print(f"{k}: {json.dumps(row, default=str)}", highlight=False, markup=False)


@app.command("training-set")
def training_set(
    ctx: typer.Context,
    entities: str = typer.Argument(..., help="Entity rows: a CSV/Parquet file or "
                                   "NAME@VERSION (keys and a timestamp column)."),
    feature: list[str] = typer.Option(..., "--feature", "-f", help="VIEW:FEATURE or VIEW "
                                      "(repeat)."),
    timestamp: str = typer.Option("event_timestamp", "--timestamp", help="The entity "
                                  "rows' lookup-time column."),
    save_as: str = typer.Option(None, "--save-as", help="Store it as the next version of "
                                "this dataset, with lineage to the views."),
    output: Path = typer.Option(None, "--output", "-o", help="Write it as Parquet."),
) -> None:
    """Join each entity row with its features as they were at its time (never later)."""
    from gapless.cli.monitor import load_frames

    # A dataset is passed by name, so the saved set records it as a parent.
    frame = load_frames(ctx, entities)[0] if Path(entities).exists() else entities
    with open_workspace(ctx) as ws:
        result = ws.features.training_set(frame, feature, timestamp=timestamp,
                                          save_as=save_as)
    frame, ref = result if save_as else (result, None)
    if output is not None:
        frame.to_parquet(output, index=False)
    console().print(f"{len(frame):,} rows x {frame.shape[1]} columns"
                    + (f"; saved as {ref}" if ref else "")
                    + (f"; written to {output}" if output else ""), highlight=False)

"""``gapless data add|list|show|diff|validate|clean|profile``: versioned datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from gapless.cli.render import console, number, open_workspace, when
from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    from rich.tree import Tree

    from gapless.core.records import DatasetVersion, LineageNode

app = typer.Typer(help="Version, validate, clean and profile datasets.", no_args_is_help=True)


def pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` -> ``{"a": "1", "b": "2"}``, naming a malformed item."""
    found = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} {item!r} must look like NAME=VALUE")
        found[key] = value
    return found


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name."),
    source: str = typer.Argument(..., help="File, folder, glob, fsspec URI or SQLAlchemy URL."),
    query: str = typer.Option(None, "--query", "-q", help="SQL query (with a database URL)."),
    table: str = typer.Option(None, "--table", help="Table to read (with a database URL)."),
    time_column: str = typer.Option(None, "--time-column", "-t", help="The event-time column."),
    description: str = typer.Option(None, "--description", "-d"),
    format: str = typer.Option(None, "--format", help="csv, parquet or jsonl (default: suffix)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (default: detected)."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding (default: detected)."),
    types: list[str] = typer.Option(None, "--type", help="Column type, e.g. age=float."),
    options: list[str] = typer.Option(None, "--option", help="fsspec option, e.g. anon=true."),
) -> None:
    """Snapshot SOURCE as the next version of dataset NAME (nothing new if identical)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    read_options: dict[str, Any] = {}
    if delimiter:
        read_options["delimiter"] = delimiter.encode().decode("unicode_escape")
    if encoding:
        read_options["encoding"] = encoding
    if types:
        read_options["column_types"] = pairs(types, "--type")
    out = console()
    with open_workspace(ctx) as ws, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=out, transient=True,
    ) as progress:
        task = progress.add_task(f"reading {source}")
        result = ws.data.add(
            name, source, query=query, table=table, time_column=time_column,
            description=description, format=format,
            storage_options=pairs(options, "--option") or None,
            on_rows=lambda rows: progress.update(task, description=f"{rows:,} rows read"),
            **read_options,
        )
    out.print(result.message)


@app.command("list")
def list_datasets(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Show every version of this dataset."),
) -> None:
    """List datasets (latest version of each), or every version of NAME."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        found = ws.data.versions(name)
    if name is None:
        latest: dict[str, DatasetVersion] = {}
        for version in found:
            latest[version.dataset] = version
        found = list(latest.values())
    table = Table(title="datasets" if name is None else f"versions of {name}",
                  title_justify="left")
    for column in ("version", "kind", "rows", "columns", "size", "created", "by", "source"):
        table.add_column(column, justify="right" if column in ("rows", "columns", "size") else
                         "left")
    for v in found:
        table.add_row(v.ref, v.kind, f"{v.row_count:,}", str(len(v.columns)), _size(v.size),
                      when(v.created_at), v.created_by, v.source_uri or ", ".join(v.parents))
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME, NAME@3 or NAME@latest."),
    lineage: bool = typer.Option(False, "--lineage", help="Print the tree of parents."),
) -> None:
    """Show a version: where it came from and its columns with statistics."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        version = ws.data.get(ref)
        tree = ws.data.lineage(version) if lineage else None
    out = console()
    out.print(f"[bold]{version.ref}[/] ({version.kind})  {version.row_count:,} rows x "
              f"{len(version.columns)} columns  {_size(version.size)}  "
              f"sha256:{version.digest[:16]}")
    out.print(f"created {when(version.created_at)} by {version.created_by}"
              + (f"  source {version.source_uri}" if version.source_uri else "")
              + (f"  parents {', '.join(version.parents)}" if version.parents else ""))
    for label, value in (("query", version.query), ("time column", version.time_column),
                         ("description", version.description)):
        if value:
            out.print(f"{label}: {value}")
    if tree is not None:
        out.print(lineage_tree(tree))
        return
    table = Table(title="columns", title_justify="left")
    for column in ("column", "type", "semantic", "missing", "distinct", "min", "max", "mean",
                   "std"):
        table.add_column(column, justify="left" if column in ("column", "type", "semantic")
                         else "right")
    for c in version.columns:
        table.add_row(str(c["name"]), str(c["type"]), str(c["semantic"]),
                      f"{c['null_fraction']:.1%}", f"{c.get('distinct', 0):,}",
                      _cell(c.get("min")), _cell(c.get("max")), _cell(c.get("mean")),
                      _cell(c.get("std")))
    out.print(table)


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: str = typer.Argument(..., help="Older version, e.g. sales@1."),
    new: str = typer.Argument(..., help="Newer version, e.g. sales@2 or sales@latest."),
) -> None:
    """Schema changes, row-count change and per-column statistic changes."""
    from rich.table import Table

    from gapless.data.diff import diff_versions

    with open_workspace(ctx) as ws:
        result = diff_versions(ws.data.get(old), ws.data.get(new))
    out = console()
    rows = result["rows"]
    out.print(f"[bold]{result['old']} -> {result['new']}[/]  rows {rows['old']:,} -> "
              f"{rows['new']:,} ({rows['change']:+,})"
              + ("  [green]identical content[/]" if result["identical"] else ""))
    for label, key, style in (("added columns", "added_columns", "green"),
                              ("removed columns", "removed_columns", "red")):
        if result[key]:
            out.print(f"[{style}]{label}:[/] {', '.join(result[key])}")
    for change in result["type_changes"]:
        out.print(f"[yellow]type changed:[/] {change['column']} {change['old']} -> "
                  f"{change['new']} ({change['old_semantic']} -> {change['new_semantic']})")
    if result["statistics"]:
        table = Table(title="statistic changes", title_justify="left")
        for column in ("column", "statistic", "old", "new", "change"):
            table.add_column(column, justify="left" if column in ("column", "statistic")
                             else "right")
        for item in result["statistics"]:
            relative = item["change"]
            table.add_row(item["column"], item["statistic"], _cell(item["old"]),
                          _cell(item["new"]), "-" if relative is None else f"{relative:+.1%}")
        out.print(table)


def lineage_tree(node: LineageNode, tree: Tree | None = None) -> Tree:
    """A Rich tree: the version, its parents, and at the leaves the sources they came from."""
    from rich.tree import Tree

    v = node.version
    label = f"[bold]{v.ref}[/] [dim]{v.kind}, {v.row_count:,} rows, {when(v.created_at)}[/]"
    branch = Tree(label) if tree is None else tree.add(label)
    for parent in node.parents:
        lineage_tree(parent, branch)
    if v.source_uri:
        branch.add(f"[cyan]source[/] {v.source_uri}" + (f"  query: {v.query}" if v.query else ""))
    return branch


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(size)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"

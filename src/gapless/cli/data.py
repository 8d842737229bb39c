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


@app.command("clean")
def clean(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version to clean, e.g. loans@1."),
    spec: str = typer.Option(None, "--spec", "-s", help="Cleaning spec YAML."),
    replay: str = typer.Option(None, "--replay", help="Reuse the spec of this cleaned version."),
    into: str = typer.Option(None, "--into", help="Dataset to write to (default: the same)."),
    description: str = typer.Option(None, "--description", "-d"),
) -> None:
    """Clean a version with a recorded spec; the result is a new version with lineage."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        result = ws.data.clean(ref, spec, replay=replay, into=into, description=description)
    out = console()
    out.print(result.message)
    report = (result.version.spec or {}).get("report", {})
    if not report:
        return
    out.print(f"rows {report['rows_in']:,} -> {report['rows_out']:,}; duplicates dropped: "
              f"{report['duplicates']['rows_dropped']:,}")
    table = Table(title="what cleaning did", title_justify="left")
    for column in ("column", "step", "method", "affected", "left missing", "rows dropped"):
        table.add_column(column, justify="left" if column in ("column", "step", "method")
                         else "right")
    for column, item in report["missing"]["columns"].items():
        table.add_row(column, "missing", item["strategy"], f"{item['imputed']:,}",
                      f"{item['remaining']:,}", f"{item.get('rows_dropped', 0):,}")
    for column, item in report["outliers"]["columns"].items():
        affected = item["clipped"] + item["flagged"] + item["rows_dropped"]
        table.add_row(column, f"outliers ({item['action']})", item["method"], f"{affected:,}",
                      "-", f"{item['rows_dropped']:,}")
    out.print(table)


@app.command("profile")
def profile(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version to profile, e.g. loans@1."),
    html: str = typer.Option(None, "--html", help="Write the HTML report here."),
    json_path: str = typer.Option(None, "--json", help="Write the profile as JSON here."),
    target: str = typer.Option(None, "--target", help="Column to relate every column to."),
    max_rows: int = typer.Option(None, "--max-rows", help="Sample size for correlations/PCA."),
) -> None:
    """Profile a version: column statistics, correlations, target association, PCA, alerts."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gapless.reports.profile import profile_html
    from gapless.reports.render import write_html, write_json

    out = console()
    with open_workspace(ctx) as ws, Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                             TimeElapsedColumn(), console=out,
                                             transient=True) as progress:
        progress.add_task(f"profiling {ref}")
        result = ws.data.profile(ref, target=target, max_rows=max_rows)
    table = result["table"]
    out.print(f"[bold]{result['dataset']}[/]: {table['rows']:,} rows x {table['columns']} "
              f"columns, {table['missing_cells_fraction']:.1%} cells missing, "
              f"{table['duplicate_rows']:,} duplicate rows")
    for alert in result["alerts"][:15]:
        out.print(f"  [yellow]{alert['kind']}[/] {alert['message']}", highlight=False)
    for column, item in (result.get("missingness") or {}).get("columns", {}).items():
        out.print(f"  [cyan]missing[/] {column} {item['fraction']:.1%}: {item['verdict']}",
                  highlight=False)
    if html:
        out.print(f"HTML report: {write_html(html, profile_html(result))}")
    if json_path:
        out.print(f"JSON profile: {write_json(json_path, result)}")


@app.command("validate")
def validate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Version to check, e.g. loans@1."),
    schema: str = typer.Option(..., "--schema", "-s", help="Declared schema YAML."),
    on_fail: str = typer.Option("fail", "--on-fail", help="fail | warn | quarantine"),
    html: str = typer.Option(None, "--html", help="HTML report path (default: .gapless/reports)."),
    json_path: str = typer.Option(None, "--json", help="JSON report path (default: beside it)."),
) -> None:
    """Check a version against a declared schema; exit 1 when it fails and --on-fail is fail."""
    from rich.table import Table

    from gapless.reports.validation import write_validation_report

    with open_workspace(ctx) as ws:
        outcome = ws.data.validate(ref, schema, on_fail=on_fail)
        stem = f"{outcome.version.dataset}@{outcome.version.version}-validation-{outcome.record_id}"
        folder = ws.settings.state_dir / "reports"
    html = html or str(folder / f"{stem}.html")
    json_path = json_path or str(folder / f"{stem}.json")
    paths = write_validation_report(outcome.result, html, json_path)
    out = console()
    table = Table(title=f"validation of {outcome.version.ref}", title_justify="left")
    for column in ("expectation", "status", "failing rows", "message"):
        table.add_column(column, justify="right" if column == "failing rows" else "left")
    for item in outcome.result.expectations:
        style = {"pass": "green", "fail": "red"}.get(item.status, "yellow")
        table.add_row(item.id, f"[{style}]{item.status}[/]", f"{item.failing_rows:,}",
                      item.message)
    out.print(table)
    failed = len(outcome.result.failed)
    verdict = "[green]passed[/]" if outcome.passed else f"[red]failed[/] ({failed} expectations)"
    out.print(f"{outcome.version.ref} {verdict}; report: {', '.join(str(p) for p in paths)}")
    if outcome.quarantine is not None:
        out.print(f"quarantined {outcome.quarantine.row_count:,} failing rows as "
                  f"{outcome.quarantine.ref}")
    if not outcome.passed and on_fail == "fail":
        raise typer.Exit(1)

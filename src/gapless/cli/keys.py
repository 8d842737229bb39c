"""``gapless keys``: API keys of the REST server — create (token shown once), list, revoke."""

from __future__ import annotations

import typer

from gapless.cli.render import console, open_workspace, when

app = typer.Typer(help="API keys for the REST server: create, list, revoke.",
                  no_args_is_help=True)


@app.command("create")
def create(ctx: typer.Context,
           name: str = typer.Option(..., "--name", help="What the key is for, e.g. ci-deployer."),
           scope: list[str] = typer.Option(
               ..., "--scope",
               help="predict, read, deploy or admin; repeat for more than one "
               "(admin grants all, deploy also read)."),
           ) -> None:
    """Create a key and print its token once; only a salted hash of it is stored."""
    with open_workspace(ctx) as ws:
        key, token = ws.keys.create(name, scope)
    out = console()
    out.print(f"created API key [bold]{key.key_id}[/] ({key.name}) "
              f"with scopes {', '.join(key.scopes)}", highlight=False)
    # Printed bare (no markup, no wrapping) so it can be copied or captured whole.
    out.print(token, markup=False, highlight=False, soft_wrap=True)
    out.print("[yellow]Store this token now: it cannot be shown again.[/] "
              "Clients send it as `Authorization: Bearer <token>` (the CLI reads "
              "GAPLESS_API_KEY).", highlight=False)


@app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key with its scopes and use; never a token or hash."""
    from rich.table import Table

    with open_workspace(ctx) as ws:
        keys = ws.keys.list()
    if not keys:
        console().print("no API keys yet; `gapless keys create --name N --scope predict` "
                        "creates one")
        return
    table = Table(title="API keys", title_justify="left")
    for column in ("id", "name", "scopes", "created", "by", "last used", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(key.key_id, key.name, ", ".join(key.scopes), when(key.created_at),
                      key.created_by, when(key.last_used_at),
                      "[red]yes[/]" if key.revoked else "no")
    console().print(table)


@app.command("revoke")
def revoke(ctx: typer.Context,
           key_id: str = typer.Argument(..., help="The key's id, as `gapless keys list` shows.")
           ) -> None:
    """Revoke a key for good; servers refuse it within seconds."""
    with open_workspace(ctx) as ws:
        key = ws.keys.revoke(key_id)
    console().print(f"revoked API key [bold]{key.key_id}[/] ({key.name})", highlight=False)

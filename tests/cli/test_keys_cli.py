"""``gapless keys`` as a user runs it: create prints the token once, list never shows it,
revoke, and a bad scope is one line with exit code 2."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.core.errors import ValidationError

runner = CliRunner()


def test_create_list_revoke(workspace: Workspace) -> None:
    root = str(workspace.root)
    created = runner.invoke(app, ["-w", root, "keys", "create", "--name", "ci-deployer",
                                  "--scope", "deploy", "--scope", "predict"])
    assert created.exit_code == 0, created.output
    token = re.search(r"^gl_[a-z0-9]{12}_[A-Za-z0-9_-]+$", created.output, re.M)
    assert token is not None, created.output
    assert "cannot be shown again" in created.output
    key = workspace.keys.verify(token.group())
    assert key is not None and key.scopes == ("predict", "deploy")

    listed = runner.invoke(app, ["-w", root, "keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert key.key_id in listed.output and "ci-deployer" in listed.output
    assert "predict, deploy" in listed.output
    secret = token.group().split("_", 2)[2]
    assert secret not in listed.output and token.group() not in listed.output

    revoked = runner.invoke(app, ["-w", root, "keys", "revoke", key.key_id])
    assert revoked.exit_code == 0 and f"revoked API key {key.key_id}" in revoked.output
    assert workspace.keys.verify(token.group()) is None
    assert "yes" in runner.invoke(app, ["-w", root, "keys", "list"]).output


def test_list_when_empty(workspace: Workspace) -> None:
    result = runner.invoke(app, ["-w", str(workspace.root), "keys", "list"])
    assert result.exit_code == 0 and "no API keys yet" in result.output


def test_bad_input_reaches_the_api_as_validation_error(workspace: Workspace) -> None:
    result = runner.invoke(app, ["-w", str(workspace.root), "keys", "create", "--name", "x",
                                 "--scope", "write"])
    assert isinstance(result.exception, ValidationError)
    unknown = runner.invoke(app, ["-w", str(workspace.root), "keys", "revoke", "nokey"])
    assert unknown.exception is not None and "nokey" in str(unknown.exception)
    assert workspace.keys.list() == []


def test_bad_scope_is_one_line_exit_2(workspace: Workspace, gapless_cli) -> None:  # type: ignore[no-untyped-def]
    done = gapless_cli("-w", str(workspace.root), "keys", "create", "--name", "x",
                       "--scope", "write")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "'write' is not known" in lines[0] and "read, predict, deploy, admin" in lines[0]
    assert done.stdout == ""

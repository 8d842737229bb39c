"""``gapless models`` as a user runs it: register at training, show, promote, history,
rollback, a refused promotion, new keys and refused imports."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.data.sample_data import make_loans
from gapless.registry.encryption import ModelCipher

runner = CliRunner()
COLUMNS = ["application_id", "customer_id", "applied_at", "region", "employment", "income",
           "credit_score", "loan_amount", "defaulted"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """A workspace where ``gapless train SPEC --register loans`` ran once; ``loans@2`` is a
    second registration of the same run. Yields (root, run id, train output)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("METADATA_URI", "ARTIFACT_URI", "ONLINE_URI", "COMPUTE_URI", "WORKSPACE",
                     "ENCRYPTION_KEY", "ADMINS", "USER"):
            env.delenv(f"GAPLESS_{name}", raising=False)
        folder = tmp_path_factory.mktemp("models-cli")
        root = folder / "ws"
        with Workspace.init(root) as ws:
            ws.data.add("loans", make_loans(600, seed=1)[COLUMNS], time_column="applied_at")
        spec = folder / "spec.yaml"
        spec.write_text(yaml.safe_dump({
            "dataset": "loans@1", "target": "defaulted",
            "features": {"exclude": ["customer_id", "application_id"]},
            "budget": {"trials": 2}, "cv": {"folds": 2},
            "imbalance": {"tune_threshold": False},
            "candidates": [{"family": "logistic_regression", "params": {"max_iter": 200}}],
        }))
        result = runner.invoke(app, ["-w", str(root), "train", str(spec), "--executor",
                                     "local:1", "--register", "loans",
                                     "--card", str(folder / "card.html")])
        assert result.exit_code == 0, result.output
        with Workspace(root) as ws:
            run_id = ws.models.get("loans@1").run_id
            ws.models.register(run_id, "loans", description="the same run, again")
        yield root, run_id, result.output


def gapless(root: Path, *args: str) -> str:
    result = runner.invoke(app, ["-w", str(root), *args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_train_register_prints_the_version_and_list_shows_it(
    trained: tuple[Path, str, str]
) -> None:
    root, _, output = trained
    assert "registered as loans@1" in output
    listed = gapless(root, "models", "list")
    assert "registered models" in listed and "loans" in listed
    line = next(row for row in listed.splitlines() if "loans" in row)
    assert " 2 " in line  # latest version (and count)


def test_show_a_version_prints_lineage_signature_and_metrics(
    trained: tuple[Path, str, str]
) -> None:
    root, run_id, _ = trained
    shown = gapless(root, "models", "show", "loans@1")
    assert "loans@1" in shown and "lineage" in shown
    for kind in ("version", "run", "commit", "dataset", "source"):
        assert f"-> {kind}:" in shown
    assert f"-> run: {run_id}" in shown and "-> dataset: loans@1" in shown
    assert "signature" in shown and "credit_score" in shown and "north" in shown
    assert "metrics" in shown and "test_roc_auc=" in shown


def test_show_a_name_lists_its_versions(trained: tuple[Path, str, str]) -> None:
    root, run_id, _ = trained
    shown = gapless(root, "models", "show", "loans")
    assert "loans: versions" in shown and "skops" in shown
    rows = [row for row in shown.splitlines() if run_id[:8] in row]
    assert len(rows) == 2


def test_promote_history_and_rollback(trained: tuple[Path, str, str]) -> None:
    root, _, _ = trained
    first = gapless(root, "models", "promote", "loans@1", "--to", "production",
                    "--reason", "first")
    assert "loans@production: - -> version 1 (applied)" in first
    assert "pass" in first and "data validation" in first
    second = gapless(root, "models", "promote", "loans@2", "--to", "production",
                     "--reason", "second")
    assert "loans@production: 1 -> version 2 (applied)" in second
    back = gapless(root, "models", "rollback", "loans", "--reason", "oops")
    assert "loans@production: 2 -> version 1 (applied)" in back
    history = gapless(root, "models", "history", "loans", "--alias", "production")
    assert "loans: audit log" in history
    assert history.count("promote") == 2 and "rollback" in history
    assert "first" in history and "second" in history and "oops" in history
    assert "register" not in history  # filtered to the alias
    everything = gapless(root, "models", "history", "loans")
    assert "register" in everything
    with Workspace(root) as ws:
        assert ws.models.get("loans@production").version == 1


def test_a_refused_promotion_exits_2_and_names_the_failing_gate(
    trained: tuple[Path, str, str], tmp_path: Path, gapless_cli
) -> None:
    root, _, _ = trained
    gates = tmp_path / "gates.yaml"
    gates.write_text("metrics:\n  roc_auc: {min: 0.999}\n")
    done = gapless_cli("-w", str(root), "models", "promote", "loans@1", "--to", "strict",
                       "--reason", "try", "--gates", str(gates))
    assert done.returncode == 2, done.stderr
    assert "metric roc_auc" in done.stderr and "< min 0.999" in done.stderr
    history = gapless(root, "models", "history", "loans", "--alias", "strict")
    assert "refused" in history and "failed: metric roc_auc" in history


def test_a_promotion_without_a_reason_is_a_usage_error(trained: tuple[Path, str, str]
                                                       ) -> None:
    root, _, _ = trained
    result = runner.invoke(app, ["-w", str(root), "models", "promote", "loans@1",
                                 "--to", "no-reason"])
    assert result.exit_code == 2 and "--reason" in result.output


def test_new_key_prints_a_usable_key() -> None:
    result = runner.invoke(app, ["models", "new-key"])
    assert result.exit_code == 0
    key = result.output.strip()
    assert len(key) == 44
    assert ModelCipher.from_key(key).key_id
    assert runner.invoke(app, ["models", "new-key"]).output.strip() != key


def test_importing_a_pickle_needs_trust(trained: tuple[Path, str, str], tmp_path: Path,
                                        gapless_cli) -> None:
    from sklearn.linear_model import LogisticRegression

    root, _, _ = trained
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression().fit([[0.0], [1.0]], [0, 1])))
    done = gapless_cli("-w", str(root), "models", "import", str(path), "--name", "x")
    assert done.returncode == 2
    assert "pickle" in done.stderr and "--trust" in done.stderr
    with Workspace(root) as ws:
        assert "x" not in [m["name"] for m in ws.models.list()]
    trusted = gapless(root, "models", "import", str(path), "--name", "x", "--trust")
    assert "registered x@1" in trusted

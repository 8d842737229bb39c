"""The CLI skin: in-process with Typer's runner, and as a real process for error handling."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gapless import Workspace
from gapless.cli.main import app
from gapless.serving.canary import variant_windows

runner = CliRunner()


@pytest.fixture
def populated(workspace: Workspace) -> Workspace:
    for name, auc, model in [("rf", 0.91, "rf"), ("lr", 0.79, "lr")]:
        with workspace.start_run("exp", name) as run:
            run.log_params({"model": model})
            run.log_metric("auc", auc)
    return workspace


def test_init_creates_settings_and_state(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "proj")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "proj" / "gapless.yaml").is_file()
    assert (tmp_path / "proj" / ".gapless" / "meta.db").is_file()
    assert "Workspace ready" in result.output


def test_runs_list_filters_and_orders(populated: Workspace) -> None:
    result = runner.invoke(app, ["-w", str(populated.root), "runs", "list",
                                 "-f", "metrics.auc > 0.8", "-o", "metrics.auc DESC"])
    assert result.exit_code == 0, result.output
    assert "rf" in result.output and "0.91" in result.output and "0.79" not in result.output


def test_runs_show_and_compare(populated: Workspace) -> None:
    ids = [run.id for run in populated.runs.search(order_by="metrics.auc DESC")]
    shown = runner.invoke(app, ["-w", str(populated.root), "runs", "show", ids[0][:8]])
    assert shown.exit_code == 0, shown.output
    assert ids[0] in shown.output and "model" in shown.output and "python" in shown.output
    compared = runner.invoke(app, ["-w", str(populated.root), "runs", "compare", *ids])
    assert compared.exit_code == 0, compared.output
    assert "params.model" in compared.output and "metrics.auc" in compared.output


def test_db_upgrade_and_current(populated: Workspace) -> None:
    result = runner.invoke(app, ["-w", str(populated.root), "db", "upgrade"])
    assert result.exit_code == 0 and "already up to date" in result.output
    result = runner.invoke(app, ["-w", str(populated.root), "db", "current"])
    assert "up to date" in result.output


def test_user_error_is_one_line_exit_2_no_traceback(populated: Workspace, gapless_cli) -> None:
    done = gapless_cli("-w", str(populated.root), "runs", "list", "-f", "metrics.auc >> 1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "position 13" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_debug_shows_the_traceback(populated: Workspace, gapless_cli) -> None:
    done = gapless_cli("--debug", "-w", str(populated.root), "runs", "show", "ffffffffff")
    assert done.returncode != 0 and "Traceback" in done.stderr and "NotFoundError" in done.stderr


def test_bad_store_uri_in_settings_is_reported(tmp_path: Path, gapless_cli) -> None:
    (tmp_path / "gapless.yaml").write_text("metadata_uri: oracle://db/x\n")
    done = gapless_cli("runs", "list", cwd=tmp_path)
    assert done.returncode == 2 and "unsupported metadata URI scheme 'oracle'" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_runs_the_data_lifecycle_and_tracks_a_model_comparison(
    tmp_path: Path, gapless_cli
) -> None:
    # The whole loop takes about two minutes on an idle 2-core machine; CI may be busier.
    done = gapless_cli("demo", "--dir", str(tmp_path / "demo"), "--rows", "3000",
                       timeout=480)
    assert done.returncode == 0, done.stderr
    assert "model card" in done.stdout and "best:" in done.stdout
    with Workspace(tmp_path / "demo") as ws:
        raw, cleaned = ws.data.get("loans@1"), ws.data.get("loans@2")
        assert raw.time_column == "applied_at" and raw.row_count == 3000
        assert cleaned.kind == "clean" and cleaned.parents == ("loans@1",)
        assert cleaned.row_count < raw.row_count  # planted duplicates were dropped
        assert "income_missing" in cleaned.column_names
        assert ws.data.get("loans.quarantine@1").parents == ("loans@1",)
        assert ws.data.validations("loans@1")[0]["passed"] is False
        for report in ("validation.html", "validation.json", "profile.html", "model_card.html"):
            assert (ws.root / "reports" / report).stat().st_size > 1000
        (training,) = ws.runs.search("parent_id is null", experiment="demo-loan-default")
        assert training.params["dataset"] == "loans@2" and training.status == "FINISHED"
        children = ws.runs.search(f"parent_id = '{training.id}'", limit=None)
        assert sorted({run.tags["role"] for run in children}) == ["baseline", "trial"]
        assert len(children) == 1 + 12
        assert training.metrics["test_roc_auc"] > training.metrics["baseline_test_roc_auc"] + 0.1
        version = ws.models.get("loan-default@1")
        assert version.run_id == training.id and version.signature is not None
        kinds = [step["kind"] for step in ws.models.lineage(version)]
        assert kinds[:3] == ["version", "run", "commit"] and kinds[-1] == "source"
        # Staging's gates pass; production's refuse the model for its fairness gaps and
        # the audit log keeps both attempts.
        assert ws.models.get("loan-default@staging").version == 1
        outcomes = {(e.alias, e.outcome) for e in ws.models.history("loan-default")}
        assert ("staging", "applied") in outcomes
        fair = version.evaluation["fairness_passed"]
        assert ("production", "applied" if fair else "refused") in outcomes
        # Deployed, served, and canaried: what staging accepted went live on `loans`, the
        # search's runner-up was retrained as loan-default@2 and the server's own
        # controller ramped it to a decision; the demo reports that decision and the table.
        history = ws.deployments.history("loans")
        assert [v["model"] for v in history[0]["spec"]["variants"]] == ["loan-default@staging"]
        canary = history[1]["spec"]
        assert canary["strategy"] == "canary" and [v["model"] for v in canary["variants"]] == [
            "loan-default@staging", "loan-default@2"]
        (retrained,) = ws.runs.search("parent_id is null",
                                      experiment="demo-loan-default-challenger")
        assert ws.models.get("loan-default@2").run_id == retrained.id
        # The canary's decision: the first single deployment after it (the retraining
        # pipeline at the end of the demo deploys again later).
        decided = next(i for i, h in enumerate(history)
                       if i > 1 and h["spec"]["strategy"] == "single")
        final = history[decided]["spec"]
        promoted = final["variants"][0]["model"] == "loan-default@2"
        assert ("promoting the canary to 100%" if promoted else "broke its guardrails") \
            in history[decided]["reason"]
        assert ("promoted after" if promoted else "rolled back after") in done.stdout
        assert "per variant during the canary" in done.stdout and "deploy loans --status" \
            in done.stdout
        before = variant_windows(ws.metadata, "loans", history[0]["created_at"],
                                 history[1]["created_at"])
        assert before["primary"].requests == 25 * 8 and len(before) == 1
        during = variant_windows(ws.metadata, "loans", history[1]["created_at"],
                                 history[decided]["created_at"])
        assert set(during) == {"primary", "canary"} and during["canary"].requests >= 30
        assert sorted(set(during["canary"].predictions)) == [0, 1]
        # Monitoring: traffic shifted halfway is found drifting on the distorted features,
        # and once the late labels arrive its accuracy is below the clean period's.
        assert "12. monitor" in done.stdout
        shifted = done.stdout.split("drift the shift brought")[1]
        drifted = shifted.splitlines()[0]
        assert "credit_score" in drifted and "interest_rate" in drifted, drifted
        assert "concept drift" in done.stdout
        assert (ws.root / "reports" / "monitoring.html").stat().st_size > 100_000
        monitored = ws.monitor.performance("loans", window="1h",
                                           since=history[decided]["created_at"],
                                           until=history[decided + 1]["created_at"])
        labelled = sum(w.labelled for w in monitored.windows)
        assert labelled > 200 and all(w.estimated_rows for w in monitored.windows)
        # The loop closes: the alert's trigger ran the retraining pipeline unattended, and
        # the challenger either took over through the canary or nothing changed.
        assert "13. alert" in done.stdout and "fired" in done.stdout
        (retrained,) = ws.pipelines.runs("retrain-loans")
        assert retrained.trigger == "alert:1", retrained.to_dict()
        steps = {s.step: s.status for s in retrained.steps}
        assert steps["feedback"] == steps["train"] == steps["register"] == "succeeded"
        challenger = retrained.outputs["register"]["version"]
        serving = [v.model for v in ws.deployments.get("loans").spec.variants]
        if retrained.status == "succeeded":
            assert serving == [challenger]
            assert ws.models.get("loan-default@production").ref == challenger
        else:
            assert challenger not in serving and steps["promote"] == "skipped"
        assert (ws.root / "reports" / "index.html").stat().st_size > 10_000
        # Features: the repayment view, joined point in time, lifts the same small search;
        # the endpoint fetches the features by customer_id and logs what it used.
        assert "15. features" in done.stdout
        joined = ws.data.get("loans-repayments@1")
        assert joined.parents == ("loans@2", "repayments@1")
        assert set(joined.spec["feature_views"]) == {"repayments@1"}
        lifted = done.stdout.split("same search, same rows: test roc_auc ")[1].split()
        assert float(lifted[0]) > float(lifted[5]) + 0.05, lifted
        assert "an unknown customer (policy reject): 422" in done.stdout
        assert "200 served rows matched offline, 5 features compared, 0 mismatches" \
            in done.stdout

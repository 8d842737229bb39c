"""``gapless demo``: the lifecycle on bundled data, end to end, in a throwaway workspace.

It grows with every capability. Today: track a model comparison (a heuristic baseline
and a few scikit-learn models, 5-fold cross-validation, held-out test) on the breast
cancer data that ships inside scikit-learn, then show the runs table.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from gapless.cli.render import console

EXPERIMENT = "demo-breast-cancer"


def demo(
    directory: Path = typer.Option(
        None, "--dir", help="Keep the demo workspace in this folder instead of a temporary one."
    ),
) -> None:
    """Run the whole lifecycle on bundled data in a throwaway workspace."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gapless.cli.runs import runs_table
    from gapless.workspace import Workspace

    out = console()
    root = directory or Path(tempfile.mkdtemp(prefix="gapless-demo-"))
    try:
        with Workspace.init(root) as ws:
            out.print(f"[bold]gapless demo[/] workspace: {ws.root}")
            candidates = _candidates()
            with Progress(TextColumn("{task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                          console=out) as progress:
                task = progress.add_task("training candidates", total=len(candidates))
                parent = track_model_comparison(ws, candidates, on_done=lambda name: (
                    progress.update(task, advance=1, description=f"trained {name}")))
            best = ws.runs.search(f"parent_id = '{parent}'", order_by="metrics.cv_auc DESC",
                                  limit=None)
            out.print(runs_table(best, title="model comparison, best CV AUC first",
                                 metric_keys=["cv_auc", "test_auc", "test_accuracy"],
                                 param_keys=[]))
            winner = best[0]
            out.print(
                f"best: [bold]{winner.name}[/] cv_auc={winner.metrics['cv_auc']:.4f} "
                f"test_auc={winner.metrics['test_auc']:.4f} "
                f"(baseline test_auc={_baseline(best):.4f})"
            )
            out.print(f"inspect it: gapless -w {ws.root} runs show {winner.id[:8]}")
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)


def _candidates() -> dict:
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    return {
        "baseline-prior": DummyClassifier(strategy="prior"),
        "logistic-regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "decision-tree": DecisionTreeClassifier(max_depth=4, random_state=0),
        "random-forest": RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1),
        "hist-gradient-boosting": HistGradientBoostingClassifier(max_iter=100, random_state=0),
    }


def track_model_comparison(ws, candidates: dict, on_done=lambda name: None) -> str:  # type: ignore[no-untyped-def]
    """Cross-validate each candidate as a child run of one comparison run; returns its id."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with ws.start_run(EXPERIMENT, "model-comparison", parent=None) as parent:
        parent.log_params({"dataset": "sklearn.breast_cancer", "rows": len(X), "cv_folds": 5,
                           "test_size": 0.25})
        for name, model in candidates.items():
            with ws.start_run(EXPERIMENT, name, tags={"family": type(model).__name__}) as run:
                run.log_params({k: v for k, v in model.get_params().items()
                                if isinstance(v, int | float | str | bool | type(None))})
                scores = cross_validate(model, X_train, y_train, cv=folds,
                                        scoring=("roc_auc", "accuracy"))
                for fold, auc in enumerate(scores["test_roc_auc"]):
                    run.log_metric("fold_auc", float(auc), step=fold)
                run.log_metrics({
                    "cv_auc": float(np.mean(scores["test_roc_auc"])),
                    "cv_auc_std": float(np.std(scores["test_roc_auc"])),
                    "cv_accuracy": float(np.mean(scores["test_accuracy"])),
                })
                model.fit(X_train, y_train)
                proba = model.predict_proba(X_test)[:, 1]
                run.log_metrics({
                    "test_auc": float(roc_auc_score(y_test, proba)),
                    "test_accuracy": float(accuracy_score(y_test, model.predict(X_test))),
                })
                run.log_dict({"features": list(X.columns), "target": "malignant=0/benign=1"},
                             "inputs.json")
            on_done(name)
        return parent.id


def _baseline(runs: list) -> float:  # type: ignore[type-arg]
    return next(r.metrics["test_auc"] for r in runs if r.name.startswith("baseline"))

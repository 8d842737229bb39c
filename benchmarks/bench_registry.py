"""Model registry speed, gapless against MLflow's registry, both on SQLite, in one run.

Three cases, each the way a user or a server meets the registry:

(a) register: N times, a run is started, a fitted scikit-learn pipeline (scaler +
    one-hot + a 100-tree random forest on 5,000 loan rows) is saved into it with its
    signature, and registered as the next version of one model. gapless: ``start_run``
    + ``log_artifact`` of the skops file + ``models.register``; MLflow:
    ``start_run`` + ``mlflow.sklearn.log_model(..., registered_model_name=...)`` with
    explicit pip requirements (so MLflow does not spend ~10 s inferring them).
(b) load by alias: the model behind ``bench@production`` is resolved and loaded M
    times — what a server does on a hot swap. gapless checks the SHA-256 of the bytes
    and the trusted types on every load; MLflow loads its file.
(c) alias moves: ``staging`` is moved between two versions K times. gapless runs the
    (empty) gate set, moves the alias only if it still points where it was read, and
    appends an audit entry in the same transaction; MLflow sets the alias.

Both sides use a fresh temporary folder; one warm-up of each operation happens before
the clock starts. Run ``make bench`` (or ``python benchmarks/bench_registry.py
--output benchmarks/RESULTS.md``); ``--quick`` runs smaller cases for a smoke check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _results import opening, publish

MODEL = "bench"
NO_GATES = {"behavioural": False, "fairness": False, "data_validation": "off"}
SECTION = "registry"


def training_data() -> tuple[Any, Any]:
    from gapless.data.sample_data import make_loans

    frame = make_loans(5000, seed=3).dropna()
    X = frame[["age", "income", "loan_amount", "interest_rate", "credit_score", "region",
               "employment", "purpose"]]
    return X, frame["defaulted"]


def fitted_model(X: Any, y: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = ["age", "income", "loan_amount", "interest_rate", "credit_score"]
    prep = ColumnTransformer([("num", StandardScaler(), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore"),
                               ["region", "employment", "purpose"])])
    model = Pipeline([("prep", prep), ("rf", RandomForestClassifier(100, max_depth=8,
                                                                    random_state=0))])
    return model.fit(X, y)


class Gapless:
    name = "gapless"

    def __init__(self, root: Path, model: Any, X: Any, y: Any) -> None:
        import gapless
        from gapless.core.schema import infer_signature
        from gapless.registry.packaging import pack

        self.ws = gapless.Workspace.init(root)
        self.file = root / "model.skops"
        self.file.write_bytes(pack(model, None).data)
        self.signature = infer_signature(X, y, problem="binary").to_dict()

    def register(self) -> int:
        with self.ws.start_run("bench", "train") as run:
            run.log_artifact(self.file, artifact_path="model")
            run.log_dict(self.signature, "signature.json")
        return self.ws.models.register(run.id, MODEL).version

    def set_alias(self, alias: str, version: int) -> None:
        self.ws.models.alias(f"{MODEL}@{version}", alias, reason="bench", gates=NO_GATES)

    def load(self, alias: str) -> Any:
        return self.ws.models.load(f"{MODEL}@{alias}")

    def close(self) -> None:
        self.ws.close()


class Mlflow:
    name = "MLflow"

    def __init__(self, root: Path, model: Any, X: Any, y: Any) -> None:
        import mlflow
        import sklearn
        from mlflow.models import infer_signature
        from mlflow.tracking import MlflowClient

        self.mlflow, self.model = mlflow, model
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        experiment = mlflow.create_experiment("bench", artifact_location=(root / "a").as_uri())
        mlflow.set_experiment(experiment_id=experiment)
        self.client = MlflowClient()
        self.signature = infer_signature(X, model.predict(X))
        self.requirements = [f"scikit-learn=={sklearn.__version__}"]

    def register(self) -> int:
        with self.mlflow.start_run(run_name="train"):
            info = self.mlflow.sklearn.log_model(
                self.model, name="model", signature=self.signature,
                pip_requirements=self.requirements, registered_model_name=MODEL,
                skops_trusted_types=["sklearn.tree._tree.Tree"])
        return int(info.registered_model_version)

    def set_alias(self, alias: str, version: int) -> None:
        self.client.set_registered_model_alias(MODEL, alias, str(version))

    def load(self, alias: str) -> Any:
        return self.mlflow.sklearn.load_model(f"models:/{MODEL}@{alias}")

    def close(self) -> None:
        self.mlflow.set_tracking_uri(None)


def measure(side: Any, registers: int, loads: int, moves: int, X: Any) -> dict[str, float]:
    first = side.register()  # warm-up: creates the model
    side.set_alias("production", first)
    side.set_alias("staging", first)
    expected = side.load("production").predict(X.head(50))
    out: dict[str, float] = {}
    start = time.perf_counter()
    versions = [side.register() for _ in range(registers)]
    out["register"] = time.perf_counter() - start
    if versions != list(range(first + 1, first + 1 + registers)):
        raise SystemExit(f"{side.name}: versions {versions} are not numbered one by one")
    start = time.perf_counter()
    for _ in range(loads):
        model = side.load("production")
    out["load"] = time.perf_counter() - start
    if (model.predict(X.head(50)) != expected).any():
        raise SystemExit(f"{side.name}: the loaded model predicts differently")
    start = time.perf_counter()
    for index in range(moves):
        side.set_alias("staging", versions[index % 2])
    out["alias"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    registers, loads, moves = (5, 10, 20) if args.quick else (30, 100, 200)
    X, y = training_data()
    model = fitted_model(X, y)
    seconds: dict[str, dict[str, float]] = {}
    sides: tuple[Callable[..., Any], ...] = (Gapless, Mlflow)
    for factory in sides:
        with tempfile.TemporaryDirectory(prefix="gapless-bench-") as tmp:
            side = factory(Path(tmp), model, X, y)
            try:
                seconds[side.name] = measure(side, registers, loads, moves, X)
            finally:
                side.close()
        print(side.name, {k: round(v, 3) for k, v in seconds[side.name].items()},
              file=sys.stderr, flush=True)
    rows = [("register", f"{registers} versions: run + model file + signature + register"),
            ("load", f"{loads} loads of `{MODEL}@production` (resolve alias, read, deserialize)"),
            ("alias", f"{moves} moves of alias `staging` between two versions")]
    counts = {"register": registers, "load": loads, "alias": moves}
    lines = opening(SECTION, "Model registry: gapless vs MLflow (both SQLite + local files)", args,
                    ["gapless", "mlflow", "scikit-learn", "skops"])
    lines += ["| case | gapless (ms each) | MLflow (ms each) | ratio (MLflow / gapless) |",
              "| --- | ---: | ---: | ---: |"]
    for key, label in rows:
        ours, theirs = seconds["gapless"][key], seconds["MLflow"][key]
        lines.append(f"| {label} | {1000 * ours / counts[key]:.2f} | "
                     f"{1000 * theirs / counts[key]:.2f} | {theirs / ours:.1f}x |")
    lines += ["", "gapless does more per call: every load verifies the SHA-256 of the stored "
              "bytes (and of the decrypted file, when encrypted) and allows only trusted "
              "types; every alias move checks it still points where it was read and appends "
              "an audit entry in the same transaction."]
    publish(SECTION, lines, args.output)


if __name__ == "__main__":
    main()

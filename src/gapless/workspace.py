"""Workspace: the one Python API of gapless, and the composition root that wires it.

It reads :class:`~gapless.core.config.Settings` once, opens the stores they name and
hands them to each stage. It holds no domain logic of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gapless.core.config import CONFIG_FILE, STATE_DIR, Settings, default_config_text
from gapless.core.errors import ConfigError, GaplessError, ValidationError
from gapless.data.versions import DataVersions
from gapless.registry.api import Models
from gapless.stores.artifacts import ArtifactStore
from gapless.stores.sql import MetadataStore
from gapless.tracking import ACTIVE_RUN, DEFAULT_EXPERIMENT, ActiveRun, Tracking

_AUTO: Any = object()
# Promotion gates that apply when a promotion names none (see gapless.registry.gates).
GATES_FILE = "gates.yaml"


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest folder at or above ``start`` holding gapless.yaml, else ``start`` itself."""
    here = Path(start or os.getcwd()).expanduser().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return here


class Workspace:
    """A gapless workspace: settings, stores and the lifecycle stages over them.

    ``Workspace(path)`` opens the workspace at ``path`` (default: the nearest folder
    with a gapless.yaml, or the current one); keyword arguments override settings,
    e.g. ``Workspace(".", metadata_uri="postgresql+psycopg://...")``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, **overrides: Any) -> None:
        root = Path(path).expanduser() if path is not None else find_root()
        if root.exists() and not root.is_dir():
            raise ConfigError(f"workspace path {root} is a file; give a folder")
        self.settings = Settings.load(root, **overrides)
        self.root = self.settings.root
        self.metadata = MetadataStore(self.settings.metadata_uri)
        try:
            self.artifacts = ArtifactStore.open(
                self.settings.artifact_uri, self.settings.artifact_options
            )
        except GaplessError:
            self.metadata.dispose()
            raise
        self.runs = Tracking(self.metadata, self.artifacts)
        self.data = DataVersions(
            self.metadata, self.artifacts,
            scratch_dir=self.settings.state_dir / "tmp",
            cache_dir=self.settings.state_dir / "cache" / "datasets",
            storage_options=self._storage_options,
        )
        self._features: Any = None  # opened on first use: it owns the online store
        self.models = Models(
            self.metadata, self.artifacts, self.runs, self.data,
            encryption_key=self.settings.encryption_key, admins=self.settings.admins,
            default_gates=self.root / GATES_FILE,
        )

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", **overrides: Any) -> Workspace:
        """Create gapless.yaml and .gapless/ in ``path`` (existing ones are kept) and open it."""
        root = Path(path).expanduser().resolve()
        try:
            (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
            config = root / CONFIG_FILE
            if not config.exists():
                config.write_text(default_config_text(), encoding="utf-8")
            ignore = root / STATE_DIR / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot create a workspace in {root}: {exc.strerror or exc}"
            ) from exc
        return cls(root, **overrides)

    @property
    def keys(self) -> Any:
        """API keys of this workspace's server (:class:`gapless.serving.keys.ApiKeys`)."""
        from gapless.serving.keys import ApiKeys

        return ApiKeys(self.metadata)

    @property
    def features(self) -> Any:
        """Feature views and point-in-time training sets
        (:class:`gapless.features.api.Features`)."""
        from gapless.features.api import Features

        if self._features is None:
            self._features = Features(self.data, self.metadata, self.root,
                                      self.settings.online_uri)
        return self._features

    @property
    def pipelines(self) -> Any:
        """Run pipeline specs and read their runs (:class:`gapless.pipelines.api.Pipelines`)."""
        from gapless.pipelines.api import Pipelines

        return Pipelines(self)

    @property
    def monitor(self) -> Any:
        """Drift between samples and windows over the prediction log
        (:class:`gapless.monitoring.api.Monitor`)."""
        from gapless.monitoring.api import Monitor

        return Monitor(self.data, self.metadata, self.models)

    @property
    def deployments(self) -> Any:
        """What every endpoint serves (:class:`gapless.serving.deployments.DeploymentStore`)."""
        from gapless.serving.deployments import DeploymentStore

        return DeploymentStore(self.metadata)

    def deploy(self, endpoint: str, model: str | None = None, *, strategy: str = "single",
               spec: Any = None, reason: str | None = None, **options: Any) -> Any:
        """Roll ``model`` out on ``endpoint`` with ``strategy`` (see
        :func:`gapless.serving.rollouts.rollout` for the options: ``weight``, ``ramp``,
        ``guardrails``, ``runtime``), or apply a whole ``spec``. Every model is checked to
        exist first; running servers pick the change up within a second."""
        from gapless.core.errors import NotFoundError
        from gapless.serving.deployments import load_spec
        from gapless.serving.rollouts import rollout

        if (model is None) == (spec is None):
            raise ValidationError("deploy: give a model (NAME@VERSION or NAME@ALIAS) or a spec")
        store = self.deployments
        if spec is None:
            try:
                current = store.get(endpoint).spec
            except NotFoundError:
                current = None
            spec = rollout(current, model, strategy, **options)
        spec = load_spec(spec)
        self.check_deployment(spec)
        return store.put(endpoint, spec, reason=reason)

    def check_deployment(self, spec: Any) -> None:
        """Refuse a spec naming a model that does not exist, or whose feature policy its
        models cannot follow (``default`` without a value for a fetched feature)."""
        from gapless.serving.feature_lookup import check_policy

        versions = [self.models.get(v.model) for v in spec.variants]  # NotFoundError
        check_policy(spec.features, [self.feature_plan(version) for version in versions])

    def feature_plan(self, version: Any) -> Any:
        """What serving ``version`` fetches from the online store: a
        :class:`gapless.serving.feature_lookup.FeaturePlan`, or None when it was not
        trained on feature views."""
        from gapless.serving.feature_lookup import plan_for

        return plan_for(version, self.data, self.features.registry)

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        *,
        parent: ActiveRun | str | None = _AUTO,
        tags: dict[str, Any] | None = None,
    ) -> ActiveRun:
        """Start a tracked run in this workspace (see :meth:`Tracking.start_run`)."""
        if parent is _AUTO:
            return self.runs.start_run(experiment, name, tags=tags)
        return self.runs.start_run(experiment, name, parent=parent, tags=tags)

    def train(
        self,
        spec: Any,
        *,
        executor: str | None = None,
        on_progress: Any = None,
        register: str | None = None,
    ) -> Any:
        """Train a task spec (YAML path, dict or TaskSpec): baseline first, then an Optuna
        search over the candidates, the winner refit and scored once on the test split,
        evaluated, saved with skops and documented by a model card, all tracked.

        ``executor`` overrides ``compute_uri`` (``local``, ``local:N``, ``dask-local``,
        ``dask://host:port``); ``register`` registers the model as the next version of
        that name. Returns a :class:`gapless.training.trainer.TrainResult`.
        """
        result = self._trainer().train(spec, executor=executor, on_progress=on_progress)
        if register is not None:
            from dataclasses import replace

            version = self.models.register(result.run_id, register)
            result = replace(result, registered=version.ref)
        return result

    # -- recommenders ------------------------------------------------------------------
    def train_recommender(self, spec: Any, *, register: str | None = None,
                          on_progress: Any = None) -> Any:
        """Train a recommender spec (YAML path, dict or RecommenderSpec): the popularity
        baseline first, then an Optuna search over the candidate families judged on a
        temporal validation split, the families' best scored once on the test split
        against the baseline, the winner refit on every event, saved and documented by a
        model card, all tracked. ``register`` registers the model as the next version of
        that name. Returns a :class:`gapless.recsys.training.RecommenderResult`."""
        from dataclasses import replace

        from gapless.recsys.training import train_recommender
        from gapless.registry.packaging import pack

        result = train_recommender(self.data, self.runs, spec,
                                   package=lambda model: pack(model, self.models.cipher).data,
                                   on_progress=on_progress)
        if register is not None:
            version = self.models.register(result.run_id, register)
            result = replace(result, registered=version.ref)
        return result

    def reproduce(self, run_id: str, *, executor: str | None = None,
                  on_progress: Any = None) -> tuple[Any, list[dict[str, Any]]]:
        """Retrain a training run from the spec it recorded; returns the new result and a
        metric-by-metric comparison with the original (deterministic models match exactly).
        """
        from gapless.training.trainer import compare_runs, spec_of_run

        original = self.runs.get(run_id)
        result = self._trainer().train(spec_of_run(self.runs, original.id), executor=executor,
                                       on_progress=on_progress,
                                       tags={"reproduces": original.id})
        return result, compare_runs(self.runs, original.id, result.run_id)

    def _trainer(self) -> Any:
        from gapless.registry.packaging import pack
        from gapless.reports.model_card import model_card_html
        from gapless.training.trainer import Trainer

        return Trainer(self.data, self.runs, executor_uri=self.settings.compute_uri,
                       render_card=model_card_html,
                       package=lambda model: pack(model, self.models.cipher).data)

    def _storage_options(self, uri: str) -> dict[str, Any]:
        """fsspec options for reading ``uri``: the artifact store's, when on the same scheme."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        artifact_scheme = (self.settings.artifact_uri.split("://", 1)[0]
                           if "://" in self.settings.artifact_uri else "file")
        return dict(self.settings.artifact_options) if scheme == artifact_scheme != "file" else {}

    def close(self) -> None:
        if self._features is not None:
            self._features.close()
        self.metadata.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def start_run(
    experiment: str = DEFAULT_EXPERIMENT,
    name: str | None = None,
    *,
    workspace: Workspace | str | os.PathLike[str] | None = None,
    parent: ActiveRun | str | None = _AUTO,
    tags: dict[str, Any] | None = None,
) -> ActiveRun:
    """Start a tracked run, MLflow-style::

        with gapless.start_run(experiment="churn", name="rf") as run:
            run.log_param("max_depth", 8)
            run.log_metric("auc", 0.91)

    Inside another run it nests under it and uses that run's workspace; otherwise it
    opens ``workspace`` (default: the nearest gapless.yaml above the current folder).
    """
    active = ACTIVE_RUN.get()
    if workspace is None and active is not None:
        tracking = active.tracking
    elif isinstance(workspace, Workspace):
        tracking = workspace.runs
    else:
        tracking = Workspace(workspace).runs
    if parent is _AUTO:
        return tracking.start_run(experiment, name, tags=tags)
    return tracking.start_run(experiment, name, parent=parent, tags=tags)

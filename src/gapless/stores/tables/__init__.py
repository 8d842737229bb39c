"""SQLAlchemy Core tables of the metadata store, one module per stage, one shared MetaData.

The Alembic migrations in ``gapless.stores.migrations`` create these tables; a test
checks that a migrated database and this MetaData agree, so neither drifts.
"""

from gapless.stores.tables.alerts import alert_events
from gapless.stores.tables.base import metadata
from gapless.stores.tables.data import (
    dataset_parents,
    dataset_validations,
    dataset_versions,
    datasets,
)
from gapless.stores.tables.features import feature_views
from gapless.stores.tables.pipelines import pipeline_runs, pipeline_steps, schedule_firings
from gapless.stores.tables.registry import (
    model_aliases,
    model_audit,
    model_versions,
    registered_models,
)
from gapless.stores.tables.serving import (
    api_keys,
    deployment_history,
    deployments,
    feedback,
    predictions,
)
from gapless.stores.tables.tracking import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    run_environments,
    runs,
    tags,
)

__all__ = [
    "alert_events",
    "api_keys",
    "dataset_parents",
    "dataset_validations",
    "dataset_versions",
    "datasets",
    "deployment_history",
    "deployments",
    "experiments",
    "feature_views",
    "feedback",
    "latest_metrics",
    "metadata",
    "metrics",
    "model_aliases",
    "model_audit",
    "model_versions",
    "params",
    "pipeline_runs",
    "pipeline_steps",
    "predictions",
    "registered_models",
    "run_artifacts",
    "run_environments",
    "runs",
    "schedule_firings",
    "tags",
]

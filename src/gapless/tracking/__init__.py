"""Experiment tracking: runs with params, metrics, tags, artifacts and environment."""

from gapless.tracking.api import DEFAULT_EXPERIMENT, Tracking
from gapless.tracking.runs import ACTIVE_RUN, ActiveRun, active_run

__all__ = ["ACTIVE_RUN", "DEFAULT_EXPERIMENT", "ActiveRun", "Tracking", "active_run"]

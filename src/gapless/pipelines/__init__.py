"""Pipelines: steps ordered as a DAG, cached by what they read, run on an executor,
recorded in the metadata store; schedules and triggers that start them."""

from gapless.pipelines.steps import StepContext, step

__all__ = ["StepContext", "step"]

"""``workspace.pipelines``: run pipeline specs and read their runs."""

from __future__ import annotations

from functools import partial
from typing import Any

from gapless.pipelines.records import PipelineRun, RunRecords
from gapless.pipelines.runner import OnStep, run_pipeline

# Settings a worker process needs to reopen the same stores.
REOPENED = ("metadata_uri", "artifact_uri", "online_uri", "artifact_options", "encryption_key")


class Pipelines:
    """Pipelines over a workspace (see :mod:`gapless.pipelines.runner`)."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.records = RunRecords(workspace.metadata)

    def run(self, spec: Any = None, *, executor: str | None = None, trigger: str = "manual",
            resume: str | None = None, on_step: OnStep | None = None) -> PipelineRun:
        """Run ``spec`` (YAML path, mapping or PipelineSpec; with ``resume`` it may be left
        out to rerun that run's spec) on ``executor`` (a compute URI; default the spec's
        ``executor``, else the workspace's ``compute_uri``). ``on_step(step, status,
        detail)`` hears each step start and end. Returns the finished run, failed or not."""
        from gapless.compute import open_executor
        from gapless.pipelines.spec import load_spec

        settings = self.workspace.settings
        if spec is not None:
            spec = load_spec(spec)
            executor = executor or spec.executor
        opener = partial(type(self.workspace), str(self.workspace.root),
                         compute_uri="local:1",
                         **{name: getattr(settings, name) for name in REOPENED})
        with open_executor(executor or settings.compute_uri) as pool:
            return run_pipeline(self.workspace, spec, executor=pool, opener=opener,
                                trigger=trigger, resume=resume, on_step=on_step)

    def backfill(self, spec: Any, *, start: str, end: str, every: str = "daily",
                 executor: str | None = None, on_step: OnStep | None = None
                 ) -> list[PipelineRun]:
        """Run ``spec`` once per partition from ``start`` to ``end`` (excluded), each with
        the partition's parameters (see :mod:`gapless.pipelines.backfill`); oldest first.
        A failed partition does not stop the others."""
        from gapless.pipelines.backfill import parse_day, partition_params, partitions
        from gapless.pipelines.spec import load_spec

        loaded = load_spec(spec)
        runs = []
        for label, low, high in partitions(parse_day(start, "--from"),
                                           parse_day(end, "--to"), every):
            each = loaded.model_copy(update={"params": {**loaded.params,
                                                         **partition_params(label, low, high)}})
            runs.append(self.run(each, executor=executor, trigger=f"backfill:{label}",
                                 on_step=on_step))
        return runs

    def runs(self, pipeline: str | None = None, *, limit: int = 20) -> list[PipelineRun]:
        """The latest runs, newest first (of one pipeline, or all)."""
        return self.records.list(pipeline, limit)

    def get(self, run_id: str) -> PipelineRun:
        """One run with its steps; a unique prefix of its id will do."""
        return self.records.get(run_id)

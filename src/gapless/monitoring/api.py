"""``workspace.monitor``: the monitoring entry points of a workspace."""

from __future__ import annotations

from typing import Any


class Monitor:
    """Monitoring over a workspace: drift between datasets or frames, windows over the
    prediction log of an endpoint, and alert rules judged on those windows."""

    def __init__(self, data: Any, metadata: Any, models: Any) -> None:
        self.data = data  # gapless.data.versions.DataVersions
        self.metadata = metadata  # gapless.stores.sql.MetadataStore
        self.models = models  # gapless.registry.api.Models

    def windows(self, endpoint: str, *, window: str | float = "5m", since: float | None = None,
                until: float | None = None, model: str | None = None,
                inputs: bool = True) -> list[Any]:
        """:func:`gapless.monitoring.windows.windows` of ``endpoint``; inputs are judged
        against the signature of ``model`` (NAME@VERSION, e.g. the deployed one)."""
        from gapless.core.schema import Signature
        from gapless.monitoring.windows import windows

        signature = None
        if model is not None:
            found = self.models.get(model).signature
            signature = Signature.from_dict(found) if found else None
        return windows(self.metadata, endpoint, window=window, since=since, until=until,
                       signature=signature, inputs=inputs)

    def performance(self, endpoint: str, *, window: str | float = "1h",
                    since: float | None = None, until: float | None = None,
                    model: str | None = None, metric: str | None = None,
                    max_drop: float | None = None, min_value: float | None = None,
                    max_value: float | None = None, min_labelled: int = 30,
                    problem: str | None = None, positive_label: Any = None) -> Any:
        """Concept drift of ``endpoint``: :func:`gapless.monitoring.performance.
        performance_windows`, each judged by :func:`~gapless.monitoring.performance.
        concept_drift` when a bound is given. ``model`` (NAME@VERSION, e.g. the deployed
        one) supplies the reference (its registered ``test_`` metrics) and, unless given,
        the problem; ``metric`` defaults to accuracy (classification) or mae (regression)."""
        from gapless.monitoring.performance import (
            PerformanceReport,
            concept_drift,
            performance_windows,
        )

        reference: dict[str, float] = {}
        if model is not None:
            version = self.models.get(model)
            reference = {key.removeprefix("test_"): float(value)
                         for key, value in (version.metrics or {}).items()
                         if key.startswith("test_") and isinstance(value, int | float)
                         and not isinstance(value, bool)}
            output = (version.signature or {}).get("output") or {}
            if problem is None and output.get("problem") in ("binary", "multiclass",
                                                             "regression"):
                problem = output["problem"]
        found = performance_windows(self.metadata, endpoint, window=window, since=since,
                                    until=until, problem=problem,
                                    positive_label=positive_label)
        kind = found[0].problem if found else problem
        metric = metric or ("mae" if kind == "regression" else "accuracy")
        judged = (max_drop, min_value, max_value) != (None, None, None)
        verdicts = (concept_drift(found, reference, metric=metric, min_labelled=min_labelled,
                                  max_drop=max_drop, min_value=min_value,
                                  max_value=max_value) if judged else [])
        return PerformanceReport(endpoint, metric, reference, found, verdicts, model)

    def alerts(self, rules: Any, *, now: float | None = None,
               reference: dict[str, Any] | None = None, models: dict[str, str] | None = None,
               http_post: Any = None) -> Any:
        """:func:`gapless.monitoring.alerts.evaluate` of ``rules`` (AlertRules, a YAML
        path or a mapping) on this workspace's prediction log. ``reference``: per
        endpoint, a DataFrame or dataset version (``NAME@VERSION``) for drift rules;
        ``models``: per endpoint, the model (``NAME@VERSION``) whose signature inputs are
        judged against; ``http_post``: replaces the webhook sender (tests)."""
        from gapless.core.schema import Signature
        from gapless.monitoring.alerts import evaluate, post_json

        signatures = {}
        for endpoint, model in (models or {}).items():
            found = self.models.get(model).signature
            signatures[endpoint] = Signature.from_dict(found) if found else None
        frames = {endpoint: self._frame(sample) for endpoint, sample in (reference or {}).items()}
        return evaluate(self.metadata, rules, now=now, reference=frames, signatures=signatures,
                        http_post=http_post or post_json)

    def drift(self, reference: Any, current: Any, **options: Any) -> Any:
        """:func:`gapless.monitoring.drift.data_drift` between two samples, each a
        DataFrame or a dataset version reference (``NAME@VERSION``)."""
        from gapless.monitoring.drift import data_drift

        return data_drift(self._frame(reference), self._frame(current), **options)

    def _frame(self, sample: Any) -> Any:
        return self.data.load(sample) if isinstance(sample, str) else sample

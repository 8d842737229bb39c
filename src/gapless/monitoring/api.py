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

    def last_logged_at(self, *endpoints: str) -> float | None:
        """When the newest prediction of any of ``endpoints`` was logged; None if never."""
        from gapless.monitoring.windows import last_logged_at

        return last_logged_at(self.metadata, list(endpoints))

    def performance(self, endpoint: str, *, window: str | float = "1h",
                    since: float | None = None, until: float | None = None,
                    model: str | None = None, metric: str | None = None,
                    max_drop: float | None = None, min_value: float | None = None,
                    max_value: float | None = None, min_labelled: int = 30,
                    problem: str | None = None, positive_label: Any = None,
                    calibrate_until: float | None = None, estimated: bool = False) -> Any:
        """Concept drift of ``endpoint``: :func:`gapless.monitoring.performance.
        performance_windows`, each judged by :func:`~gapless.monitoring.performance.
        concept_drift` when a bound is given. ``model`` (NAME@VERSION, e.g. the deployed
        one) supplies the reference (its registered ``test_`` metrics) and, unless given,
        the problem; ``metric`` defaults to accuracy (classification), mae (regression) or
        hit_rate (recommendation).
        Classifiers with logged probabilities also get metrics estimated without labels
        (calibrated on the labelled rows before ``calibrate_until`` when given);
        ``estimated`` judges those instead of the realized ones."""
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
                                                             "regression", "recommendation"):
                problem = output["problem"]
            k = ((version.signature or {}).get("extras") or {}).get("k")
            if output.get("problem") == "recommendation" and f"recall_at_{k}" in reference:
                # Offline, each user's held-out visit in their top k is recall@k: the
                # hit rate serving measures from feedback.
                reference.setdefault("hit_rate", reference[f"recall_at_{k}"])
        found = performance_windows(self.metadata, endpoint, window=window, since=since,
                                    until=until, problem=problem,
                                    positive_label=positive_label,
                                    calibrate_until=calibrate_until)
        kind = found[0].problem if found else problem
        metric = metric or {"regression": "mae", "recommendation": "hit_rate"}.get(
            str(kind), "accuracy")
        judged = (max_drop, min_value, max_value) != (None, None, None)
        verdicts = (concept_drift(found, reference, metric=metric, min_labelled=min_labelled,
                                  max_drop=max_drop, min_value=min_value,
                                  max_value=max_value, estimated=estimated)
                    if judged else [])
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

    def drift_windows(self, endpoint: str, reference: Any = None, *, model: str | None = None,
                      window: str | float = "1h", since: float | None = None,
                      until: float | None = None, **options: Any) -> list[Any]:
        """:func:`gapless.monitoring.drift_windows.drift_windows` of ``endpoint``: drift
        of its logged inputs per window, in bounded memory. ``reference``: a DataFrame or
        dataset version (``NAME@VERSION``); by default the training dataset recorded in
        the lineage of ``model`` (NAME@VERSION). With a model that has a signature, only
        its input features are judged (so the target column is left out)."""
        from gapless.core.errors import ValidationError
        from gapless.core.schema import Signature
        from gapless.monitoring.drift_windows import drift_windows

        version = self.models.get(model) if model is not None else None
        if reference is None:
            if version is None:
                raise ValidationError(f"drift windows of endpoint {endpoint!r}: no reference; "
                                      "pass reference= (a DataFrame or NAME@VERSION of a "
                                      "dataset) or model= (NAME@VERSION, whose training "
                                      "dataset is used)")
            reference = version.lineage.get("dataset")
            if not reference:
                raise ValidationError(f"model {version.ref} records no training dataset in "
                                      "its lineage; pass reference= (a DataFrame or "
                                      "NAME@VERSION of a dataset)")
        frame = self._frame(str(reference) if not hasattr(reference, "columns")
                            else reference)
        if version is not None and version.signature and options.get("columns") is None:
            inputs = set(Signature.from_dict(version.signature).names)
            options["columns"] = [str(c) for c in frame.columns if str(c) in inputs]
        return drift_windows(self.metadata, endpoint, frame, window=window, since=since,
                             until=until, **options)

    def skew(self, endpoint: str, offline: Any, *, key: str | list[str],
             timestamp: str | None = None, since: float | None = None,
             until: float | None = None, **options: Any) -> Any:
        """Training-serving skew of ``endpoint``: :func:`gapless.monitoring.skew.
        training_serving_skew` of the inputs it logged in ``[since, until)`` (newest
        200,000 at most) against ``offline`` (a DataFrame or dataset ``NAME@VERSION``)."""
        from gapless.monitoring.inputs import logged_inputs
        from gapless.monitoring.skew import training_serving_skew

        served, _ = logged_inputs(self.metadata, endpoint, since=since, until=until, when=True)
        return training_serving_skew(served, self._frame(offline), key=key,
                                     timestamp=timestamp, **options)

    def _frame(self, sample: Any) -> Any:
        return self.data.load(sample) if isinstance(sample, str) else sample

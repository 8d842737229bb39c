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

"""Prometheus metrics of one server process, in their own registry (one per app, so
tests and several apps in one process never share counters)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gapless_requests", "Requests answered, by route, endpoint, variant, model version "
            "and HTTP status.", ["route", "endpoint", "variant", "version", "status"],
            registry=self.registry)
        self.latency = Histogram(
            "gapless_request_latency_seconds", "Time to answer a request, by route, endpoint "
            "and variant.", ["route", "endpoint", "variant"], buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.in_flight = Gauge("gapless_requests_in_flight", "Requests being answered now.",
                               registry=self.registry)
        self.load_seconds = Gauge(
            "gapless_model_load_seconds", "Seconds it took to load a deployed model version.",
            ["model", "version"], registry=self.registry)
        self.predictions = Counter(
            "gapless_predictions", "Rows predicted, by endpoint, variant and predicted class "
            "(regressors: class is 'value').", ["endpoint", "variant", "prediction"],
            registry=self.registry)
        self.log_dropped = Gauge("gapless_prediction_log_dropped",
                                 "Predictions the log dropped because its queue was full.",
                                 registry=self.registry)
        self.log_acknowledged = Gauge(
            "gapless_prediction_log_acknowledged",
            "Prediction rows whose insert committed (a crash cannot take them back).",
            registry=self.registry)
        self.feature_fallbacks = Counter(
            "gapless_feature_fallbacks", "Rows whose online features followed the deployment's "
            "policy instead (reason: missing, stale or unavailable), by endpoint and feature "
            "view version.", ["endpoint", "view", "reason"], registry=self.registry)

    def observe_prediction(self, endpoint: str, variant: str, predictions: Any,
                           classifier: bool) -> None:
        if not classifier:
            self.predictions.labels(endpoint, variant, "value").inc(len(predictions))
            return
        for value in predictions:
            label = value.item() if hasattr(value, "item") else value
            self.predictions.labels(endpoint, variant, str(label)).inc()

    def observe_fallbacks(self, endpoint: str, fallbacks: Any) -> None:
        for (view, reason), rows in (fallbacks or {}).items():
            self.feature_fallbacks.labels(endpoint, view, reason).inc(rows)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

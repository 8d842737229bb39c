"""What the dashboard shows, as JSON-ready dicts, read only through a Workspace.

No web framework here: the routes (``routes.py``) call these and return the result. Every
view covers the last ``count`` windows of ``window`` up to ``now`` (injectable, for tests),
aligned to the epoch as the monitoring windows are; when the endpoints logged nothing in
that period, it ends at their last prediction instead, so an idle endpoint shows its last
activity rather than an empty chart. Numbers that JSON cannot hold (NaN, infinities)
become null.
"""

from __future__ import annotations

import math
import time
from typing import Any

from gapless.core.errors import GaplessError, NotFoundError, ValidationError
from gapless.monitoring.windows import Window, parse_window
from gapless.reports.render import json_safe

WINDOWS = ("5s", "1m", "5m", "1h", "1d")
DEFAULT_WINDOW = "5m"
DEFAULT_COUNT = 48
MAX_COUNT = 500
HISTORY = 10  # deployment history entries shown, newest first
QUANTILES = ("p50", "p95", "p99")


def period(window: str, count: int, now: float | None = None, *,
           last: float | None = None) -> tuple[float, float]:
    """``(seconds, since)`` of the last ``count`` windows of ``window`` up to ``now``
    (the current, unfinished window included), or up to ``last`` (the newest logged
    prediction) when that is older than the period."""
    if window not in WINDOWS:
        raise ValidationError(f"window {window!r}: expected one of {', '.join(WINDOWS)}")
    if not 1 <= count <= MAX_COUNT:
        raise ValidationError(f"windows {count}: expected a count from 1 to {MAX_COUNT}")
    seconds = parse_window(window)
    now = time.time() if now is None else now
    since = (math.floor(now / seconds) - count + 1) * seconds
    if last is not None and last < since:
        since = (math.floor(last / seconds) - count + 1) * seconds
    return seconds, since


def overview(workspace: Any, *, window: str = DEFAULT_WINDOW, count: int = DEFAULT_COUNT,
             now: float | None = None) -> dict[str, Any]:
    """Every deployed endpoint: its deployment and its service series over the period,
    every version and variant added up per window."""
    names = sorted(workspace.deployments.revisions())
    seconds, since = period(window, count, now,
                            last=workspace.monitor.last_logged_at(*names) if names else None)
    endpoints = []
    for name in names:
        found = workspace.monitor.windows(name, window=window, since=since, inputs=False)
        endpoints.append({**deployment(workspace, name), "series": _combined(found),
                          "totals": _totals(found)})
    return json_safe({"window": window, "seconds": seconds, "since": since,
                  "endpoints": endpoints})


def endpoint_detail(workspace: Any, name: str, *, window: str = DEFAULT_WINDOW,
                    count: int = DEFAULT_COUNT, now: float | None = None) -> dict[str, Any]:
    """One endpoint: its deployment, service series per version and variant, drift over
    time against the primary model's training data, performance (realized from feedback
    labels, and estimated from the model's confidence), and recent deployment history.
    An endpoint with no deployment is a NotFoundError."""
    current = deployment(workspace, name)  # NotFoundError for an unknown endpoint
    seconds, since = period(window, count, now, last=workspace.monitor.last_logged_at(name))
    found = workspace.monitor.windows(name, window=window, since=since, inputs=False)
    series: dict[str, list[dict[str, Any]]] = {}
    for w in found:
        series.setdefault(f"v{w.version} {w.variant}", []).append(_point(w))
    history = workspace.deployments.history(name)[::-1][:HISTORY]
    return json_safe({
        "window": window, "seconds": seconds, "since": since, **current,
        "series": [{"name": key, "points": points} for key, points in sorted(series.items())],
        "totals": _totals(found),
        "drift": drift(workspace, name, current, window=window, since=since),
        "performance": performance(workspace, name, current, window=window, since=since),
        "history": [{"revision": h["revision"], "created_at": h["created_at"],
                     "actor": h["actor"], "reason": h["reason"],
                     "strategy": h["spec"].get("strategy"),
                     "variants": [{"name": v.get("name"), "model": v.get("model"),
                                   "weight": v.get("weight"), "role": v.get("role")}
                                  for v in h["spec"].get("variants", [])]}
                    for h in history],
    })


def deployment(workspace: Any, name: str) -> dict[str, Any]:
    """An endpoint's live deployment: strategy, revision and its variants, each with the
    model version it resolves to and a status."""
    current = workspace.deployments.get(name)
    spec = current.spec
    canary = _canary_name(spec)
    variants = []
    for v in spec.variants:
        try:
            ref, problem = workspace.models.get(v.model).ref, None
        except NotFoundError as exc:
            ref, problem = None, str(exc)
        variants.append({"name": v.name, "model": v.model, "version": ref,
                         "weight": v.weight, "role": v.role, "runtime": v.runtime,
                         "status": _status(v, spec, canary, problem)})
    return {"endpoint": name, "strategy": spec.strategy, "revision": current.revision,
            "updated_at": current.updated_at, "updated_by": current.updated_by,
            "variants": variants}


def drift(workspace: Any, name: str, current: dict[str, Any], *, window: str,
          since: float) -> dict[str, Any]:
    """Drift over time of ``name``'s inputs against the training data of its primary
    model; when that cannot be judged, ``windows`` is empty and ``message`` says why."""
    primary = next((v for v in current["variants"] if v["role"] == "primary"), None)
    model = primary and primary["version"]
    if model is None:
        return {"model": None, "windows": [],
                "message": "no primary variant with a registered model to compare against"}
    try:
        found = workspace.monitor.drift_windows(name, model=model, window=window, since=since)
    except GaplessError as exc:
        return {"model": model, "windows": [], "message": str(exc)}
    return {"model": model, "windows": [w.to_dict() for w in found],
            "message": None if found else "no predictions with inputs in this period"}


def performance(workspace: Any, name: str, current: dict[str, Any], *, window: str,
                since: float) -> dict[str, Any]:
    """Per window, version and variant: the metric from feedback labels and the same
    metric estimated without labels (classifiers that logged probabilities)."""
    primary = next((v for v in current["variants"] if v["role"] == "primary"), None)
    model = primary and primary["version"]
    try:
        found = workspace.monitor.performance(name, window=window, since=since, model=model)
    except GaplessError as exc:
        return {"metric": None, "windows": [], "message": str(exc)}
    rows = [{key: w[key] for key in ("start", "version", "variant", "predictions",
                                     "labelled", "metrics", "estimated")}
            for w in (w.to_dict() for w in found.windows)]
    measured = any(w["metrics"] or w["estimated"] for w in rows)
    return {"metric": found.metric, "reference": found.reference.get(found.metric),
            "windows": rows, "message": None if measured else
            "no feedback labels and no logged probabilities in this period"}


def _status(variant: Any, spec: Any, canary: str | None, problem: str | None) -> str:
    if problem is not None:
        return "model missing"
    if variant.role == "shadow":
        return "shadow (mirrored, not answered)"
    if variant.name == canary and spec.ramp is not None:
        steps = spec.ramp.steps
        step = sum(1 for s in steps if s <= variant.weight)
        return f"canary, ramp step {step} of {len(steps)}"
    if variant.name == canary:
        return "canary"
    return "serving" if variant.weight > 0 or spec.strategy == "single" else "standby"


def _canary_name(spec: Any) -> str | None:
    if spec.strategy != "canary":
        return None
    primaries = [v.name for v in spec.variants if v.role == "primary"]
    return spec.canary or (primaries[1] if len(primaries) > 1 else None)


def _point(w: Any) -> dict[str, Any]:
    row = w.to_dict()
    return {"start": row["start"], "requests": row["requests"], "rate": row["rate_per_s"],
            "errors": row["errors"], "error_rate": row["error_rate"], **row["latency_ms"]}


def _combined(found: list[Any]) -> list[dict[str, Any]]:
    """One point per window start, every version and variant added up (latency sketches
    merged, so the quantiles are of all requests)."""
    merged: dict[float, Any] = {}
    for w in found:
        total = merged.get(w.start)
        if total is None:
            total = merged[w.start] = Window(w.start, w.seconds, w.endpoint, 0, "all")
        total.requests += w.requests
        total.errors += w.errors
        total.latency.merge(w.latency)
    return [_point(merged[start]) for start in sorted(merged)]


def _totals(found: list[Any]) -> dict[str, Any]:
    requests = sum(w.requests for w in found)
    errors = sum(w.errors for w in found)
    return {"requests": requests, "errors": errors,
            "error_rate": errors / requests if requests else None}

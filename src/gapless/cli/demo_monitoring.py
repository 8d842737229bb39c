"""The demo's monitoring stage: traffic that shifts halfway, labels that arrive late, and
the drift and the performance drop found in the prediction log.

Rows of the latest quarter are sent to the live endpoint through the in-process app; after
``PHASE_S`` seconds an upstream bug starts feeding it distorted rows (credit scores 120
points lower, rates 4 points higher, incomes 30 % lower), as a broken data pipeline
would. The applicants' real outcomes arrive afterwards as feedback. Then drift per window
against the model's training data, performance per window (realized from the labels and
estimated from the model's confidence), and an HTML report of both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gapless.workspace import Workspace

PHASE_S = 15.0  # seconds of clean traffic, then as many of shifted traffic
WINDOW_S = 5.0  # the windows monitoring cuts the log into (the dashboard's smallest)
MAX_DROP = 0.1  # accuracy below the clean period's by more than this is concept drift
MIN_LABELLED = 100  # labels a window needs for a verdict (fewer: too noisy to judge)


def distort(record: dict[str, Any]) -> dict[str, Any]:
    """An application as a broken upstream feed would deliver it."""
    out = dict(record)
    if out.get("credit_score") is not None:
        out["credit_score"] = max(300.0, out["credit_score"] - 120.0)
    if out.get("interest_rate") is not None:
        out["interest_rate"] = min(30.0, out["interest_rate"] + 4.0)
    if out.get("income") is not None:
        out["income"] = out["income"] * 0.7
    return out


def monitor_shift(ws: Workspace, dataset: str, *, endpoint: str, target: str,
                  batch_rows: int, say: Callable[..., None]) -> float:
    """Serve clean then shifted traffic, label it late, and show what monitoring finds;
    returns when the shift began."""
    import warnings

    from gapless.server.app import create_app

    with warnings.catch_warnings():  # Starlette's notice about its httpx dependency
        warnings.filterwarnings("ignore", message="Using `httpx` with")
        from fastapi.testclient import TestClient

    served = next(v.model for v in ws.deployments.get(endpoint).spec.variants
                  if v.role == "primary")
    model = ws.models.get(served).ref
    labels: list[dict[str, Any]] = []
    with TestClient(create_app(ws, auth=False, canary_interval=0)) as client:
        # Phases start on a window's edge, so that no window mixes them.
        started = (time.time() // WINDOW_S + 1) * WINDOW_S
        shift_at = started + PHASE_S
        for shifted in (False, True):
            begin = shift_at if shifted else started
            time.sleep(max(0.0, begin - time.time()))
            batches = request_batches(ws, dataset, target, batch_rows)
            while time.time() < begin + PHASE_S - 0.05:
                records, outcomes = next(batches)
                sent = [distort(r) for r in records] if shifted else records
                answer = client.post(f"/v1/endpoints/{endpoint}/predict",
                                     json={"instances": sent})
                if answer.status_code != 200:
                    raise RuntimeError(f"demo: endpoint {endpoint} answered "
                                       f"{answer.status_code}: {answer.text[:500]}")
                labels += [{"prediction_id": i, "label": y}
                           for i, y in zip(answer.json()["ids"], outcomes, strict=True)]
        # The outcomes are known later: sent as feedback once the traffic is over.
        for i in range(0, len(labels), 1000):
            client.post(f"/v1/endpoints/{endpoint}/feedback",
                        json={"feedback": labels[i:i + 1000]})
    say(f"\n[bold]12. monitor[/] {len(labels):,} rows served to {model} over "
        f"{2 * PHASE_S:.0f}s; halfway an upstream bug starts distorting them "
        "(credit_score -120, interest_rate +4, income -30%); their real outcomes arrive "
        "afterwards as feedback")
    _show_drift(ws, endpoint, model, started, shift_at, say)
    _show_performance(ws, endpoint, model, started, shift_at, say)
    path = _write_report(ws, endpoint, model, started, shift_at)
    say(f"             report: {path}")
    say(f"             dashboard: gapless -w {ws.root} serve --no-auth, then open "
        f"http://127.0.0.1:8000/ui/endpoints/{endpoint}?window={WINDOW_S:g}s")
    return shift_at


def request_batches(ws: Workspace, dataset: str, target: str,
             rows: int) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
    import itertools
    import json

    frame = ws.data.load(dataset).sort_values("applied_at")
    latest = frame.iloc[int(len(frame) * 0.75):]
    records = json.loads(latest.drop(columns=[target]).to_json(orient="records",
                                                               date_format="iso"))
    outcomes = latest[target].astype(int).tolist()
    return itertools.cycle([(records[i:i + rows], outcomes[i:i + rows])
                            for i in range(0, len(records), rows)])


def _show_drift(ws: Workspace, endpoint: str, model: str, started: float, shift_at: float,
                say: Callable[..., None]) -> None:
    import numpy as np

    found = ws.monitor.drift_windows(endpoint, model=model, window=WINDOW_S, since=started)
    scores: dict[str, dict[str, list[float]]] = {"clean": {}, "shifted": {}, "mixed": {}}
    for w in found:
        phase = _phase(w, shift_at)
        if w.drifted is not None and phase != "mixed":
            for f in w.features.values():
                if f.score is not None:
                    scores[phase].setdefault(f.name, []).append(f.score)
        worst = sorted((f for f in w.features.values() if f.drifted),
                       key=lambda f: -(f.score or 0.0))[:3]
        verdict = ("[red]dataset drift[/]" if w.drifted else "no dataset drift"
                   if w.drifted is False else f"no verdict ({w.reason})")
        say(f"             {_clock(w.start)} {phase:>7}: {w.rows:,} rows, {verdict}, "
            f"{(w.drift_share or 0.0):.0%} of features drifted"
            + (": " + ", ".join(f"{f.name} {f.method} {f.score:.2f}" for f in worst)
               if worst else ""))
    # What the shift did: features whose typical score at least doubled and crossed
    # the threshold (some drift before it too: the training data is a year older).
    median = {phase: {name: float(np.median(v)) for name, v in found_.items()}
              for phase, found_ in scores.items()}
    threshold = {name: f.threshold for w in found for name, f in w.features.items()}
    moved = sorted((name for name, after in median["shifted"].items()
                    if after > 2 * median["clean"].get(name, np.inf)
                    and after > (threshold.get(name) or 0.0)),
                   key=lambda name: -median["shifted"][name])
    say("             drift the shift brought (median score before -> after): "
        + (", ".join(f"{name} {median['clean'][name]:.2f} -> {median['shifted'][name]:.2f}"
                     for name in moved) or "none"))


def _show_performance(ws: Workspace, endpoint: str, model: str, started: float,
                      shift_at: float, say: Callable[..., None]) -> None:
    from gapless.monitoring.performance import concept_drift

    report = ws.monitor.performance(endpoint, window=WINDOW_S, since=started, model=model)
    clean = [w for w in report.windows if w.start + w.seconds <= shift_at and w.scored]
    if not clean:
        say("             performance: no labelled window before the shift")
        return
    reference = sum(w.metrics["accuracy"] * w.scored for w in clean) / sum(
        w.scored for w in clean)
    verdicts = concept_drift(report.windows, {"accuracy": reference}, metric="accuracy",
                             max_drop=MAX_DROP, min_labelled=MIN_LABELLED)
    for w, v in zip(report.windows, verdicts, strict=True):
        shown = ("[red]concept drift[/]" if v.drifted else "ok" if v.drifted is False
                 else f"no verdict ({v.reason})")
        say(f"             {_clock(w.start)} {_phase(w, shift_at):>7}: accuracy "
            f"{w.metrics.get('accuracy', 0):.3f} "
            f"realized, {w.estimated.get('accuracy', float('nan')):.3f} estimated without "
            f"labels: {shown}")
    say(f"             reference: accuracy {reference:.3f} before the shift, drift when "
        f"{MAX_DROP:g} lower")
    after = [w for w in report.windows if w.start >= shift_at and w.scored]
    if after and all(w.estimated for w in clean + after):
        before_est, after_est = (_mean(ws_, "estimated") for ws_ in (clean, after))
        realized = _mean(after, "metrics")
        seen = after_est < before_est - MAX_DROP
        say(f"             estimated without labels: {before_est:.3f} before, {after_est:.3f} "
            f"after (realized after: {realized:.3f}): " + (
                "the confidence alone warned of the drop" if seen else
                "the confidence could not see it: the distorted rows make the model "
                "confidently wrong, which only labels reveal"))


def _mean(windows: list[Any], field: str) -> float:
    return sum(getattr(w, field)["accuracy"] * w.predictions for w in windows) / sum(
        w.predictions for w in windows)


def _write_report(ws: Workspace, endpoint: str, model: str, started: float,
                  shift_at: float) -> Path:
    from gapless.monitoring.inputs import logged_inputs
    from gapless.reports.monitoring import render_monitoring_report
    from gapless.reports.render import write_html

    windows = ws.monitor.windows(endpoint, window=WINDOW_S, since=started, model=model)
    performance = ws.monitor.performance(endpoint, window=WINDOW_S, since=started,
                                         model=model).windows
    training = ws.models.get(model).lineage["dataset"]
    current, _ = logged_inputs(ws.metadata, endpoint, since=shift_at)
    reference = ws.data.load(str(training))
    shared = [str(c) for c in reference.columns if c in current.columns]
    drift = ws.monitor.drift(reference, current, columns=shared).to_dict()
    path = ws.root / "reports" / "monitoring.html"
    write_html(path, render_monitoring_report(
        [w.to_dict() for w in windows], endpoint=endpoint, window=f"{WINDOW_S:g}s",
        drift=drift, performance=[w.to_dict() for w in performance],
        period="the demo's traffic; drift table: the shifted half against the training data"))
    return path


def _phase(window: Any, shift_at: float) -> str:
    if window.start + window.seconds <= shift_at:
        return "clean"
    return "shifted" if window.start >= shift_at else "mixed"


def _clock(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%H:%M:%S")

"""Alert rules on the prediction log: firing, cooldowns across processes, actions, triggers."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import free_port, log_predictions
from gapless import NotFoundError, ValidationError, Workspace
from gapless.monitoring.alert_rules import AlertRule, AlertRules
from gapless.monitoring.alerts import (
    LastFiring,
    consume_trigger,
    decide,
    evaluate,
    events,
    latest_complete_window,
    pending_triggers,
)
from gapless.stores.sql import MetadataStore

START = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary
AFTER_FIRST = START + 300 + 5  # the window START..START+300 has just closed


def row(at: float, *, age: float | None = 30.0, output: Any = 0, status: int = 200,
        latency: float = 2.0, version: int = 1, variant: str = "primary") -> dict[str, Any]:
    return {"created_at": START + at, "inputs": {"age": age, "plan": "basic"},
            "outputs": output, "status": status, "latency_ms": latency, "version": version,
            "variant": variant}


def rule(name: str = "errors", **fields: Any) -> dict[str, Any]:
    return {"name": name, "endpoint": "churn", "metric": "error_rate", "window": "5m",
            "condition": "> 0.1", "cooldown": "30m", **fields}


def statuses(results: Any) -> dict[str, str]:
    return {o.rule: o.status for o in results.outcomes}


def test_rules_fire_or_stay_quiet_on_the_latest_complete_window(
        workspace: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    rows = [row(10 + i, output=i % 2, latency=5.0 + i) for i in range(7)]
    rows += [row(30, status=500, output=None), row(31, status=500, output=None),
             row(40, age=None, version=2, variant="canary", output=1),
             row(310, status=500)]  # in the window still filling: not judged
    log_predictions(workspace.metadata, rows)
    rules = [
        rule("errors", condition="> 0.15"),  # 2 of 10
        rule("slow", metric="latency_ms.p95", condition="> 1000"),
        rule("traffic", metric="requests", condition=">= 10"),
        rule("missing-age", metric="inputs.age.missing_share", condition="> 0.05"),
        rule("ones", metric="outputs.classes.1", condition="== 0.5"),  # 4 of 8 answered
        rule("canary-traffic", metric="requests", condition="== 1", variant="canary"),
        rule("other-down", endpoint="other", metric="requests", condition="< 1"),
        rule("other-errors", endpoint="other"),
    ]
    with caplog.at_level(logging.WARNING, logger="gapless.monitoring.alerts"):
        results = evaluate(workspace.metadata, rules, now=AFTER_FIRST)
    assert statuses(results) == {
        "errors": "fired", "slow": "quiet", "traffic": "fired", "missing-age": "fired",
        "ones": "fired", "canary-traffic": "fired", "other-down": "fired",
        "other-errors": "quiet"}
    by_name = {o.rule: o for o in results.outcomes}
    assert by_name["errors"].value == pytest.approx(0.2)
    assert (by_name["errors"].window_start, by_name["errors"].window_end) == (START, START + 300)
    assert by_name["missing-age"].value == pytest.approx(0.1)
    assert by_name["slow"].reason.endswith("does not meet > 1000")
    assert by_name["other-errors"].reason == "no value: no requests in the window"
    assert by_name["errors"].actions == [
        {"action": "log", "target": None, "ok": True, "message": "logged"}]
    assert "alert 'errors' on endpoint 'churn': error_rate = 0.2 meets > 0.15" in caplog.text
    stored = events(workspace.metadata, rule="errors")
    assert [(e.endpoint, e.value, e.window_start, e.pipeline) for e in stored] == [
        ("churn", pytest.approx(0.2), START, None)]
    assert stored[0].actions[0]["ok"] is True


def test_cooldown_suppresses_duplicates_and_fires_again_after_it(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, [row(10, status=500), row(20),  # window 0
                                  row(310, status=500),  # window 1
                                  row(1810, status=500)])  # window 6, after the cooldown
    rules = [rule(cooldown="30m")]
    first = evaluate(workspace.metadata, rules, now=AFTER_FIRST)
    assert statuses(first) == {"errors": "fired"}
    again = evaluate(workspace.metadata, rules, now=AFTER_FIRST + 60)
    assert statuses(again) == {"errors": "suppressed"}
    assert again.suppressed[0].reason.startswith("already fired for this window at ")
    later = evaluate(workspace.metadata, rules, now=AFTER_FIRST + 300)
    assert statuses(later) == {"errors": "suppressed"}
    assert later.suppressed[0].reason.startswith("cooldown: fired at ")
    assert "quiet until" in later.suppressed[0].reason
    assert later.suppressed[0].event_id is None and later.suppressed[0].actions == []
    after = evaluate(workspace.metadata, rules, now=AFTER_FIRST + 1800)
    assert statuses(after) == {"errors": "fired"}
    assert [e.window_start - START for e in events(workspace.metadata)] == [0, 1800]


def test_the_decision_is_pure() -> None:
    r = AlertRule(name="e", endpoint="churn", metric="error_rate", condition=">= 0.5",
                  cooldown=600)
    assert decide(r, None, 0, None, 10) == ("quiet", "no value")
    assert decide(r, 0.4, 0, None, 10)[0] == "quiet"
    assert decide(r, 0.5, 0, None, 10) == ("fire", "0.5 >= 0.5")
    assert decide(r, 0.5, 300, LastFiring(7, 10.0, 0), 500)[0] == "suppressed"
    assert decide(r, 0.5, 900, LastFiring(7, 10.0, 0), 610)[0] == "fire"
    assert latest_complete_window(300, 1000) == (600, 900)
    assert latest_complete_window(300, 900) == (600, 900)


def test_two_processes_in_a_row_fire_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/m.db"
    first, second = MetadataStore(uri), MetadataStore(uri)
    log_predictions(first, [row(10, status=500)])
    try:
        assert statuses(evaluate(first, [rule()], now=AFTER_FIRST)) == {"errors": "fired"}
        assert statuses(evaluate(second, [rule()], now=AFTER_FIRST + 1)) == {
            "errors": "suppressed"}
    finally:
        first.dispose()
        second.dispose()


def test_evaluators_racing_fire_once(metadata_uri: str) -> None:
    stores = [MetadataStore(metadata_uri) for _ in range(4)]
    log_predictions(stores[0], [row(10, status=500)])
    results: list[Any] = []
    barrier = threading.Barrier(len(stores))

    def run(store: MetadataStore) -> None:
        barrier.wait()
        results.append(evaluate(store, [rule()], now=AFTER_FIRST))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(r.outcomes[0].status for r in results) == [
            "fired", "suppressed", "suppressed", "suppressed"]
        assert len(events(stores[0])) == 1
    finally:
        for s in stores:
            s.dispose()


@contextmanager
def receiver(status: int = 200) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 that records every JSON body POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"],
                             "json": json.loads(body)})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_webhook_posts_the_alert_as_json(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, [row(10, status=500)])
    with receiver() as (url, received):
        results = evaluate(workspace.metadata,
                           [rule(actions=[{"webhook": {"url": url, "timeout": 2}}])],
                           now=AFTER_FIRST)
    (fired,) = results.fired
    assert fired.actions == [{"action": "webhook", "target": url, "ok": True,
                              "message": "delivered"}]
    (got,) = received
    assert got["path"] == "/hook" and got["type"] == "application/json"
    assert got["json"] == {"rule": "errors", "endpoint": "churn", "metric": "error_rate",
                           "value": 1.0, "condition": "> 0.1", "window_start": START,
                           "window_end": START + 300, "fired_at": AFTER_FIRST,
                           "event_id": fired.event_id}


def test_a_failing_webhook_is_recorded_not_raised(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, [row(10, status=500)])
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    with receiver(status=500) as (broken, _):
        results = evaluate(workspace.metadata, [
            rule("closed", actions=[{"webhook": closed}, "log"]),
            rule("broken", actions=[{"webhook": broken}])], now=AFTER_FIRST)
    assert statuses(results) == {"closed": "fired", "broken": "fired"}
    closed_actions = results.fired[0].actions
    assert closed_actions[0]["ok"] is False and "URLError" in closed_actions[0]["message"]
    assert closed_actions[1]["ok"] is True  # later actions still run
    assert results.fired[1].actions[0]["ok"] is False
    assert "HTTP Error 500" in results.fired[1].actions[0]["message"]
    stored = {e.rule: e for e in events(workspace.metadata)}
    assert stored["closed"].actions == closed_actions


def test_pipeline_triggers_are_pending_then_consumed_exactly_once(
        workspace: Workspace) -> None:
    store = workspace.metadata
    log_predictions(store, [row(10, status=500)])
    results = evaluate(store, [rule("retrain", actions=[{"pipeline": "retrain-churn"}]),
                               rule("page")], now=AFTER_FIRST)
    assert statuses(results) == {"retrain": "fired", "page": "fired"}
    (trigger,) = pending_triggers(store)
    assert (trigger.rule, trigger.pipeline, trigger.consumed_at) == (
        "retrain", "retrain-churn", None)
    assert pending_triggers(store, pipeline="other") == []
    assert "pending until consumed" in trigger.actions[0]["message"]
    wins: list[bool] = []
    threads = [threading.Thread(target=lambda: wins.append(consume_trigger(store, trigger.id)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False, False, False, True]
    assert pending_triggers(store) == []
    assert consume_trigger(store, trigger.id) is False
    page = next(o for o in results.fired if o.rule == "page")
    with pytest.raises(NotFoundError, match=f"alert event {page.event_id} is not a pipeline"):
        consume_trigger(store, page.event_id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        consume_trigger(store, 999)


def test_drift_rules_compare_the_window_with_a_reference(workspace: Workspace) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"age": rng.normal(30, 5, 200), "plan": ["basic"] * 200})
    log_predictions(workspace.metadata, [row(1 + i, age=float(a))
                                  for i, a in enumerate(rng.normal(60, 5, 60))])
    rules = [rule("drift", metric="drift_share", condition=">= 0.5"),
             rule("dataset", metric="dataset_drift", condition="== 1")]
    skipped = workspace.monitor.alerts(rules, now=AFTER_FIRST)
    assert statuses(skipped) == {"drift": "skipped", "dataset": "skipped"}
    assert "needs a reference frame for endpoint 'churn'" in skipped.skipped[0].reason
    results = workspace.monitor.alerts(rules, now=AFTER_FIRST, reference={"churn": reference})
    assert statuses(results) == {"drift": "fired", "dataset": "fired"}
    assert results.fired[0].value == pytest.approx(0.5)  # age drifted, plan did not


def test_rules_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("""
rules:
  - name: churn-p95
    endpoint: churn
    metric: latency_ms.p95
    window: 1h
    condition: ">= 250"
    cooldown: 2h
    actions:
      - log
      - webhook: https://hooks.example.com/x
      - pipeline: retrain
""")
    (loaded,) = AlertRules.load(path)
    assert (loaded.window, loaded.cooldown, loaded.pipeline) == (3600, 7200, "retrain")
    assert [a.kind for a in loaded.actions] == ["log", "webhook", "pipeline"]
    assert AlertRules.load([rule()]).rules[0].actions[0].kind == "log"  # the default


@pytest.mark.parametrize(("change", "message"), [
    ({"metric": "latency_ms.p42"},
     r"rule 'errors', field 'metric': unknown metric 'latency_ms.p42'; expected one of"),
    ({"metric": "inputs.age"}, r"field 'metric': unknown metric 'inputs.age'"),
    ({"condition": "above 5"},
     r"rule 'errors', field 'condition': expected an operator .* got 'above 5'"),
    ({"condition": "> five"}, r"field 'condition'"),
    ({"window": "5 minutes"}, r"rule 'errors', field 'window': expected a number and a unit"),
    ({"cooldown": "-1h"}, r"rule 'errors', field 'cooldown'"),
    ({"actions": ["email"]}, r"rule 'errors', field 'actions': unknown action 'email'"),
    ({"actions": [{"sms": "123"}]}, r"field 'actions': unknown action 'sms'"),
    ({"actions": [{"webhook": "ftp://x"}]}, r"webhook: expected an http:// or https:// URL"),
    ({"actions": [{"webhook": {"url": "http://x", "timeout": 0}}]},
     r"webhook timeout: expected seconds > 0"),
    ({"actions": [{"pipeline": "a"}, {"pipeline": "b"}]}, r"at most one pipeline per rule"),
    ({"treshold": 1}, r"rule 'errors', field 'treshold': unknown field"),
    ({"endpoint": None}, r"rule 'errors', field 'endpoint': required"),
])
def test_bad_rules_name_the_rule_and_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertRules.load({"rules": [rule(**change)]})


def test_bad_rule_files() -> None:
    with pytest.raises(ValidationError, match="rule #1, field 'name': required"):
        AlertRules.load([{"endpoint": "churn"}])
    with pytest.raises(ValidationError, match="rule 'errors', field 'name': the name is used"):
        AlertRules.load([rule(), rule()])
    with pytest.raises(ValidationError, match="no such file"):
        AlertRules.load(Path("/nonexistent/rules.yaml"))
    with pytest.raises(ValidationError, match="unknown top-level key"):
        AlertRules.load({"rule": []})


def test_performance_rules_judge_late_labels_and_the_confidence(workspace: Workspace) -> None:
    from gapless.serving.feedback import record_feedback

    ids = log_predictions(workspace.metadata, [
        {**row(1 + i, output=1), "probabilities": ((0, 1), [0.4, 0.6])} for i in range(40)])
    # Labels for the first 30 only: 12 right, 18 wrong.
    record_feedback(workspace.metadata, "churn", [
        {"prediction_id": pid, "label": int(i < 12)} for i, pid in enumerate(ids[:30])])
    day_later = AFTER_FIRST + 86400
    rules = [rule("accuracy", metric="performance.accuracy", condition="< 0.5", lag="1d"),
             rule("confidence", metric="estimated.accuracy", condition="< 0.7", lag="1d"),
             rule("strict", metric="performance.accuracy", condition="< 0.5", lag="1d",
                  min_rows=35),
             rule("no-lag", metric="performance.accuracy", condition="< 0.5")]
    results = workspace.monitor.alerts(rules, now=day_later)
    assert statuses(results) == {"accuracy": "fired", "confidence": "fired",
                                 "strict": "quiet", "no-lag": "quiet"}
    fired = {o.rule: o for o in results.fired}
    assert fired["accuracy"].value == pytest.approx(12 / 30)
    assert fired["confidence"].value == pytest.approx(0.6)
    assert fired["accuracy"].window_start == START
    quiet = {o.rule: o.reason for o in results.quiet}
    assert "30 labelled row(s) in the window, fewer than min_rows 35" in quiet["strict"]
    assert "no answered predictions" in quiet["no-lag"]  # its window is a day later


def test_min_rows_keeps_a_thin_window_quiet(workspace: Workspace) -> None:
    log_predictions(workspace.metadata, [row(1, status=500), row(2)])
    rules = [rule("thin", condition="> 0.1", min_rows=10), rule("any", condition="> 0.1")]
    results = workspace.monitor.alerts(rules, now=AFTER_FIRST)
    assert statuses(results) == {"thin": "quiet", "any": "fired"}
    assert "2 request(s) in the window, fewer than min_rows 10" in results.quiet[0].reason


@pytest.mark.parametrize(("fields", "message"), [
    ({"metric": "performance.auc"}, "performance|estimated.{accuracy"),
    ({"min_rows": -1}, "field 'min_rows': expected a count of rows >= 0"),
    ({"lag": "soon"}, "field 'lag': expected a number and a unit"),
])
def test_new_rule_fields_are_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        AlertRules.load([rule("bad", **fields)])

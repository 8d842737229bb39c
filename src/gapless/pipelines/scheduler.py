"""The scheduler: starts pipelines on their cron schedules, alert triggers and new data.

Any number of scheduler processes may tick against one metadata store. Each firing is
claimed by inserting its ``(schedule, fire_at)`` row into ``schedule_firings``; the
primary key lets exactly one process win, and the losers skip it silently. An alert
trigger is claimed by :func:`gapless.monitoring.triggers.consume_trigger`, which only
one caller wins. The winner launches the run and records ``started`` with its run id,
or ``failed`` with the reason; a launch that raises never stops the scheduler.

A scheduler killed while a run it launched is still ``running`` leaves that run behind;
:func:`mark_abandoned` (called on every tick) marks such runs failed with the reason,
when the claiming process is gone from this host or, optionally, when the run has been
running longer than a limit.

The decisions are pure (:mod:`gapless.pipelines.schedules`,
:func:`gapless.pipelines.triggers.decide_new_data`); this module is their I/O shell.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ConflictError, GaplessError, ValidationError
from gapless.pipelines.schedules import DEFAULT_GRACE_S, Schedule, iso, parse_schedule, plan
from gapless.pipelines.triggers import NewData, Triggers, check_new_data, data_key, parse_triggers
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import pipeline_runs, pipeline_steps, schedule_firings

Launch = Callable[[str, str], "str | None"]
SpecSource = Sequence["str | os.PathLike[str]"] | Callable[[], Sequence["str | os.PathLike[str]"]]


@dataclass(frozen=True)
class Timing:
    """What the scheduler reads of a pipeline spec: its name, schedule and triggers."""

    name: str
    path: Path
    schedule: Schedule | None = None
    triggers: Triggers = field(default_factory=Triggers)


@dataclass(frozen=True)
class Action:
    """One thing a tick did. ``kind``: schedule, alert, data, abandoned or error;
    ``outcome``: started, failed, skipped, baseline, abandoned or error."""

    pipeline: str
    kind: str
    outcome: str
    trigger: str | None = None
    run_id: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.pipeline}: {self.outcome}"]
        if self.trigger:
            parts.append(f"({self.trigger})")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.detail:
            parts.append(f"- {self.detail}")
        return " ".join(parts)


def read_timing(path: str | os.PathLike[str]) -> Timing:
    """The name, schedule and triggers of the pipeline spec at ``path``."""
    import yaml

    where = Path(path)
    try:
        raw = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"pipeline spec {where}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(f"pipeline spec {where}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValidationError(f"pipeline spec {where}: expected a mapping with a `name`; add "
                              "name: my-pipeline")
    name = raw["name"]
    return Timing(name, where, parse_schedule(name, raw.get("schedule")),
                  parse_triggers(name, raw.get("triggers")))


def default_owner() -> str:
    """``host:pid`` of this process: who claims a firing."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Ticks the pipelines of ``specs`` (paths, or a callable listing them anew on each
    tick); ``launch(spec_path, trigger)`` starts a run and returns its id.

    ``started_at`` (default: now) is where never-fired schedules start counting;
    ``abandon_after`` (seconds), when given, also fails runs running longer than that.
    """

    def __init__(self, store: MetadataStore, specs: SpecSource, launch: Launch,
                 owner: str | None = None, *, started_at: float | None = None,
                 grace: float = DEFAULT_GRACE_S, abandon_after: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.specs = specs
        self.launch = launch
        self.owner = owner or default_owner()
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.grace = grace
        self.abandon_after = abandon_after

    def tick(self, now: float | None = None) -> list[Action]:
        """Claim and launch whatever is due at ``now`` (default: the clock)."""
        now = self.clock() if now is None else now
        actions = [Action(a.pipeline, "abandoned", "abandoned", a.trigger, a.run_id, a.detail)
                   for a in mark_abandoned(self.store, self.abandon_after, now=self.clock())]
        for timing in self._timings(actions):
            for kind, check in (("schedule", self._schedule), ("alert", self._alerts),
                                ("data", self._new_data)):
                try:
                    actions.extend(check(timing, now))
                except GaplessError as exc:
                    actions.append(Action(timing.name, kind, "error", detail=str(exc)))
        return actions

    def run(self, stop: threading.Event, poll: float = 30.0,
            on_action: Callable[[Action], None] | None = None) -> None:
        """Tick every ``poll`` seconds until ``stop`` is set; report each action."""
        while not stop.is_set():
            try:
                actions = self.tick()
            except Exception as exc:  # noqa: BLE001 - a bad tick must not end the loop
                actions = [Action("*", "error", "error", detail=f"{type(exc).__name__}: {exc}")]
            for action in actions:
                if on_action is not None:
                    on_action(action)
            stop.wait(poll)

    # -- the three kinds of trigger --------------------------------------------------------
    def _schedule(self, timing: Timing, now: float) -> list[Action]:
        if timing.schedule is None:
            return []
        f = schedule_firings
        with self.store.read() as conn:
            last = conn.execute(sa.select(sa.func.max(f.c.fire_at)).where(
                f.c.schedule == timing.name)).scalar()
        todo = plan(timing.schedule, last, now, self.started_at, grace=self.grace)
        actions = []
        if todo.skip_through is not None:
            trigger = f"schedule:{timing.name}@{iso(todo.skip_through)}"
            if self._claim(timing.name, todo.skip_through, trigger, status="skipped",
                           detail=f"{trigger}: {todo.note} (missed: {timing.schedule.missed})"):
                actions.append(Action(timing.name, "schedule", "skipped", trigger,
                                      detail=f"{todo.note} (missed: {timing.schedule.missed})"))
        for i, at in enumerate(todo.fire):
            done = self._fire(timing, "schedule", timing.name, at,
                              f"schedule:{timing.name}@{iso(at)}",
                              reason=todo.note if i == 0 else None)
            if done is not None:
                actions.append(done)
        return actions

    def _alerts(self, timing: Timing, now: float) -> list[Action]:
        if not timing.triggers.alerts:
            return []
        from gapless.monitoring.triggers import consume_trigger, pending_triggers

        actions = []
        for event in pending_triggers(self.store, timing.name):
            if not consume_trigger(self.store, event.id):
                continue  # another scheduler consumed it first
            done = self._fire(timing, "alert", f"{timing.name}:alert", float(event.id),
                              f"alert:{event.id}")
            if done is not None:
                actions.append(done)
        return actions

    def _new_data(self, timing: Timing, now: float) -> list[Action]:
        actions = []
        for rule in timing.triggers.new_data:
            action = self._one_dataset(timing, rule)
            if action is not None:
                actions.append(action)
        return actions

    def _one_dataset(self, timing: Timing, rule: NewData) -> Action | None:
        decision = check_new_data(self.store, timing.name, rule)
        if decision.version is None:
            return None
        key = data_key(timing.name, rule.dataset)
        trigger = f"data:{rule.dataset}@{decision.version}"
        if decision.action == "baseline":
            if self._claim(key, float(decision.version), trigger, status="skipped",
                           detail=f"{trigger}: {decision.reason}"):
                return Action(timing.name, "data", "baseline", trigger, detail=decision.reason)
            return None
        return self._fire(timing, "data", key, float(decision.version), trigger,
                          reason=decision.reason)

    # -- claiming and launching ------------------------------------------------------------
    def _fire(self, timing: Timing, kind: str, key: str, fire_at: float, trigger: str,
              reason: str | None = None) -> Action | None:
        """Claim firing ``(key, fire_at)``, launch, record the outcome; None if lost."""
        if not self._claim(key, fire_at, trigger, status="claimed", detail=trigger):
            return None
        try:
            run_id = self.launch(str(timing.path), trigger)
        except Exception as exc:  # noqa: BLE001 - a failed launch must not stop the scheduler
            error = f"launch failed: {type(exc).__name__}: {exc}"
            self._settle(key, fire_at, status="failed", detail=f"{trigger}: {error}")
            return Action(timing.name, kind, "failed", trigger, detail=error)
        self._settle(key, fire_at, status="started", run_id=run_id, detail=trigger)
        return Action(timing.name, kind, "started", trigger, run_id, reason)

    def _claim(self, key: str, fire_at: float, trigger: str, *, status: str,
               detail: str) -> bool:
        row = {"schedule": key, "fire_at": fire_at, "claimed_by": self.owner,
               "claimed_at": self.clock(), "status": status, "run_id": None, "detail": detail}
        try:
            self.store.write(lambda conn: conn.execute(schedule_firings.insert().values(**row)))
        except ConflictError:
            return False  # another scheduler claimed it
        return True

    def _settle(self, key: str, fire_at: float, **values: Any) -> None:
        f = schedule_firings
        self.store.write(lambda conn: conn.execute(
            sa.update(f).where(f.c.schedule == key, f.c.fire_at == fire_at).values(**values)))

    def _timings(self, actions: list[Action]) -> list[Timing]:
        paths = self.specs() if callable(self.specs) else self.specs
        found: dict[str, Timing] = {}
        for path in paths:
            try:
                timing = read_timing(path)
            except GaplessError as exc:
                actions.append(Action(Path(path).stem, "error", "error", detail=str(exc)))
                continue
            if timing.name in found:
                actions.append(Action(timing.name, "error", "error", detail=(
                    f"pipeline `{timing.name}` is named by both {found[timing.name].path} and "
                    f"{timing.path}; only the first is scheduled — rename one")))
                continue
            found[timing.name] = timing
        return list(found.values())


# -- runs left behind by a stopped scheduler -----------------------------------------------
@dataclass(frozen=True)
class Abandoned:
    """A run (or a claimed firing without a run) marked failed, and why."""

    pipeline: str
    trigger: str | None
    run_id: str | None
    detail: str


def mark_abandoned(store: MetadataStore, older_than_s: float | None = None, *,
                   now: float | None = None, host: str | None = None,
                   alive: Callable[[int], bool] | None = None) -> list[Abandoned]:
    """Mark failed every ``running`` pipeline run whose scheduler stopped mid-run.

    A run counts as abandoned when the firing that launched it was claimed by a process
    of this host (``host``, default this machine) that is no longer alive, or, when
    ``older_than_s`` is given, when it started more than that many seconds ago. Its
    running steps fail with it, so a re-run resumes after the last step that succeeded;
    a claimed firing whose process is gone is marked failed too. Runs on other hosts
    are judged only by age.
    """
    now = time.time() if now is None else now
    host = socket.gethostname() if host is None else host
    alive = _pid_alive if alive is None else alive
    r, f = pipeline_runs, schedule_firings
    with store.read() as conn:
        runs = conn.execute(sa.select(r.c.id, r.c.pipeline, r.c.trigger, r.c.started_at)
                            .where(r.c.status == "running")).all()
        firings = conn.execute(sa.select(f).where(sa.or_(
            f.c.status == "claimed",
            f.c.run_id.in_([run.id for run in runs]) if runs else sa.false()))).all()

    def gone(owner: str) -> str | None:
        owner_host, _, pid = owner.rpartition(":")
        if owner_host != host or not pid.isdigit() or alive(int(pid)):
            return None
        return f"scheduler {owner} stopped mid-run (process {pid} is gone)"

    by_run = {row.run_id: row for row in firings if row.run_id}
    by_trigger = {row.detail: row for row in firings if row.status == "claimed"}
    failed_runs: dict[str, str] = {}
    found: list[Abandoned] = []
    for run in runs:
        firing = by_run.get(run.id) or by_trigger.get(run.trigger)
        reason = gone(firing.claimed_by) if firing is not None else None
        if reason is None and older_than_s is not None and now - run.started_at > older_than_s:
            reason = (f"scheduler or runner stopped mid-run: still running "
                      f"{now - run.started_at:.0f}s after it started (limit {older_than_s:g}s)")
        if reason is not None:
            failed_runs[run.id] = reason
            found.append(Abandoned(run.pipeline, run.trigger, run.id, reason))
    dead_claims = {}
    for row in firings:
        reason = gone(row.claimed_by) if row.status == "claimed" else None
        if reason is not None:
            dead_claims[(row.schedule, row.fire_at)] = f"{row.detail}: {reason}"
            if not any(a.trigger == row.detail for a in found):
                found.append(Abandoned(row.schedule.split(":", 1)[0], row.detail, None, reason))
    if not failed_runs and not dead_claims:
        return []

    def work(conn: sa.Connection) -> None:
        s = pipeline_steps
        for run_id, reason in failed_runs.items():
            conn.execute(sa.update(r).where(r.c.id == run_id, r.c.status == "running")
                         .values(status="failed", finished_at=now, error=reason))
            conn.execute(sa.update(s).where(s.c.run_id == run_id, s.c.status == "running")
                         .values(status="failed", finished_at=now, error=reason))
        for (key, fire_at), detail in dead_claims.items():
            conn.execute(sa.update(f).where(f.c.schedule == key, f.c.fire_at == fire_at,
                                            f.c.status == "claimed")
                         .values(status="failed", detail=detail))

    store.write(work)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True

"""Cron schedules of pipelines and the pure decision of which firings are due.

A schedule is a cron expression read in a time zone, plus a policy for the firings
that were missed while no scheduler ran:

``skip``
    run a firing only if it is at most ``grace`` seconds old; older ones are dropped.
``latest``
    run the newest missed firing only (the default).
``all``
    run every missed firing, oldest first, at most :data:`MAX_CATCH_UP` of them (the
    newest ones); the plan says how many older ones were dropped.

A schedule that never fired counts from the moment the scheduler started: history
before it is never backfilled. Nothing here reads a clock or a store; times are
POSIX seconds passed in by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gapless.core.errors import ValidationError

MISSED_POLICIES = ("skip", "latest", "all")
MAX_CATCH_UP = 100
# A firing this many seconds old still counts as "now" under the `skip` policy; it must
# be longer than the scheduler's poll interval plus the time one tick takes.
DEFAULT_GRACE_S = 90.0


@dataclass(frozen=True)
class Schedule:
    """When pipeline ``name`` runs: ``cron`` read in ``timezone``, with a missed-run policy.

    Invalid values raise :class:`ValidationError` naming the pipeline and the field.
    """

    name: str
    cron: str
    missed: str = "latest"
    timezone: str = "UTC"
    _zone: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from croniter import croniter

        where = f"pipeline `{self.name}`, schedule"
        if not isinstance(self.cron, str) or not croniter.is_valid(self.cron):
            raise ValidationError(
                f"{where}.cron: expected a cron expression such as '0 3 * * *' (minute hour "
                f"day-of-month month day-of-week), got {self.cron!r}; fix the expression")
        if self.missed not in MISSED_POLICIES:
            raise ValidationError(
                f"{where}.missed: expected one of {', '.join(MISSED_POLICIES)}, got "
                f"{self.missed!r}")
        object.__setattr__(self, "_zone", _zone(self.timezone, where))


@dataclass(frozen=True)
class Plan:
    """What to do for one schedule now.

    ``fire``: the cron times to run, oldest first. ``skip_through``: the newest missed
    time that is *not* run, when nothing newer is (record it so later ticks start after
    it); ``dropped``: how many missed times are not run (a lower bound when ``capped``:
    only the newest ``cap + 1`` missed times are looked at).
    """

    fire: tuple[float, ...] = ()
    skip_through: float | None = None
    dropped: int = 0
    capped: bool = False

    @property
    def note(self) -> str | None:
        if not self.dropped:
            return None
        if self.capped:
            return (f"{self.dropped}+ missed firing(s) not run (at most {MAX_CATCH_UP} are "
                    "caught up)")
        return f"{self.dropped} missed firing(s) not run"


def parse_schedule(pipeline: str, value: Any) -> Schedule | None:
    """The schedule of a spec's ``schedule`` field: a cron string, or a mapping with
    ``cron`` and optionally ``missed`` and ``timezone``; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return Schedule(pipeline, value)
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"pipeline `{pipeline}`, schedule: expected a cron string or a mapping with "
            f"cron, missed and timezone, got {type(value).__name__}")
    unknown = sorted(set(value) - {"cron", "missed", "timezone"})
    if unknown:
        raise ValidationError(
            f"pipeline `{pipeline}`, schedule: unknown field(s) {', '.join(unknown)}; "
            "expected cron, missed (skip|latest|all) and timezone")
    if "cron" not in value:
        raise ValidationError(f"pipeline `{pipeline}`, schedule.cron: missing; add e.g. "
                              "cron: '0 3 * * *'")
    return Schedule(pipeline, value["cron"], missed=value.get("missed", "latest"),
                    timezone=value.get("timezone", "UTC"))


def plan(schedule: Schedule, last_fire_at: float | None, now: float, started_at: float,
         *, grace: float = DEFAULT_GRACE_S, cap: int = MAX_CATCH_UP) -> Plan:
    """The firings of ``schedule`` in ``(last_fire_at, now]`` (or ``[started_at, now]``
    when it never fired) that its missed-run policy runs now."""
    after = last_fire_at if last_fire_at is not None else started_at - 1e-6
    want = cap if schedule.missed == "all" else 1
    newest = _times_before(schedule, now, after, limit=cap + 1)  # newest first
    if not newest:
        return Plan()
    more = len(newest) > cap
    if schedule.missed == "skip":
        if now - newest[0] <= grace:
            return Plan(fire=(newest[0],), dropped=len(newest) - 1, capped=more)
        return Plan(skip_through=newest[0], dropped=len(newest), capped=more)
    run = newest[:want]
    return Plan(fire=tuple(reversed(run)), dropped=len(newest) - len(run), capped=more)


def due(schedule: Schedule, last_fire_at: float | None, now: float, started_at: float,
        *, grace: float = DEFAULT_GRACE_S) -> list[float]:
    """The cron times of ``schedule`` that should fire now, oldest first."""
    return list(plan(schedule, last_fire_at, now, started_at, grace=grace).fire)


def iso(epoch: float) -> str:
    """``2026-11-24T03:00:00Z``: how a firing is named in a run's trigger."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _times_before(schedule: Schedule, now: float, after: float, *, limit: int) -> list[float]:
    """Up to ``limit`` cron times in ``(after, now]``, newest first."""
    from croniter import croniter

    # Start just past `now` so a firing exactly at `now` is included.
    start = dt.datetime.fromtimestamp(now + 0.0005, schedule._zone)
    times = croniter(schedule.cron, start)
    found: list[float] = []
    while len(found) < limit:
        at = times.get_prev(dt.datetime).timestamp()
        if at <= after:
            break
        found.append(at)
    return found


def _zone(name: Any, where: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(f"{where}.timezone: expected an IANA time zone such as UTC or "
                              f"Europe/Paris, got {name!r}") from exc

"""Backfill: a pipeline run once per historical partition (an hour, day, week or month),
with the partition's bounds as parameters, so its steps read and write that slice only.

Each run gets ``${params.partition}`` (the partition's label, e.g. ``2026-11-01``),
``${params.partition_start}`` and ``${params.partition_end}`` (ISO 8601, the end
excluded). Because the steps are cached by their parameters and inputs, and a dataset
version with identical content is not stored twice, running the same backfill again
changes nothing: every step says ``cached``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gapless.core.errors import ValidationError

EVERY = ("hourly", "daily", "weekly", "monthly")
LIMIT = 1000  # partitions in one backfill


def parse_day(text: str, option: str) -> datetime:
    try:
        found = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationError(f"{option} {text!r}: expected a date or time in ISO 8601, "
                              "such as 2026-11-01") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def partitions(start: datetime, end: datetime, every: str) -> list[tuple[str, datetime,
                                                                         datetime]]:
    """``(label, start, end)`` of each partition from ``start`` (aligned down to its
    partition) up to ``end`` (excluded). Pure."""
    if every not in EVERY:
        raise ValidationError(f"partition {every!r}: expected one of {', '.join(EVERY)}")
    if end <= start:
        raise ValidationError(f"the backfill ends ({end.isoformat()}) before it starts "
                              f"({start.isoformat()})")
    at = _floor(start, every)
    out = []
    while at < end:
        following = _next(at, every)
        label = at.strftime("%Y-%m-%dT%H" if every == "hourly" else
                            "%Y-%m" if every == "monthly" else "%Y-%m-%d")
        out.append((label, at, following))
        if len(out) > LIMIT:
            raise ValidationError(f"more than {LIMIT} {every} partitions from "
                                  f"{start.date()} to {end.date()}; backfill in parts")
        at = following
    return out


def partition_params(label: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"partition": label, "partition_start": start.isoformat(),
            "partition_end": end.isoformat()}


def _floor(at: datetime, every: str) -> datetime:
    at = at.astimezone(UTC)
    if every == "hourly":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if every == "weekly":
        return day - timedelta(days=day.weekday())
    if every == "monthly":
        return day.replace(day=1)
    return day


def _next(at: datetime, every: str) -> datetime:
    if every == "hourly":
        return at + timedelta(hours=1)
    if every == "daily":
        return at + timedelta(days=1)
    if every == "weekly":
        return at + timedelta(weeks=1)
    return (at.replace(day=28) + timedelta(days=4)).replace(day=1)

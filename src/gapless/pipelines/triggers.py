"""Triggers that start a pipeline: alert-rule firings and new dataset versions.

Alert triggers are rows of ``alert_events`` with this pipeline's name; they live in
:mod:`gapless.monitoring.triggers` and are consumed exactly once there.

A new-data trigger fires when a version of a dataset has at least ``min_rows`` rows more
than the version the pipeline was last triggered on (or, with ``model``, than the
version that model was trained on, whichever is newer). Each version fires at most
once: the firing is claimed in ``schedule_firings`` under :func:`data_key` with the
version number as its time. A trigger that never fired and has no model to compare
with takes the newest version as its baseline without firing, as a schedule never
backfills history. :func:`decide_new_data` is the pure decision; :func:`observe_new_data`
reads what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import NotFoundError, ValidationError
from gapless.core.refs import parse_ref
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import schedule_firings


@dataclass(frozen=True)
class NewData:
    """Run when dataset ``dataset`` gains ``min_rows`` rows (compared with ``model``'s
    training data when given, e.g. ``churn@champion``)."""

    dataset: str
    min_rows: int = 1
    model: str | None = None


@dataclass(frozen=True)
class Triggers:
    """A spec's ``triggers``: consume alert triggers, and/or watch datasets."""

    alerts: bool = False
    new_data: tuple[NewData, ...] = ()


@dataclass(frozen=True)
class DataObservation:
    """What the new-data decision needs: ``versions`` as (version, row_count), oldest
    first; the version last triggered on; the version the model was trained on."""

    versions: tuple[tuple[int, int], ...]
    last_triggered: int | None = None
    trained_on: int | None = None


@dataclass(frozen=True)
class DataDecision:
    """``fire`` (run on ``version``), ``baseline`` (record ``version`` without running)
    or ``wait``; ``reason`` says why, for people."""

    action: str
    version: int | None
    reason: str


def parse_triggers(pipeline: str, value: Any) -> Triggers:
    """The triggers of a spec's ``triggers`` field (absent: none)."""
    if value is None:
        return Triggers()
    where = f"pipeline `{pipeline}`, triggers"
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}: expected a mapping with alerts and/or new_data, got "
                              f"{type(value).__name__}")
    unknown = sorted(set(value) - {"alerts", "new_data"})
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}; expected "
                              "alerts (true|false) and new_data")
    alerts = value.get("alerts", False)
    if not isinstance(alerts, bool):
        raise ValidationError(f"{where}.alerts: expected true or false, got {alerts!r}")
    raw = value.get("new_data") or []
    rules = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(rules, list):
        raise ValidationError(f"{where}.new_data: expected a mapping (dataset, min_rows, "
                              f"model) or a list of them, got {type(raw).__name__}")
    parsed = tuple(_new_data(f"{where}.new_data", rule) for rule in rules)
    datasets = [rule.dataset for rule in parsed]
    if len(set(datasets)) != len(datasets):
        raise ValidationError(f"{where}.new_data: each dataset may be watched once, got "
                              f"{', '.join(datasets)}")
    return Triggers(alerts=alerts, new_data=parsed)


def data_key(pipeline: str, dataset: str) -> str:
    """The ``schedule_firings.schedule`` of pipeline's new-data trigger on ``dataset``."""
    return f"{pipeline}:data:{dataset}"


def decide_new_data(rule: NewData, seen: DataObservation) -> DataDecision:
    """Whether ``rule`` fires now, and on which version (the newest one that qualifies)."""
    if not seen.versions:
        return DataDecision("wait", None, f"dataset `{rule.dataset}` has no versions yet")
    rows = dict(seen.versions)
    known = [v for v in (seen.last_triggered, seen.trained_on) if v is not None]
    if not known:
        newest = seen.versions[-1][0]
        return DataDecision("baseline", newest, f"first look at `{rule.dataset}`: "
                            f"{rule.dataset}@{newest} is the baseline")
    base = max(known)
    base_rows = rows.get(base, 0)
    for version, count in reversed(seen.versions):
        if version <= base:
            break
        if count - base_rows >= rule.min_rows:
            return DataDecision("fire", version, f"{rule.dataset}@{version} has "
                                f"{count - base_rows:,} rows more than {rule.dataset}@{base} "
                                f"(min_rows {rule.min_rows:,})")
    return DataDecision("wait", None, f"no version of `{rule.dataset}` has {rule.min_rows:,} "
                        f"rows more than {rule.dataset}@{base}")


def observe_new_data(store: MetadataStore, pipeline: str, rule: NewData) -> DataObservation:
    """Read the dataset's versions, the last version this trigger claimed and the
    version ``rule.model`` was trained on."""
    from gapless.data.repository import DataRepository

    versions = tuple((v.version, v.row_count) for v in DataRepository(store).versions(
        rule.dataset))
    f = schedule_firings
    with store.read() as conn:
        last = conn.execute(sa.select(sa.func.max(f.c.fire_at)).where(
            f.c.schedule == data_key(pipeline, rule.dataset))).scalar()
    return DataObservation(versions, None if last is None else int(last),
                           _trained_on(store, pipeline, rule))


def check_new_data(store: MetadataStore, pipeline: str, rule: NewData) -> DataDecision:
    """:func:`decide_new_data` on what the store holds now."""
    return decide_new_data(rule, observe_new_data(store, pipeline, rule))


def _trained_on(store: MetadataStore, pipeline: str, rule: NewData) -> int | None:
    if rule.model is None:
        return None
    from gapless.registry.repository import RegistryRepository

    try:
        model = RegistryRepository(store).find(parse_ref(rule.model, what="model reference"))
    except NotFoundError:
        return None  # no champion yet: compare with the last triggered version only
    trained = model.lineage.get("dataset")
    if not isinstance(trained, str) or "@" not in trained:
        return None
    ref = parse_ref(trained, what="dataset reference")
    if ref.name != rule.dataset or ref.version is None:
        raise ValidationError(
            f"pipeline `{pipeline}`, triggers.new_data: model {model.ref} was trained on "
            f"{trained}, not on dataset `{rule.dataset}`; watch `{ref.name}` or drop model")
    return ref.version


def _new_data(where: str, rule: Any) -> NewData:
    if not isinstance(rule, Mapping) or not isinstance(rule.get("dataset"), str):
        raise ValidationError(f"{where}: expected a mapping with dataset (a name), got "
                              f"{rule!r}")
    unknown = sorted(set(rule) - {"dataset", "min_rows", "model"})
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)}; expected "
                              "dataset, min_rows and model")
    min_rows = rule.get("min_rows", 1)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValidationError(f"{where}.min_rows: expected a whole number >= 1, got "
                              f"{min_rows!r}")
    model = rule.get("model")
    if model is not None and not isinstance(model, str):
        raise ValidationError(f"{where}.model: expected NAME@ALIAS or NAME@VERSION, got "
                              f"{model!r}")
    return NewData(rule["dataset"], min_rows, model)

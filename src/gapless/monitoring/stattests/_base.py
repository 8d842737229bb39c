"""The stattest protocol, the registry of tests by name, and running one test to a verdict."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from gapless.core.errors import ValidationError
from gapless.monitoring.stattests._columns import CategoricalColumn, NumericColumn

Column = NumericColumn | CategoricalColumn
Kind = Literal["p_value", "distance"]
ColumnKind = Literal["numeric", "categorical"]
Compute = Callable[[Column, Column], "tuple[float, float | None]"]


@dataclass(frozen=True)
class StatTest:
    """One test: ``compute(reference, current)`` returns ``(statistic, p-value or None)``.

    ``kind`` says how a verdict is read: ``"p_value"`` drifts when p < threshold,
    ``"distance"`` when the statistic >= threshold. ``applies_to`` names the column kinds
    (``"numeric"``, ``"categorical"``) the test accepts.
    """

    name: str
    kind: Kind
    applies_to: frozenset[str]
    default_threshold: float
    compute: Compute

    def __post_init__(self) -> None:
        if self.kind not in ("p_value", "distance"):
            raise ValidationError(f"stattest {self.name!r}: kind must be 'p_value' or "
                                  f"'distance', got {self.kind!r}")
        if not self.applies_to or not self.applies_to <= {"numeric", "categorical"}:
            raise ValidationError(f"stattest {self.name!r}: applies_to must name 'numeric' "
                                  f"and/or 'categorical', got {sorted(self.applies_to)}")
        _check_threshold(self.name, self.kind, self.default_threshold)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test on one column: the statistic, its p-value (None for a
    distance), the threshold it was read against and whether that means drift."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite its name

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    kind: Kind


_REGISTRY: dict[str, StatTest] = {}  # the registration table: name -> test


def register(test: StatTest, *, replace: bool = False) -> StatTest:
    """Make ``test`` available by its name; a taken name needs ``replace=True``."""
    if not isinstance(test, StatTest):
        raise ValidationError(f"register: expected a StatTest, got {type(test).__name__}")
    if test.name in _REGISTRY and not replace and _REGISTRY[test.name] is not test:
        raise ValidationError(f"stattest {test.name!r} is already registered; choose "
                              "another name or pass replace=True")
    _REGISTRY[test.name] = test
    return test


def get(name: str) -> StatTest:
    """The registered test called ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValidationError(f"unknown stattest {name!r}; expected one of "
                              f"{names()}") from None


def names() -> list[str]:
    """The registered tests' names, sorted."""
    return sorted(_REGISTRY)


def column_kind(column: object) -> ColumnKind:
    """``"numeric"`` or ``"categorical"`` for a prepared column."""
    if isinstance(column, NumericColumn):
        return "numeric"
    if isinstance(column, CategoricalColumn):
        return "categorical"
    raise ValidationError(f"expected a NumericColumn or CategoricalColumn, got "
                          f"{type(column).__name__}; build one with prepare_numeric(values) "
                          "or prepare_categorical(values)")


def run(test_name: str, reference: Column, current: Column,
        threshold: float | None = None) -> TestResult:
    """Run the test ``test_name`` on two prepared columns and read the verdict at
    ``threshold`` (the test's default when None).

    Raises :class:`ValidationError` for an unknown test, columns of different kinds, a
    kind the test does not apply to, an empty side, or a threshold out of range. The
    statistic (and p-value) returned are always finite.
    """
    test = get(test_name)
    kind = column_kind(reference)
    if column_kind(current) != kind:
        raise ValidationError(f"stattest {test.name!r}: the reference is {kind} but the "
                              f"current column is {column_kind(current)}; compare like with "
                              "like")
    if kind not in test.applies_to:
        fitting = [n for n in names() if kind in _REGISTRY[n].applies_to]
        raise ValidationError(f"stattest {test.name!r} does not apply to {kind} columns; "
                              f"use one of {fitting}")
    try:
        limit = test.default_threshold if threshold is None else float(threshold)
    except (TypeError, ValueError):
        raise ValidationError(f"stattest {test.name!r}: threshold must be a number, got "
                              f"{threshold!r}") from None
    _check_threshold(test.name, test.kind, limit)
    statistic, p_value = test.compute(reference, current)
    statistic = float(statistic)
    p_value = None if p_value is None else float(p_value)
    if not math.isfinite(statistic) or (p_value is not None and not math.isfinite(p_value)):
        raise ValidationError(f"stattest {test.name!r} gave a non-finite result "
                              f"(statistic {statistic}, p-value {p_value}) on "
                              f"{size(reference)} reference and {size(current)} current "
                              "values; this is a bug in the test, report it")
    if test.kind == "p_value":
        if p_value is None:
            raise ValidationError(f"stattest {test.name!r} is a p-value test but gave no "
                                  "p-value; this is a bug in the test, report it")
        drifted = p_value < limit
    else:
        drifted = statistic >= limit
    return TestResult(test.name, statistic, p_value, limit, bool(drifted), test.kind)


def size(column: Column) -> int:
    """How many non-missing values a prepared column holds."""
    if isinstance(column, CategoricalColumn):
        return column.total
    return int(column.values.size)


def require_values(test: str, reference: Column, current: Column) -> None:
    """Refuse an empty side with a message that says which one and why."""
    for side, column in (("reference", reference), ("current", current)):
        if size(column) == 0:
            raise ValidationError(f"stattest {test!r}: the {side} column has no values "
                                  f"({column.missing} missing); each side needs at least one "
                                  "non-missing value")


def _check_threshold(name: str, kind: str, threshold: float) -> None:
    if kind == "p_value" and not 0 < threshold < 1:
        raise ValidationError(f"stattest {name!r}: a p-value threshold must lie in (0, 1), "
                              f"got {threshold}; 0.05 is usual")
    if kind == "distance" and not (math.isfinite(threshold) and threshold >= 0):
        raise ValidationError(f"stattest {name!r}: a distance threshold must be finite and "
                              f">= 0, got {threshold}")

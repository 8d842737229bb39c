"""Search spaces for hyperparameter searches, shared by every trainer (tabular models and
recommenders): four frozen parameter kinds, each with ``sample(trial, name)`` (Optuna's
``suggest_*``), and the one format a spec writes them in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import ValidationError


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def sample(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    def sample(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))


@dataclass(frozen=True)
class Fixed:
    value: Any

    def sample(self, trial: Any, name: str) -> Any:
        return self.value


Param = FloatRange | IntRange | Choice | Fixed


def parse_param(where: str, value: Any, default: Param | None, *,
                error: type[Exception] = ValidationError) -> Param:
    """One candidate parameter as a space: a plain value is fixed, ``{low, high[, log][,
    type: int|float]}`` a range, ``{choices: [...]}`` a choice; ``default`` (the family's
    own entry) decides int or float when the spec does not say. Faults raise ``error``
    naming ``where`` (pydantic validators need ValueError)."""
    if not isinstance(value, Mapping):
        return Fixed(value)
    keys = set(value)
    if "choices" in keys:
        choices = value["choices"]
        if keys != {"choices"} or not isinstance(choices, list | tuple) or not choices:
            raise error(f"{where}: choices must be a non-empty list and alone, "
                                  f"got {dict(value)!r}")
        bad = [c for c in choices if c is not None and not isinstance(c, bool | int | float | str)]
        if bad:
            raise error(f"{where}: choices must be numbers, strings, booleans or "
                                  f"null, got {bad!r}")
        return Choice(tuple(choices))
    if not {"low", "high"} <= keys or not keys <= {"low", "high", "log", "type"}:
        raise error(f"{where}: expected a value, {{low, high[, log][, type]}} or "
                              f"{{choices: [...]}}, got keys {sorted(keys)}")
    low, high, log = value["low"], value["high"], bool(value.get("log", False))
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (low, high)):
        raise error(f"{where}: low and high must be numbers, got {low!r}, {high!r}")
    kind = value.get("type") or ("int" if isinstance(default, IntRange) else "float"
                                 if isinstance(default, FloatRange) else
                                 "int" if isinstance(low, int) and isinstance(high, int)
                                 else "float")
    if kind not in ("int", "float"):
        raise error(f"{where}: type must be int or float, got {kind!r}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise error(f"{where}: an int range needs whole bounds, got {low}..{high}")
    if low >= high:
        raise error(f"{where}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise error(f"{where}: a log range needs low > 0, got {low}")
    if kind == "int":
        return IntRange(int(low), int(high), log=log)
    return FloatRange(float(low), float(high), log=log)


def tpe_study(seed: int) -> Any:
    """A maximizing Optuna study with seeded, grouped multivariate TPE: the sampler that
    handles per-family (conditional) spaces, for every trainer's search."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                             n_startup_trials=8)
    return optuna.create_study(direction="maximize", sampler=sampler)

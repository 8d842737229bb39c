"""The cleaning spec: what to do to a table, written down so it can be stored and replayed.

A spec is plain data (frozen dataclasses, a YAML or dict form, no pandas), so the CLI can
parse and check it without loading the data, and a dataset version can record it verbatim::

    duplicates: {drop: true, subset: null, keep: first}
    missing:
      Income: {strategy: median}
      Home: {strategy: mode, flag: true}     # also adds a boolean column Home_missing
      Debt: {strategy: ffill, by: [customer_id]}
      Assets: {strategy: knn, n_neighbors: 5, features: [Income, Debt, Age]}
    outliers:
      Price: {method: iqr, factor: 1.5, action: clip}
    time_column: date                        # required by ffill/bfill
    seed: 0

Every mistake (an unknown key, strategy, method or action, a value of the wrong type, a
constant without ``value``) is a :class:`~gapless.core.errors.ValidationError` that names
the column and the bad value and lists what is valid. Columns are checked against the
data later, when :class:`~gapless.data.cleaning.DataCleaner` is fitted.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapless.core.errors import NotFoundError, ValidationError

MISSING_STRATEGIES = ("bfill", "constant", "drop_rows", "ffill", "flag", "iterative", "knn",
                      "mean", "median", "mode")
OUTLIER_METHODS = ("iqr", "isolation_forest", "zscore")
OUTLIER_ACTIONS = ("clip", "drop", "flag")
KEEP_CHOICES = ("first", "last")

# Keys each strategy or method accepts besides its selector; anything else is a mistake.
_MISSING_KEYS: dict[str, tuple[str, ...]] = {
    "drop_rows": (),
    "flag": ("flag",),
    "mean": ("flag",),
    "median": ("flag",),
    "mode": ("flag",),
    "constant": ("flag", "value"),
    "ffill": ("flag", "by"),
    "bfill": ("flag", "by"),
    "knn": ("flag", "n_neighbors", "features"),
    "iterative": ("flag", "max_iter", "features"),
}
_OUTLIER_KEYS: dict[str, tuple[str, ...]] = {
    "iqr": ("action", "factor"),
    "zscore": ("action", "threshold"),
    "isolation_forest": ("action", "contamination", "n_estimators"),
}
_TOP_KEYS = ("duplicates", "missing", "outliers", "time_column", "seed")
_DUPLICATE_KEYS = ("drop", "subset", "keep")


@dataclass(frozen=True)
class DuplicatesSpec:
    """Drop rows equal to an earlier (``keep="first"``) or later row, on all or some columns."""

    drop: bool = False
    subset: tuple[str, ...] | None = None
    keep: str = "first"


@dataclass(frozen=True)
class MissingRule:
    """How to treat missing values of one column; fields not used by ``strategy`` stay default.

    ``flag`` adds a boolean ``<column>_missing`` next to the column, so a model can still see
    that a value was imputed. ``features`` (knn, iterative) are the numeric columns the model
    reads; ``None`` means every numeric column except the time column and identifiers,
    which includes a numeric target: list ``features`` to keep the label out of the inputs.
    """

    strategy: str
    flag: bool = False
    value: Any = None
    by: tuple[str, ...] = ()
    n_neighbors: int = 5
    max_iter: int = 10
    features: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OutlierRule:
    """How to find and treat outliers of one numeric column.

    All columns whose method is ``isolation_forest`` are scored together by one forest, so
    they must agree on ``contamination`` and ``n_estimators``.
    """

    method: str
    action: str = "clip"
    factor: float = 1.5
    threshold: float = 3.0
    contamination: float | str = "auto"
    n_estimators: int = 100


@dataclass(frozen=True)
class CleaningSpec:
    """A whole cleaning recipe. Steps always run in the order duplicates, missing, outliers.

    Why that order: duplicates go first so repeated rows do not weigh twice in the medians,
    modes and bounds learned later; missing values are handled before outliers because the
    detectors need complete values (an isolation forest cannot score a row with a gap) and
    because imputed values should themselves respect the outlier bounds. The price is that
    ``mean`` imputation sees the outliers; prefer ``median`` when the column has a long tail.
    """

    duplicates: DuplicatesSpec = field(default_factory=DuplicatesSpec)
    missing: Mapping[str, MissingRule] = field(default_factory=dict)
    outliers: Mapping[str, OutlierRule] = field(default_factory=dict)
    time_column: str | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CleaningSpec:
        """Parse and check the dict (or parsed YAML) form; raise ValidationError on a mistake."""
        _require_mapping(data, "cleaning spec")
        _check_keys(data, _TOP_KEYS, "cleaning spec")
        time_column = data.get("time_column")
        if time_column is not None and not isinstance(time_column, str):
            raise ValidationError(f"cleaning spec: time_column must be a column name, "
                                  f"got {time_column!r}")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValidationError(f"cleaning spec: seed must be an integer, got {seed!r}")
        missing = {str(col): _parse_missing(str(col), rule)
                   for col, rule in _section(data, "missing").items()}
        outliers = {str(col): _parse_outlier(str(col), rule)
                    for col, rule in _section(data, "outliers").items()}
        spec = cls(duplicates=_parse_duplicates(data.get("duplicates")), missing=missing,
                   outliers=outliers, time_column=time_column, seed=seed)
        spec._check_consistency()
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The JSON/YAML-safe form; ``from_dict(spec.to_dict()) == spec``."""
        dup = self.duplicates
        return {
            "duplicates": {"drop": dup.drop,
                           "subset": list(dup.subset) if dup.subset is not None else None,
                           "keep": dup.keep},
            "missing": {col: _missing_to_dict(rule) for col, rule in self.missing.items()},
            "outliers": {col: _outlier_to_dict(rule) for col, rule in self.outliers.items()},
            "time_column": self.time_column,
            "seed": self.seed,
        }

    def columns(self) -> set[str]:
        """Every column the spec names, so a caller can check them against the data."""
        names = set(self.missing) | set(self.outliers) | set(self.duplicates.subset or ())
        for rule in self.missing.values():
            names.update(rule.by)
            names.update(rule.features or ())
        if self.time_column is not None:
            names.add(self.time_column)
        return names

    def _check_consistency(self) -> None:
        fills = [c for c, r in self.missing.items() if r.strategy in ("ffill", "bfill")]
        if fills and self.time_column is None:
            raise ValidationError(
                f"cleaning spec, missing.{fills[0]}: strategy "
                f"{self.missing[fills[0]].strategy!r} fills along time but time_column is not "
                f"set; add `time_column: <column>` to the spec")
        forest = {c: r for c, r in self.outliers.items() if r.method == "isolation_forest"}
        params = {(r.contamination, r.n_estimators) for r in forest.values()}
        if len(params) > 1:
            raise ValidationError(
                f"cleaning spec, outliers: columns {sorted(forest)} share one isolation forest "
                f"but disagree on contamination/n_estimators {sorted(map(str, params))}; "
                f"give them the same values")


def load_cleaning_spec(source: CleaningSpec | Mapping[str, Any] | str | os.PathLike[str]
                       ) -> CleaningSpec:
    """A CleaningSpec from a spec, a dict, or the path of a YAML file."""
    if isinstance(source, CleaningSpec):
        return source
    if isinstance(source, Mapping):
        return CleaningSpec.from_dict(source)
    if not isinstance(source, str | os.PathLike):
        raise ValidationError(f"cleaning spec: expected a CleaningSpec, a dict or a YAML path, "
                              f"got {type(source).__name__}")
    import yaml

    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"cleaning spec {str(path)!r} does not exist; "
                            f"check the path") from exc
    except OSError as exc:
        raise ValidationError(f"cleaning spec {str(path)!r} cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"cleaning spec {str(path)!r} is not valid YAML: {exc}") from exc
    return CleaningSpec.from_dict(data if data is not None else {})


# -- parsing helpers -----------------------------------------------------------------------
def _require_mapping(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}: expected a mapping of keys to values, "
                              f"got {type(value).__name__} {value!r}")


def _section(data: Mapping[str, Any], name: str) -> Mapping[Any, Any]:
    section = data.get(name) or {}
    _require_mapping(section, f"cleaning spec, {name}")
    return section


def _unknown(where: str, what: str, value: Any, valid: tuple[str, ...]) -> ValidationError:
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValidationError(f"{where}: unknown {what} {value!r}{hint}; "
                           f"expected one of: {', '.join(valid)}")


def _check_keys(data: Mapping[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in valid:
            raise _unknown(where, "key", key, valid)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValidationError(f"{where}: expected a column name or a list of names, got {value!r}")


def _number(value: Any, where: str, *, low: float, integer: bool = False,
            high: float | None = None) -> Any:
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and value > low
    if not ok or (high is not None and value > high):
        bound = f"> {low}" + (f" and <= {high}" if high is not None else "")
        expected = "an integer" if integer else "a number"
        raise ValidationError(f"{where}: expected {expected} {bound}, got {value!r}")
    return value


def _parse_duplicates(data: Any) -> DuplicatesSpec:
    if data is None:
        return DuplicatesSpec()
    if isinstance(data, bool):
        return DuplicatesSpec(drop=data)
    where = "cleaning spec, duplicates"
    _require_mapping(data, where)
    _check_keys(data, _DUPLICATE_KEYS, where)
    drop = data.get("drop", True)
    if not isinstance(drop, bool):
        raise ValidationError(f"{where}.drop: expected true or false, got {drop!r}")
    subset = data.get("subset")
    subset = None if subset is None else _names(subset, f"{where}.subset")
    keep = data.get("keep", "first")
    if keep not in KEEP_CHOICES:
        raise _unknown(f"{where}.keep", "choice", keep, KEEP_CHOICES)
    return DuplicatesSpec(drop=drop, subset=subset, keep=keep)


def _parse_missing(column: str, rule: Any) -> MissingRule:
    where = f"cleaning spec, missing.{column}"
    if isinstance(rule, str):
        rule = {"strategy": rule}
    _require_mapping(rule, where)
    strategy = rule.get("strategy")
    if strategy is None:
        raise ValidationError(f"{where}: `strategy` is required; "
                              f"expected one of: {', '.join(MISSING_STRATEGIES)}")
    if strategy not in MISSING_STRATEGIES:
        raise _unknown(where, "strategy", strategy, MISSING_STRATEGIES)
    if strategy == "drop_rows" and "flag" in rule:
        raise ValidationError(f"{where}: `flag` cannot be combined with strategy 'drop_rows' "
                              f"(the rows are removed); use strategy 'flag' to keep and mark them")
    _check_keys(rule, ("strategy", *_MISSING_KEYS[strategy]), f"{where} (strategy {strategy})")
    kwargs: dict[str, Any] = {"strategy": strategy}
    if "flag" in rule:
        if not isinstance(rule["flag"], bool):
            raise ValidationError(f"{where}.flag: expected true or false, got {rule['flag']!r}")
        kwargs["flag"] = rule["flag"]
    if strategy == "flag":
        kwargs["flag"] = True
    if strategy == "constant":
        value = rule.get("value")
        if not isinstance(value, str | int | float | bool):
            raise ValidationError(f"{where}: strategy 'constant' needs `value:` set to a "
                                  f"number, string or boolean, got {value!r}")
        kwargs["value"] = value
    if "by" in rule and rule["by"] is not None:
        kwargs["by"] = _names(rule["by"], f"{where}.by")
    if "n_neighbors" in rule:
        kwargs["n_neighbors"] = _number(rule["n_neighbors"], f"{where}.n_neighbors",
                                        low=0, integer=True)
    if "max_iter" in rule:
        kwargs["max_iter"] = _number(rule["max_iter"], f"{where}.max_iter", low=0, integer=True)
    if rule.get("features") is not None:
        kwargs["features"] = _names(rule["features"], f"{where}.features")
    return MissingRule(**kwargs)


def _parse_outlier(column: str, rule: Any) -> OutlierRule:
    where = f"cleaning spec, outliers.{column}"
    if isinstance(rule, str):
        rule = {"method": rule}
    _require_mapping(rule, where)
    method = rule.get("method")
    if method is None:
        raise ValidationError(f"{where}: `method` is required; "
                              f"expected one of: {', '.join(OUTLIER_METHODS)}")
    if method not in OUTLIER_METHODS:
        raise _unknown(where, "method", method, OUTLIER_METHODS)
    _check_keys(rule, ("method", *_OUTLIER_KEYS[method]), f"{where} (method {method})")
    kwargs: dict[str, Any] = {"method": method}
    action = rule.get("action", "clip")
    if action not in OUTLIER_ACTIONS:
        raise _unknown(f"{where}.action", "action", action, OUTLIER_ACTIONS)
    kwargs["action"] = action
    if "factor" in rule:
        kwargs["factor"] = float(_number(rule["factor"], f"{where}.factor", low=0))
    if "threshold" in rule:
        kwargs["threshold"] = float(_number(rule["threshold"], f"{where}.threshold", low=0))
    if "contamination" in rule and rule["contamination"] != "auto":
        kwargs["contamination"] = float(_number(rule["contamination"],
                                                f"{where}.contamination", low=0, high=0.5))
    if "n_estimators" in rule:
        kwargs["n_estimators"] = _number(rule["n_estimators"], f"{where}.n_estimators",
                                         low=0, integer=True)
    return OutlierRule(**kwargs)


def _missing_to_dict(rule: MissingRule) -> dict[str, Any]:
    out: dict[str, Any] = {"strategy": rule.strategy}
    for key in _MISSING_KEYS[rule.strategy]:
        value = getattr(rule, key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _outlier_to_dict(rule: OutlierRule) -> dict[str, Any]:
    out: dict[str, Any] = {"method": rule.method}
    for key in _OUTLIER_KEYS[rule.method]:
        out[key] = getattr(rule, key)
    return out


__all__ = [
    "MISSING_STRATEGIES",
    "OUTLIER_ACTIONS",
    "OUTLIER_METHODS",
    "CleaningSpec",
    "DuplicatesSpec",
    "MissingRule",
    "OutlierRule",
    "load_cleaning_spec",
]

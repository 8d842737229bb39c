"""Behavioural tests of a trained model, as declared in the task spec.

* ``invariance``: setting ``column`` to each of ``values`` in up to ``rows`` sampled rows
  must not move the score by more than ``tolerance``.
* ``directional``: adding ``delta`` to the numeric ``column`` must move the score in
  ``direction`` or leave it within ``tolerance`` of where it was.
* ``minimum``: named cases (partial rows; other columns take a typical value, the median
  or the most frequent) must get their expected output (within ``tolerance`` for
  regression).

The score is the positive-class probability (binary), the prediction (regression) or the
predicted label (multiclass, clustering: there a "change" is a label flip, counted as 1).
Tests are given as the spec's pydantic models or as plain mappings with the same fields;
every test is checked against the data before any runs. Each result is ``{"name",
"type", "column", "passed", "failing", "total", "worst_change", "tolerance", "examples",
"message"}``; ``examples`` holds the worst few failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    as_frame,
    check_columns,
    check_problem,
    config_field,
    is_categorical,
    json_safe,
    label_text,
    model_scores,
    seeded_sample,
    set_column,
)

TYPES = ("invariance", "directional", "minimum")
LABEL_PROBLEMS = ("multiclass", "clustering")


@dataclass(frozen=True)
class _Test:
    type: str
    name: str
    column: str | None = None
    values: tuple[Any, ...] = ()
    tolerance: float = 0.0
    rows: int = 200
    delta: float = 0.0
    direction: str = "increase"
    cases: tuple[dict[str, Any], ...] = ()
    expected: tuple[Any, ...] = ()


def run_behavioural_tests(model: Any, X: pd.DataFrame, tests: Iterable[Any], problem: str, *,
                          seed: int = 0, positive_label: Any = None,
                          max_examples: int = 5) -> list[dict[str, Any]]:
    """Run each declared test on ``model`` over rows of ``X``; see the module docstring."""
    check_problem(problem)
    X = as_frame(X)
    checked = [_check(test, i, X, problem) for i, test in enumerate(tests)]
    runners = {"invariance": _invariance, "directional": _directional, "minimum": _minimum}
    results = []
    for test in checked:
        try:
            result = runners[test.type](model, X, test, problem, seed, positive_label,
                                        max_examples)
        except (ValueError, TypeError) as exc:  # the model refused the changed rows
            raise ValidationError(f"behavioural test `{test.name}` ({test.type}): the model "
                                  f"could not predict the changed rows: {exc}; check the "
                                  "test's values against the column's type") from exc
        results.append(json_safe(result))
    return results


def _check(test: Any, index: int, X: pd.DataFrame, problem: str) -> _Test:
    kind = config_field(test, "type")
    if kind not in TYPES:
        raise ValidationError(f"behavioural test #{index + 1}: type {kind!r} is not one of "
                              f"{', '.join(TYPES)}")
    column = config_field(test, "column")
    name = config_field(test, "name") or (f"{kind} {column}" if column else f"{kind} #{index + 1}")
    where = f"behavioural test `{name}` ({kind})"
    tolerance = float(config_field(test, "tolerance", 0.05 if kind == "invariance" else 0.0))
    if tolerance < 0:
        raise ValidationError(f"{where}: tolerance must be >= 0, got {tolerance}")
    if kind == "minimum":
        cases = [dict(case) for case in config_field(test, "rows") or []]
        expected = list(config_field(test, "expected") or [])
        if not cases or len(cases) != len(expected):
            raise ValidationError(f"{where}: needs one expected output per row; got "
                                  f"{len(cases)} rows and {len(expected)} expected values")
        check_columns(X, sorted({key for case in cases for key in case}), where)
        return _Test(kind, name, tolerance=tolerance, cases=tuple(cases),
                     expected=tuple(expected))
    if not column:
        raise ValidationError(f"{where}: `column` is required")
    check_columns(X, [column], where)
    rows = int(config_field(test, "rows", 200))
    if rows < 1:
        raise ValidationError(f"{where}: rows must be >= 1, got {rows}")
    if kind == "invariance":
        values = tuple(config_field(test, "values") or ())
        if not values:
            raise ValidationError(f"{where}: `values` lists no value to set `{column}` to")
        return _Test(kind, name, column, values=values, tolerance=tolerance, rows=rows)
    if problem in LABEL_PROBLEMS:
        raise ValidationError(f"{where}: a {problem} model has no score to move in a "
                              "direction; use an invariance or minimum test")
    if is_categorical(X[column]):
        raise ValidationError(f"{where}: column `{column}` is not numeric, so it cannot be "
                              "raised by a delta")
    direction = config_field(test, "direction")
    if direction not in ("increase", "decrease"):
        raise ValidationError(f"{where}: direction must be 'increase' or 'decrease', got "
                              f"{direction!r}")
    return _Test(kind, name, column, tolerance=tolerance, rows=rows,
                 delta=float(config_field(test, "delta")), direction=direction)


def _changes(before: np.ndarray, after: np.ndarray, problem: str) -> np.ndarray:
    """Signed change for scores; 1.0 where a label flipped, else 0.0, for labels."""
    if problem in LABEL_PROBLEMS:
        return (np.asarray(after, dtype=object) != np.asarray(before, dtype=object)).astype(float)
    return after - before


def _result(test: _Test, *, passed: bool, failing: int, total: int, worst: float | None,
            examples: list[dict[str, Any]], message: str) -> dict[str, Any]:
    return {"name": test.name, "type": test.type, "column": test.column, "passed": passed,
            "failing": failing, "total": total, "worst_change": worst,
            "tolerance": test.tolerance, "examples": examples, "message": message}


def _invariance(model: Any, X: pd.DataFrame, test: _Test, problem: str, seed: int,
                positive_label: Any, max_examples: int) -> dict[str, Any]:
    sample = seeded_sample(X, test.rows, seed)
    before = model_scores(model, sample, problem, positive_label)
    stacked = pd.concat([set_column(sample, test.column, value) for value in test.values],
                        ignore_index=True)
    after = model_scores(model, stacked, problem, positive_label).reshape(len(test.values),
                                                                      len(sample))
    moved = np.abs(_changes(np.tile(before, (len(test.values), 1)), after, problem))
    failed = moved > test.tolerance + 1e-12
    examples = []
    for flat in np.argsort(-moved, axis=None, kind="stable")[:max_examples]:
        which, row = np.unravel_index(flat, moved.shape)
        if not failed[which, row]:
            break
        examples.append({"row": sample.index[row], "before": sample[test.column].iloc[row],
                         "after": test.values[which], "score_before": before[row],
                         "score_after": after[which, row], "change": moved[which, row]})
    failing, worst = int(failed.sum()), float(moved.max())
    what = "flipped the predicted label" if problem in LABEL_PROBLEMS else (
        f"moved the score by more than {test.tolerance:g}")
    if failing:
        message = (f"`{test.name}`: {failing} of {failed.size} changes of `{test.column}` "
                   f"{what} (worst change {worst:.4g})")
    else:
        message = (f"`{test.name}`: setting `{test.column}` to {len(test.values)} value(s) on "
                   f"{len(sample)} rows changed the score by at most {worst:.4g}")
    return _result(test, passed=not failing, failing=failing, total=int(failed.size),
                   worst=worst, examples=examples, message=message)


def _directional(model: Any, X: pd.DataFrame, test: _Test, problem: str, seed: int,
                 positive_label: Any, max_examples: int) -> dict[str, Any]:
    sample = seeded_sample(X[X[test.column].notna()], test.rows, seed)
    if sample.empty:
        return _result(test, passed=True, failing=0, total=0, worst=None, examples=[],
                       message=f"`{test.name}`: `{test.column}` has no value in any row; "
                               "nothing to test")
    before = model_scores(model, sample, problem, positive_label)
    raised = set_column(sample, test.column, sample[test.column].astype(float) + test.delta)
    change = _changes(before, model_scores(model, raised, problem, positive_label), problem)
    against = -change if test.direction == "increase" else change
    failed = against > test.tolerance + 1e-12
    order = np.argsort(-against, kind="stable")
    examples = [{"row": sample.index[i], "before": sample[test.column].iloc[i],
                 "after": raised[test.column].iloc[i], "score_before": before[i],
                 "score_after": before[i] + change[i], "change": change[i]}
                for i in order[:max_examples] if failed[i]]
    failing = int(failed.sum())
    worst = float(change[order[0]])
    wrong = "down" if test.direction == "increase" else "up"
    if failing:
        message = (f"`{test.name}`: in {failing} of {len(sample)} rows, adding {test.delta:g} "
                   f"to `{test.column}` moved the score {wrong} by more than "
                   f"{test.tolerance:g} (worst change {worst:+.4g})")
    else:
        message = (f"`{test.name}`: adding {test.delta:g} to `{test.column}` never moved the "
                   f"score {wrong} by more than {test.tolerance:g} in {len(sample)} rows")
    return _result(test, passed=not failing, failing=failing, total=len(sample), worst=worst,
                   examples=examples, message=message)


def typical_row(X: pd.DataFrame) -> dict[str, Any]:
    """A representative row: each numeric column's median (whole for integer columns),
    each other column's most frequent value; missing where a column has no value."""
    row: dict[str, Any] = {}
    for column in X.columns:
        present = X[column].dropna()
        if present.empty:
            row[column] = None
        elif is_categorical(X[column]):
            row[column] = present.mode().iloc[0]
        elif pd.api.types.is_integer_dtype(X[column]):
            row[column] = int(round(float(present.median())))
        else:
            row[column] = float(present.median())
    return row


def _minimum(model: Any, X: pd.DataFrame, test: _Test, problem: str, seed: int,
             positive_label: Any, max_examples: int) -> dict[str, Any]:
    typical = typical_row(X)
    frame = pd.DataFrame([{**typical, **case} for case in test.cases], columns=X.columns)
    predicted = np.asarray(model.predict(frame))
    errors: list[float | None] = []
    failed = []
    for value, expected in zip(predicted.tolist(), test.expected, strict=True):
        if problem == "regression":
            error = abs(float(value) - float(expected))
            errors.append(error)
            failed.append(error > test.tolerance + 1e-12)
        else:
            errors.append(None)
            failed.append(not (value == expected or label_text(value) == label_text(expected)))
    examples = [{"case": i, "row": test.cases[i], "expected": test.expected[i],
                 "predicted": predicted[i], "error": errors[i]}
                for i in range(len(failed)) if failed[i]][:max_examples]
    failing = sum(failed)
    worst = max(errors) if problem == "regression" else None
    if failing:
        message = (f"`{test.name}`: {failing} of {len(failed)} cases did not get the expected "
                   "output" + (f" within {test.tolerance:g}" if problem == "regression" else ""))
    else:
        message = f"`{test.name}`: all {len(failed)} cases got the expected output"
    return _result(test, passed=not failing, failing=failing, total=len(failed), worst=worst,
                   examples=examples, message=message)

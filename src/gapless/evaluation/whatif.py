"""What-if: how one row's prediction moves as one feature takes other values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gapless.core.errors import ValidationError
from gapless.evaluation._common import (
    classes_of,
    has_proba,
    json_safe,
    label_text,
    positive_label_of,
)


def model_columns(model: Any, row: Mapping[str, Any]) -> list[str]:
    """The raw columns the model was fitted on (``feature_names_in_``), else the row's."""
    names = getattr(model, "feature_names_in_", None)
    return [str(name) for name in names] if names is not None else list(row)


def what_if(model: Any, row: Mapping[str, Any] | pd.Series, feature: str,
            values: Sequence[Any], *, positive_label: Any = None) -> list[dict[str, Any]]:
    """Predict ``row`` once per value of ``feature`` (all other columns as given).

    Each entry: ``{"value", "prediction", "probabilities" ({class: p}, classifiers with
    ``predict_proba``), "score", "change"}`` where ``score`` is the positive-class
    probability (binary) or the prediction (regression), and ``change`` is ``score``
    minus the score of the row as given; multiclass entries have neither.
    """
    record = dict(row.items()) if isinstance(row, pd.Series | Mapping) else None
    if record is None:
        raise ValidationError(f"what_if: row must be a mapping or a pandas Series, got "
                              f"{type(row).__name__}")
    columns = model_columns(model, record)
    if feature not in columns:
        raise ValidationError(f"what_if: feature `{feature}` is not a column of the model; "
                              f"the columns are: {', '.join(columns)}")
    missing = [column for column in columns if column not in record]
    if missing:
        raise ValidationError(f"what_if: the row lacks column(s) {', '.join(missing)}; give a "
                              "value (None for missing) for every column of the model")
    values = list(values)
    if not values:
        raise ValidationError(f"what_if: no values given for `{feature}`")
    base = pd.DataFrame([{column: record[column] for column in columns}])
    frame = pd.concat([base] * (len(values) + 1), ignore_index=True)
    frame[feature] = pd.Series([record[feature], *values], dtype=object).infer_objects()
    try:
        predictions = np.asarray(model.predict(frame))
        classes = classes_of(model)
        proba = np.asarray(model.predict_proba(frame)) if has_proba(model) else None
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"what_if: the model cannot predict with `{feature}` set to "
                              f"{values!r}: {exc}") from exc
    scores = _scores(predictions, proba, classes, positive_label)
    results = []
    for i, value in enumerate(values, start=1):
        entry: dict[str, Any] = {"value": value, "prediction": predictions[i]}
        if proba is not None:
            entry["probabilities"] = {label_text(label): proba[i, j]
                                      for j, label in enumerate(classes)}
        if scores is not None:
            entry["score"] = scores[i]
            entry["change"] = scores[i] - scores[0]
        results.append(entry)
    return json_safe(results)


def _scores(predictions: np.ndarray, proba: np.ndarray | None, classes: list[Any] | None,
            positive_label: Any) -> np.ndarray | None:
    if classes is None:
        return predictions.astype(float)
    if len(classes) != 2:
        return None
    positive = positive_label_of(classes, positive_label)
    if proba is not None:
        return proba[:, classes.index(positive)]
    return (predictions == positive).astype(float)

"""Running a converted model with onnxruntime on a DataFrame, and comparing it with the
original: largest difference, label agreement, size and latency."""

from __future__ import annotations

import json
import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
from gapless.registry.onnx.common import (
    _ONNX_ERRORS,
    META_CLASSES,
    META_KIND,
    META_MISSING,
    META_POS_LABEL,
    META_THRESHOLD,
    MISSING_BOOLEAN,
    MISSING_STRING,
    first_line,
)


def _column(values: pd.Series, kind: str, name: str, missing: str) -> np.ndarray:
    """One input tensor ``[n, 1]`` from a column, converted the way the pipeline reads it
    (fast paths first: for one-row requests this conversion costs more than the model)."""
    import pandas as pd

    if kind == "tensor(string)":  # as AsStrings: str() of each value, missing marked
        strings = values.to_numpy(dtype=object)
        absent = pd.isna(strings)
        if not isinstance(values.dtype, pd.StringDtype):
            strings = values.astype(str).to_numpy(dtype=object)
        strings[absent] = missing
        return strings.reshape(-1, 1)
    if kind == "tensor(int64)":  # booleans; anything else is unknown to the encoder
        if values.dtype == bool:
            return values.to_numpy(dtype=np.int64).reshape(-1, 1)
        codes = values.map({True: 1, False: 0}).astype(float).fillna(MISSING_BOOLEAN)
        return codes.to_numpy(dtype=np.int64).reshape(-1, 1)
    dtype = np.float32 if kind == "tensor(float)" else np.float64
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
        return values.to_numpy().astype(dtype, copy=False).reshape(-1, 1)
    if not pd.api.types.is_numeric_dtype(values) or values.dtype == bool:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & ~values.isna().to_numpy())
        if len(bad):
            raise ValidationError(f"column `{name}`: expected numbers, got "
                                  f"{values.iloc[bad[0]]!r} in row {bad[0]}; clean it or "
                                  "send null for unknown")
        values = numbers
    return values.to_numpy(dtype=dtype, na_value=np.nan).reshape(-1, 1)


class OnnxModel:
    """A converted model run by onnxruntime on the CPU, fed from a DataFrame.

    ``input_names`` are the raw columns it reads (other columns are ignored). ``kind``
    is ``classifier`` or ``regressor``; ``classes_`` (classifiers), ``threshold`` and
    ``pos_label`` (a fixed decision threshold, already applied by the graph) come from
    the gapless metadata and are None where they do not apply.
    """

    def __init__(self, data: bytes) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ValidationError(_ONNX_ERRORS) from exc
        options = ort.SessionOptions()
        options.log_severity_level = 4  # errors are raised, not logged
        try:
            session = ort.InferenceSession(bytes(data), sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not a public tree
            raise ValidationError(f"onnxruntime cannot load this model "
                                  f"({first_line(exc)})") from exc
        meta = session.get_modelmeta().custom_metadata_map
        self._session = session
        self._types = {i.name: i.type for i in session.get_inputs()}
        self._outputs = [o.name for o in session.get_outputs()]
        self._missing = meta.get(META_MISSING, MISSING_STRING)
        self.size = len(data)
        self.input_names = list(self._types)
        self.kind = meta.get(META_KIND, "classifier" if len(self._outputs) > 1 else "regressor")
        self.classes_ = (np.asarray(json.loads(meta[META_CLASSES]))
                         if META_CLASSES in meta else None)
        self.threshold = float(meta[META_THRESHOLD]) if META_THRESHOLD in meta else None
        self.pos_label = json.loads(meta[META_POS_LABEL]) if META_POS_LABEL in meta else None

    def _run(self, output: str, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            raise ValidationError(f"expected a pandas DataFrame of rows, got {type(X).__name__}")
        absent = [name for name in self.input_names if name not in X.columns]
        if absent:
            named = ", ".join(f"`{name}`" for name in absent)
            raise ValidationError(f"input column(s) {named} missing: the model reads "
                                  f"{self.input_names}; add them (null where unknown)")
        feeds = {name: _column(X[name], self._types[name], name, self._missing)
                 for name in self.input_names}
        try:
            return np.asarray(self._session.run([output], feeds)[0])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not a public tree
            raise ValidationError(f"onnxruntime could not run the model on these rows "
                                  f"({first_line(exc)})") from exc

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Labels (classifiers, after any fixed threshold) or predictions, one per row."""
        out = self._run(self._outputs[0], X).ravel()
        if self.kind != "classifier":
            return out.astype(np.float64)
        booleans = self.classes_ is not None and self.classes_.dtype == bool
        return out.astype(bool) if booleans else out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Class probabilities, columns in ``classes_`` order."""
        if self.kind != "classifier":
            raise ValidationError("predict_proba: this model is a regressor; use predict")
        return self._run(self._outputs[1], X).astype(np.float64)


BATCH_REPEATS = 5


def _latency_ms(predict: Any, X: pd.DataFrame, repeats: int) -> dict[str, float]:  # noqa: N803
    predict(X.iloc[:1])  # warm up: first calls allocate
    single = []
    for i in range(repeats):
        row = X.iloc[[i % len(X)]]
        start = time.perf_counter()
        predict(row)
        single.append(time.perf_counter() - start)
    batch = []
    for _ in range(min(repeats, BATCH_REPEATS)):
        start = time.perf_counter()
        predict(X)
        batch.append(time.perf_counter() - start)
    return {"single_row": 1000 * statistics.median(single),
            "batch": 1000 * statistics.median(batch)}


def compare(model: Any, onnx_model: OnnxModel, X: pd.DataFrame, *,  # noqa: N803
            repeats: int = 50) -> dict[str, Any]:
    """How close and how fast ``onnx_model`` is next to ``model`` on the rows ``X``.

    A JSON-able report: ``rows``; ``max_abs_diff`` over probabilities (classifiers) or
    predictions (regressors); ``label_agreement`` (classifiers; else None); ``onnx_bytes``;
    ``latency_ms`` per runtime: ``single_row`` (median of ``repeats`` one-row calls) and
    ``batch`` (median of up to :data:`BATCH_REPEATS` calls on all ``batch_rows`` rows).
    """
    if len(X) == 0:
        raise ValidationError("compare: no rows to compare on")
    if repeats < 1:
        raise ValidationError(f"compare: repeats must be >= 1, got {repeats}")
    ours, theirs = onnx_model.predict(X), np.asarray(model.predict(X))
    agreement = None
    if onnx_model.kind == "classifier":
        diff = np.abs(onnx_model.predict_proba(X) - model.predict_proba(X))
        agreement = float(np.mean(ours == theirs.ravel()))
    else:
        diff = np.abs(ours - theirs.astype(np.float64).ravel())
    return {
        "rows": len(X),
        "max_abs_diff": float(np.nanmax(diff)),
        "label_agreement": agreement,
        "onnx_bytes": onnx_model.size,
        "latency_ms": {"sklearn": _latency_ms(model.predict, X, repeats),
                       "onnx": _latency_ms(onnx_model.predict, X, repeats)},
        "batch_rows": len(X),
    }

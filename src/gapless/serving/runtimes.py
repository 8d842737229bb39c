"""What a deployed variant predicts with: the model as trained (``python``) or its ONNX
conversion run by onnxruntime (``onnx``).

A single-row ``predict`` of a scikit-learn pipeline costs milliseconds of Python
dispatch (every step checks its input); the same graph in onnxruntime costs tens of
microseconds. The conversion is never trusted blindly: before a variant goes live with
``runtime: onnx`` its graph is run beside the original on rows drawn from the
signature (every category, the training ranges, missing values where allowed) and on
the version's own test rows where they can be rebuilt, and the deployment is refused
unless every label agrees and no probability differs by more than :data:`TOLERANCE`
(regression values: relative to their size). Trees run in float32 inside onnxruntime,
as in their own libraries, so differences of about 1e-7 are expected and allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gapless.core.errors import GaplessError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from gapless.core.records import ModelVersion
    from gapless.core.schema import Signature

RUNTIMES = ("python", "onnx")
TOLERANCE = 1e-5
SAMPLE_ROWS = 256
MISSING_SHARE = 0.1


def sample_rows(signature: Signature, rows: int = SAMPLE_ROWS, *, seed: int = 0
                ) -> pd.DataFrame:
    """Rows shaped like requests (built by the request validator, so dtypes match what
    the server predicts on): numbers across the training range, every category in turn,
    and about one value in ten missing in nullable columns."""
    from gapless.serving.validation import frame_from_mapping

    rng = np.random.default_rng(seed)
    mapping: dict[str, list[Any]] = {}
    for column in signature.inputs:
        values = _column_values(column, rows, rng)
        if column.nullable:
            for index in np.flatnonzero(rng.random(rows) < MISSING_SHARE):
                values[index] = None
        mapping[column.name] = values
    return frame_from_mapping(mapping, signature, unknown_categories="pass")


def _column_values(column: Any, rows: int, rng: np.random.Generator) -> list[Any]:
    if column.categories:
        return [column.categories[i % len(column.categories)] for i in range(rows)]
    if column.type == "boolean":
        return [bool(i % 2) for i in range(rows)]
    if column.type in ("integer", "float"):
        low = float(column.minimum) if isinstance(column.minimum, (int, float)) else -1.0
        high = float(column.maximum) if isinstance(column.maximum, (int, float)) else 1.0
        numbers = rng.uniform(low, high, rows)
        return ([int(round(x)) for x in numbers] if column.type == "integer"
                else [float(x) for x in numbers])
    if column.type == "datetime":
        raise ValidationError(f"column `{column.name}` is a datetime: the ONNX runtime "
                              "cannot serve models that read datetime parts; deploy with "
                              "runtime python")
    return [f"text {i}" for i in range(rows)]


def to_onnx_runtime(model: Any, version: ModelVersion, signature: Signature | None, *,
                    holdout: pd.DataFrame | None = None) -> Any:
    """``model`` converted to an :class:`~gapless.registry.onnx.OnnxModel`, after checking
    it predicts what ``model`` does (see the module docstring); ValidationError if not."""
    from gapless.registry.onnx import OnnxModel, to_onnx

    if signature is None:
        raise ValidationError(f"{version.ref} has no signature, so its ONNX conversion cannot "
                              "be checked; deploy it with runtime python")
    X = sample_rows(signature)
    try:
        converted = OnnxModel(to_onnx(model, X, what=version.ref))
    except ValidationError as exc:
        raise ValidationError(f"{exc}; or deploy it with runtime python") from exc
    checks = [("rows drawn from the signature", X)]
    if holdout is not None and len(holdout):
        checks.append(("its test rows", holdout[signature.names].head(SAMPLE_ROWS)))
    for what, rows in checks:
        agreement, difference = _disagreement(model, converted, rows)
        if agreement < 1.0 or not difference <= TOLERANCE:
            raise ValidationError(
                f"{version.ref}: the ONNX conversion does not predict what the model does on "
                f"{what} (label agreement {agreement:.4g}, largest difference "
                f"{difference:.3g} > {TOLERANCE:g}); deploy it with runtime python")
    return converted


def _disagreement(model: Any, converted: Any, rows: pd.DataFrame) -> tuple[float, float]:
    """Label agreement (1.0 for regressors) and the largest difference: absolute between
    probabilities, relative to the value's size (at least 1) between regression values."""
    ours, theirs = converted.predict(rows), np.asarray(model.predict(rows)).ravel()
    if converted.kind == "classifier":
        gap = np.abs(converted.predict_proba(rows) - model.predict_proba(rows))
        return float(np.mean(ours == theirs)), float(np.nanmax(gap))
    theirs = theirs.astype(np.float64)
    gap = np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))
    return 1.0, float(np.nanmax(gap))


def holdout_rows(models: Any, version: ModelVersion) -> pd.DataFrame | None:
    """The version's test split when its training spec can rebuild it, else None."""
    try:
        X, _, _ = models.evaluation_rows(version, None)
    except (GaplessError, OSError, KeyError, ValueError):
        return None
    return X

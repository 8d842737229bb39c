"""Constants and helpers the ONNX modules share: opsets, metadata keys, precision rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    pass

MISSING_STRING = "__gapless_missing__"
MISSING_BOOLEAN = -1
OPSET = {"": 15, "ai.onnx.ml": 3}  # 15: the newest onnxmltools converts at
META_KIND, META_CLASSES = "gapless.kind", "gapless.classes"
META_THRESHOLD, META_POS_LABEL = "gapless.threshold", "gapless.pos_label"
META_MISSING = "gapless.missing_string"
META_PRECISION = "gapless.model_precision"
# Estimators scikit-learn evaluates on float32 features: fed float32, ONNX takes the same
# tree paths. Other models run in float64, or float32 where onnxruntime has no float64 kernel.
_FLOAT32_MODELS = frozenset({
    "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
    "ExtraTreeRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor", "GradientBoostingClassifier",
    "GradientBoostingRegressor", "LGBMClassifier", "LGBMRegressor",
})
# Lower-casing text needs a named locale in onnxruntime; this one is built into glibc >= 2.35
# and Debian images, where the default en_US.UTF-8 is often not installed.
TEXT_LOCALE = "C.UTF-8"
# Probabilities of float32 models closer than this count as tied (their rounding stays
# far below it); see _label_nodes
TIE_TOLERANCE = 5e-6
_BOOSTING = {"LGBMClassifier": "lightgbm", "LGBMRegressor": "lightgbm",
             "XGBClassifier": "xgboost", "XGBRegressor": "xgboost"}
_BUNDLE = "export with --format bundle instead"
_ONNX_ERRORS = "the ONNX export needs the `onnx` extra: pip install 'gapless[onnx]'"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def import_skl2onnx() -> Any:
    try:
        import onnxruntime  # noqa: F401 - checked here so the message covers both
        import skl2onnx
    except ImportError as exc:
        raise ValidationError(_ONNX_ERRORS) from exc
    return skl2onnx


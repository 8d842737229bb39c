"""Converters for gapless's own estimators and for skl2onnx gaps, passed per conversion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    pass
from gapless.registry.onnx.common import (
    MISSING_STRING,
    OPSET,
)


def _is_missing(scope: Any, container: Any, strings: str) -> str:
    """A boolean tensor: where ``strings`` holds the missing-value marker."""
    from skl2onnx.proto import onnx_proto

    flag, cond = scope.get_unique_variable_name("missing"), scope.get_unique_variable_name("cond")
    container.add_node("LabelEncoder", [strings], [flag], keys_strings=[MISSING_STRING],
                       values_int64s=[1], default_int64=0, op_domain="ai.onnx.ml",
                       op_version=2)
    container.add_node("Cast", [flag], [cond], to=onnx_proto.TensorProto.BOOL)
    return cond


def _as_strings_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import StringTensorType

    widths = [variable.get_second_dimension() for variable in operator.inputs]
    width = 1 if operator.raw_operator.flatten else (
        None if None in widths else sum(widths))
    operator.outputs[0].type = StringTensorType([operator.inputs[0].get_first_dimension(),
                                                 width])


def _as_strings(scope: Any, operator: Any, container: Any) -> None:
    """AsStrings on string inputs: the marker stays (missing -> NaN) or becomes ``missing``."""
    from skl2onnx.common._apply_operation import apply_identity
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.proto import onnx_proto

    values = concatenate_variables(scope, operator.inputs, container)
    missing = operator.raw_operator.missing
    if missing is None:
        apply_identity(scope, values, operator.outputs[0].full_name, container)
        return
    fill = scope.get_unique_variable_name("fill")
    container.add_initializer(fill, onnx_proto.TensorProto.STRING, [], [str(missing).encode()])
    container.add_node("Where", [_is_missing(scope, container, values), fill, values],
                       [operator.outputs[0].full_name])


def _imputer_shape(operator: Any) -> None:
    imputer = operator.raw_operator
    kept = int(np.sum(~_empty_statistics(imputer)))
    operator.outputs[0].type = operator.inputs[0].type.__class__(
        [operator.inputs[0].get_first_dimension(), kept])


def _empty_statistics(imputer: Any) -> np.ndarray:
    stats = np.asarray(imputer.statistics_)
    if stats.dtype.kind != "f" or getattr(imputer, "keep_empty_features", False):
        return np.zeros(stats.shape, dtype=bool)
    return np.isnan(stats)


def _imputer(scope: Any, operator: Any, container: Any) -> None:
    """SimpleImputer in the input's own type (skl2onnx's rounds to float32 and refuses
    strings whose missing value is NaN, which is what AsStrings produces)."""
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.proto import onnx_proto

    imputer = operator.raw_operator
    if imputer.add_indicator:
        raise NotImplementedError("SimpleImputer(add_indicator=True)")
    values = concatenate_variables(scope, operator.inputs, container)
    stats, fill = np.asarray(imputer.statistics_), scope.get_unique_variable_name("fill")
    kind = operator.inputs[0].type
    if isinstance(kind, StringTensorType):
        container.add_initializer(fill, onnx_proto.TensorProto.STRING, [1, len(stats)],
                                  [str(s).encode() for s in stats])
        missing = _is_missing(scope, container, values)
    else:
        double = isinstance(kind, DoubleTensorType)
        container.add_initializer(
            fill, onnx_proto.TensorProto.DOUBLE if double else onnx_proto.TensorProto.FLOAT,
            [1, len(stats)], stats.astype(np.float64 if double else np.float32).tolist())
        missing = scope.get_unique_variable_name("isnan")
        container.add_node("IsNaN", [values], [missing])
    empty = _empty_statistics(imputer)
    filled = operator.outputs[0].full_name if not empty.any() else (
        scope.get_unique_variable_name("filled"))
    container.add_node("Where", [missing, fill, values], [filled])
    if empty.any():  # scikit-learn drops columns it saw no value in
        keep = scope.get_unique_variable_name("keep")
        container.add_initializer(keep, onnx_proto.TensorProto.INT64, [int((~empty).sum())],
                                  np.flatnonzero(~empty).tolist())
        container.add_node("Gather", [filled, keep], [operator.outputs[0].full_name], axis=1)


def _one_hot(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx handles infrequent categories only with one input per column: split."""
    from skl2onnx.common._registration import get_converter
    from skl2onnx.proto import onnx_proto

    encoder = operator.raw_operator
    if len(operator.inputs) == 1 and getattr(encoder, "_infrequent_enabled", False):
        source, columns = operator.inputs[0], []
        for j in range(len(encoder.categories_)):
            column = scope.declare_local_variable("column", source.type.__class__([None, 1]))
            index = scope.get_unique_variable_name("index")
            container.add_initializer(index, onnx_proto.TensorProto.INT64, [1], [j])
            container.add_node("ArrayFeatureExtractor", [source.full_name, index],
                               [column.full_name], op_domain="ai.onnx.ml")
            columns.append(column)
        operator.inputs = columns
    get_converter("SklearnOneHotEncoder")(scope, operator, container)


def _selector_shape(operator: Any) -> None:
    kept = int(np.sum(operator.raw_operator.get_support()))
    operator.outputs[0].type = operator.inputs[0].type.__class__(
        [operator.inputs[0].get_first_dimension(), kept])


def _selector(scope: Any, operator: Any, container: Any) -> None:
    """Any fitted selector (CorrelationFilter, SequentialFeatureSelector): its columns."""
    from skl2onnx.proto import onnx_proto

    keep = np.flatnonzero(operator.raw_operator.get_support())
    index = scope.get_unique_variable_name("keep")
    container.add_initializer(index, onnx_proto.TensorProto.INT64, [len(keep)], keep.tolist())
    container.add_node("Gather", [operator.inputs[0].full_name, index],
                       [operator.outputs[0].full_name], axis=1)


def _bins_shape(operator: Any) -> None:
    bins = operator.raw_operator
    width = len(bins.n_bins_) if bins.encode == "ordinal" else int(np.sum(bins.n_bins_))
    operator.outputs[0].type = operator.inputs[0].type.__class__(
        [operator.inputs[0].get_first_dimension(), width])


def _bins(scope: Any, operator: Any, container: Any) -> None:
    """KBinsDiscretizer in the input's own type (skl2onnx's compares in float32 and refuses
    sparse one-hot): the bin is the number of inner edges <= x, as np.searchsorted."""
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.proto import onnx_proto

    bins = operator.raw_operator
    values = concatenate_variables(scope, operator.inputs, container)
    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    elem = onnx_proto.TensorProto.DOUBLE if double else onnx_proto.TensorProto.FLOAT
    parts = []
    for j, edges in enumerate(bins.bin_edges_):
        names = {k: scope.get_unique_variable_name(k) for k in (
            "column", "index", "edges", "above", "counts", "axis", "bin", "range", "onehot",
            "out")}
        container.add_initializer(names["index"], onnx_proto.TensorProto.INT64, [1], [j])
        inner = np.asarray(edges[1:-1], dtype=np.float64)
        container.add_initializer(names["edges"], elem, [1, len(inner)], inner.tolist())
        container.add_node("Gather", [values, names["index"]], [names["column"]], axis=1)
        container.add_node("GreaterOrEqual", [names["column"], names["edges"]],
                           [names["above"]])
        container.add_node("Cast", [names["above"]], [names["counts"]], to=elem)
        container.add_initializer(names["axis"], onnx_proto.TensorProto.INT64, [1], [1])
        container.add_node("ReduceSum", [names["counts"], names["axis"]], [names["bin"]],
                           keepdims=1)
        if bins.encode == "ordinal":
            parts.append(names["bin"])
            continue
        container.add_initializer(names["range"], elem, [1, int(bins.n_bins_[j])],
                                  list(range(int(bins.n_bins_[j]))))
        container.add_node("Equal", [names["bin"], names["range"]], [names["onehot"]])
        container.add_node("Cast", [names["onehot"]], [names["out"]], to=elem)
        parts.append(names["out"])
    container.add_node("Concat", parts, [operator.outputs[0].full_name], axis=1)


_TREE_VALUES = ("nodes_values", "nodes_hitrates", "base_values", "class_weights",
                "target_weights")


class _Container:
    """A converter container with two repairs for tree ensembles: list attributes holding
    booleans become integers (newer onnx refuses them; the HistGradientBoosting converter
    passes them) and float64 tree values become ``*_as_tensor`` attributes, so thresholds
    keep full precision (ai.onnx.ml 3)."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, op_type: str, *args: Any, **attributes: Any) -> Any:
        from onnx import numpy_helper

        for key, value in list(attributes.items()):
            if isinstance(value, list) and any(isinstance(v, bool | np.bool_) for v in value):
                attributes[key] = [int(v) for v in value]
            elif (op_type.startswith("TreeEnsemble") and key in _TREE_VALUES
                  and getattr(value, "dtype", None) == np.float64):
                attributes[f"{key}_as_tensor"] = numpy_helper.from_array(attributes.pop(key))
        return self._container.add_node(op_type, *args, **attributes)


def _hist_boosting_shape(operator: Any) -> None:
    """skl2onnx's shapes, but scores in float32: TreeEnsemble* ops output nothing else."""
    from skl2onnx.common._registration import get_shape_calculator
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    classifier = type(operator.raw_operator).__name__.endswith("Classifier")
    get_shape_calculator("SklearnHistGradientBoosting"
                         + ("Classifier" if classifier else "Regressor"))(operator)
    for output in operator.outputs:
        if isinstance(output.type, DoubleTensorType):
            output.type = FloatTensorType(output.type.shape)


def _hist_boosting(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.operator_converters.random_forest import (
        convert_sklearn_random_forest_classifier,
        convert_sklearn_random_forest_regressor_converter,
    )

    convert = (convert_sklearn_random_forest_classifier
               if type(operator.raw_operator).__name__.endswith("Classifier")
               else convert_sklearn_random_forest_regressor_converter)
    convert(scope, operator, _Container(container), op_version=OPSET["ai.onnx.ml"])


def custom_converters() -> tuple[dict[type, Any], dict[type, Any]]:
    """(converters, shape calculators) for this module's additions, keyed by class."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_selection import SequentialFeatureSelector
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

    from gapless.features.transforms import AsStrings
    from gapless.training.selection import CorrelationFilter

    converters: dict[type, Any] = {
        AsStrings: _as_strings, SimpleImputer: _imputer, OneHotEncoder: _one_hot,
        KBinsDiscretizer: _bins,
        CorrelationFilter: _selector, SequentialFeatureSelector: _selector,
        HistGradientBoostingClassifier: _hist_boosting,
        HistGradientBoostingRegressor: _hist_boosting,
    }
    shapes: dict[type, Any] = {AsStrings: _as_strings_shape, SimpleImputer: _imputer_shape,
                               KBinsDiscretizer: _bins_shape,
                               CorrelationFilter: _selector_shape,
                               SequentialFeatureSelector: _selector_shape,
                               HistGradientBoostingClassifier: _hist_boosting_shape,
                               HistGradientBoostingRegressor: _hist_boosting_shape}
    return converters, shapes


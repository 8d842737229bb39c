"""What can be converted (checked before skl2onnx says it less clearly), and the
conversion: preprocessing and model converted apart and joined into one graph."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from gapless.core.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
from gapless.registry.onnx.common import (
    _BOOSTING,
    _BUNDLE,
    _FLOAT32_MODELS,
    META_CLASSES,
    META_KIND,
    META_MISSING,
    META_POS_LABEL,
    META_PRECISION,
    META_THRESHOLD,
    MISSING_STRING,
    OPSET,
    TEXT_LOCALE,
    TIE_TOLERANCE,
    first_line,
    import_skl2onnx,
)
from gapless.registry.onnx.converters import custom_converters
from gapless.registry.onnx.runtime import OnnxModel


def _unwrap(model: Any, what: str) -> tuple[Any, float | None, Any]:
    """(the fitted pipeline, the fixed threshold or None, its positive label)."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    threshold, pos_label = None, None
    if isinstance(model, FixedThresholdClassifier):
        if model.response_method not in ("auto", "predict_proba"):
            raise ValidationError(f"{what}: a threshold on {model.response_method!r} cannot be "
                                  f"exported to ONNX, only one on probabilities; {_BUNDLE}")
        threshold, pos_label = float(model.threshold), model.pos_label
        model = getattr(model, "estimator_", model.estimator)
    while isinstance(model, FrozenEstimator):
        model = model.estimator
    if threshold is not None and not hasattr(model, "predict_proba"):
        raise ValidationError(f"{what}: the threshold applies to decision scores, which the "
                              f"ONNX export does not cover; {_BUNDLE}")
    if threshold is not None and pos_label is None:
        pos_label = model.classes_[-1]
    return model, threshold, pos_label


def _leaves(step: Any, path: str) -> list[tuple[str, Any]]:
    """(``block/step`` path, estimator) for every estimator under ``step``."""
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        return [leaf for name, inner in step.steps for leaf in _leaves(inner, f"{path}/{name}")]
    return [(path, step)]


def _blocks(ct: Any) -> list[tuple[str, Any, list[str]]]:
    """(block name, transformer, column names) for each block of a fitted ColumnTransformer."""
    names = [str(c) for c in getattr(ct, "feature_names_in_", [])]
    blocks = []
    for block, transformer, selection in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        chosen = [selection] if isinstance(selection, str | int) else list(selection)
        if chosen and isinstance(chosen[0], bool | np.bool_):
            chosen = [i for i, flag in enumerate(chosen) if flag]
        columns = [names[c] if isinstance(c, int | np.integer) and names else str(c)
                   for c in chosen]
        if columns:
            blocks.append((block, transformer, columns))
    return blocks


def _refusal(what: str, path: str, step: Any, columns: list[str] | None) -> ValidationError:
    name = type(step).__name__
    on = f" on column(s) {columns}" if columns else ""
    if name == "DatetimeParts":
        advice = ("datetime columns have no ONNX form; exclude them (features.exclude: "
                  f"{columns}) and retrain, or {_BUNDLE}")
    elif name in _BOOSTING:
        needs = ("LightGBM models need onnxmltools (pip install onnxmltools)"
                 if name.startswith("LGBM") else "XGBoost models are not exported to ONNX")
        advice = f"{needs}; or retrain with hist_gradient_boosting, or {_BUNDLE}"
    else:
        advice = f"retrain without it, or {_BUNDLE}"
    return ValidationError(f"{what}: step `{path}` ({name}){on} has no ONNX converter; "
                           f"{advice}")


def _check(pipeline: Any, what: str) -> list[tuple[str, Any, list[str]]]:
    """The ColumnTransformer's blocks, after checking every step can be converted."""
    import importlib.util

    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.base import is_classifier, is_regressor
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    converters, _ = custom_converters()

    def supported(step: Any) -> bool:
        return (isinstance(step, str) or type(step) in sklearn_operator_name_map
                or type(step) in converters)

    steps = pipeline.steps if isinstance(pipeline, Pipeline) else []
    if len(steps) < 2 or not isinstance(steps[0][1], ColumnTransformer):
        raise ValidationError(f"{what}: ONNX export takes a gapless pipeline (a "
                              f"ColumnTransformer, then the model), got "
                              f"{type(pipeline).__name__}; {_BUNDLE}")
    name, estimator = steps[-1]
    if not (is_classifier(estimator) or is_regressor(estimator)):
        raise ValidationError(f"{what}: ONNX export covers classifiers and regressors, not "
                              f"{type(estimator).__name__}; {_BUNDLE}")
    blocks = _blocks(steps[0][1])
    for block, transformer, columns in blocks:
        for path, step in _leaves(transformer, f"{steps[0][0]}/{block}"):
            if not supported(step):
                raise _refusal(what, path, step, columns)
    for path, step in (leaf for n, s in steps[1:-1] for leaf in _leaves(s, n)):
        if not supported(step):
            raise _refusal(what, path, step, None)
    lightgbm = (type(estimator).__name__.startswith("LGBM")
                and importlib.util.find_spec("onnxmltools") is not None)
    if not (supported(estimator) or lightgbm):
        raise _refusal(what, name, estimator, None)
    return blocks


def _input_kinds(blocks: list[tuple[str, Any, list[str]]], X: pd.DataFrame,  # noqa: N803
                 what: str) -> dict[str, str]:
    """Column -> ``string``, ``int64`` (booleans) or ``double``, in ColumnTransformer order."""
    import pandas as pd

    from gapless.features.transforms import AsStrings

    kinds: dict[str, str] = {}
    for block, transformer, columns in blocks:
        first = _leaves(transformer, block)[0][1]
        for column in columns:
            if column not in X.columns:
                raise ValidationError(f"{what}: the sample rows have no column `{column}`, "
                                      f"which block `{block}` reads; pass the rows the model "
                                      "was trained on")
            values = X[column]
            if pd.api.types.is_datetime64_any_dtype(values):
                raise ValidationError(f"{what}: column `{column}` is a datetime, which has no "
                                      f"ONNX form; exclude it and retrain, or {_BUNDLE}")
            if isinstance(first, AsStrings):
                kind = "string"
            elif (pd.api.types.is_bool_dtype(values)
                  or pd.api.types.infer_dtype(values, skipna=True) == "boolean"):
                kind = "int64"
            else:
                kind = "double" if pd.api.types.is_numeric_dtype(values) else "string"
            kinds.setdefault(column, kind)
    return kinds


# -- conversion --------------------------------------------------------------------------------

def _convert_part(part: Any, initial: list[tuple[str, Any]], what: str, label: str,
                  classifier: bool) -> Any:
    import skl2onnx

    converters, shapes = custom_converters()
    try:
        if type(part).__name__.startswith("LGBM"):
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType

            return onnxmltools.convert_lightgbm(
                part, initial_types=[(name, FloatTensorType(kind.shape)) for name, kind in initial],
                target_opset=OPSET[""], zipmap=False)
        return skl2onnx.convert_sklearn(
            part, initial_types=initial, target_opset=OPSET,
            options={type(part): {"zipmap": False}} if classifier else None,
            custom_conversion_functions=converters, custom_shape_calculators=shapes)
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises anything; none may escape
        raise ValidationError(f"{what}: skl2onnx could not convert {label} "
                              f"({first_line(exc)}); {_BUNDLE}") from exc


def _rename(graph: Any, prefix: str, keep: set[str], final: dict[str, str]) -> None:
    """Prefix every value and node name in ``graph`` except ``keep``; ``final`` wins."""
    def name(value: str) -> str:
        return final.get(value, value if not value or value in keep else prefix + value)

    for index, node in enumerate(graph.node):
        node.input[:] = [name(v) for v in node.input]
        node.output[:] = [name(v) for v in node.output]
        node.name = f"{prefix}{node.name or node.op_type}/{index}"
    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = name(info.name)
    for tensor in graph.initializer:
        tensor.name = name(tensor.name)


def _label_nodes(probabilities: str, label: Any, classes: np.ndarray, threshold: float | None,
                 pos_label: Any, tolerance: float) -> tuple[list[Any], list[Any]]:
    """Nodes deciding ``label`` from the probabilities as scikit-learn does: argmax, first
    class on ties; or with a fixed threshold, the positive class where its probability is
    >= threshold. Probabilities within ``tolerance`` count as equal, so float32 rounding
    cannot break a tie (forest votes such as 50/100 are exact ties in scikit-learn)."""
    from onnx import TensorProto, helper, numpy_helper

    elem = label.type.tensor_type.elem_type

    def constant(name: str, value: Any) -> Any:
        if elem == TensorProto.STRING:
            return numpy_helper.from_array(np.array(value, dtype=str).astype(object), name)
        return numpy_helper.from_array(
            np.array(value).astype(helper.tensor_dtype_to_np_dtype(elem)), name)

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> Any:
        return helper.make_node(op, inputs, [output], name=f"decide/{output}", **attributes)

    scores = [node("Cast", [probabilities], "decide/p64", to=TensorProto.DOUBLE)]
    if threshold is None:
        constants = [constant("decide/classes", classes),
                     numpy_helper.from_array(np.array(tolerance), "decide/tolerance")]
        return [*scores,
                node("ReduceMax", ["decide/p64"], "decide/max", axes=[1], keepdims=1),
                node("Sub", ["decide/max", "decide/tolerance"], "decide/floor"),
                node("GreaterOrEqual", ["decide/p64", "decide/floor"], "decide/near"),
                node("Cast", ["decide/near"], "decide/near01", to=TensorProto.INT32),
                node("ArgMax", ["decide/near01"], "decide/index", axis=1, keepdims=0),
                node("Gather", ["decide/classes", "decide/index"], label.name)], constants
    column = list(classes).index(pos_label)
    constants = [numpy_helper.from_array(np.array(column, dtype=np.int64), "decide/column"),
                 numpy_helper.from_array(np.array(threshold - tolerance), "decide/cut"),
                 constant("decide/positive", pos_label),
                 constant("decide/other", classes[1 - column])]
    return [*scores,
            node("Gather", ["decide/p64", "decide/column"], "decide/score", axis=1),
            node("GreaterOrEqual", ["decide/score", "decide/cut"], "decide/is_positive"),
            node("Where", ["decide/is_positive", "decide/positive", "decide/other"],
                 label.name)], constants


def _fix_text_node(node: Any) -> None:
    """Text nodes as scikit-learn tokenizes: lower-casing under a locale most machines have,
    and for the default token pattern ``(?u)\\b\\w\\w+\\b`` (which skl2onnx writes as an
    ASCII pattern also keeping one-letter tokens) runs of two or more Unicode word chars."""
    from onnx import helper

    names = {a.name for a in node.attribute}
    if node.op_type == "StringNormalizer" and "locale" not in names:
        node.attribute.append(helper.make_attribute("locale", TEXT_LOCALE))
    for attribute in node.attribute:
        if node.op_type == "Tokenizer" and attribute.name == "tokenexp" and (
                attribute.s == b"[a-zA-Z0-9_]+"):
            attribute.s = rb"[\p{L}\p{N}_]{2,}"


def _join(prep: Any, head: Any, inputs: list[str], classifier: bool, float32: bool,
          threshold: float | None, classes: np.ndarray | None, pos_label: Any) -> Any:
    """One model: raw columns -> preprocessing -> cast -> model [-> label decision]."""
    from onnx import helper

    prep = type(prep).FromString(prep.SerializeToString())  # renamed below; reused on retry
    wanted = ["label", "probabilities"] if classifier else ["prediction"]
    finals = []
    for name in wanted:
        while name in inputs:
            name += "_"
        finals.append(name)
    _rename(prep.graph, "prep/", set(inputs), {})
    for node in prep.graph.node:
        _fix_text_node(node)
    head_outputs = [o.name for o in head.graph.output]
    final = dict(zip(head_outputs, finals, strict=False))
    decide = classifier and (threshold is not None or float32)
    if decide:
        final.pop(head_outputs[0])  # the converter's label becomes internal
    _rename(head.graph, "model/", set(), final)
    feature = head.graph.input[0]
    nodes = [*prep.graph.node,
             helper.make_node("Cast", [prep.graph.output[0].name], [feature.name],
                              to=feature.type.tensor_type.elem_type, name="features/cast"),
             *head.graph.node]
    initializers = [*prep.graph.initializer, *head.graph.initializer]
    outputs = list(head.graph.output)
    if decide and classes is not None:
        label = outputs[0]
        label.name = finals[0]
        more_nodes, constants = _label_nodes(finals[1], label, classes, threshold, pos_label,
                                             TIE_TOLERANCE if float32 else 0.0)
        nodes += more_nodes
        initializers += constants
    graph = helper.make_graph(nodes, "gapless", list(prep.graph.input), outputs,
                              initializer=initializers)
    opsets: dict[str, int] = {}
    for part in (prep, head):
        for opset in part.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    model = helper.make_model(graph, producer_name="gapless",
                              opset_imports=[helper.make_opsetid(d, v)
                                             for d, v in opsets.items()])
    model.ir_version = max(prep.ir_version, head.ir_version)
    return model


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def to_onnx(model: Any, X_sample: pd.DataFrame, *, what: str = "model") -> bytes:  # noqa: N803
    """The ONNX bytes of a fitted gapless model (see the module docstring for the graph).

    ``X_sample``: rows like the ones the model was trained on (a few are enough); their
    dtypes decide each input's type and they are run once through the converted graph.
    ``what`` names the model in messages. Raises ValidationError, naming the step and
    its columns, for anything that cannot be converted.
    """
    from sklearn.base import is_classifier

    skl2onnx = import_skl2onnx()
    from onnx import helper
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    pipeline, threshold, pos_label = _unwrap(model, what)
    blocks = _check(pipeline, what)
    kinds = _input_kinds(blocks, X_sample, what)
    types = {"double": DoubleTensorType, "string": StringTensorType, "int64": Int64TensorType}
    estimator = pipeline.steps[-1][1]
    classifier = bool(is_classifier(estimator))
    prep = _convert_part(pipeline[:-1], [(c, types[k]([None, 1])) for c, k in kinds.items()],
                         what, "the preprocessing", False)
    properties = {META_KIND: "classifier" if classifier else "regressor",
                  META_MISSING: MISSING_STRING}
    classes = np.asarray(estimator.classes_) if classifier else None
    if classes is not None:
        properties[META_CLASSES] = json.dumps([_plain(c) for c in classes])
    if threshold is not None:
        properties[META_THRESHOLD] = repr(threshold)
        properties[META_POS_LABEL] = json.dumps(_plain(pos_label))
    name, failure = type(estimator).__name__, None
    for float32 in (True,) if name in _FLOAT32_MODELS else (False, True):
        features = (FloatTensorType if float32 else DoubleTensorType)(
            [None, int(estimator.n_features_in_)])
        head = _convert_part(estimator, [("features", features)], what, f"the model {name}",
                             classifier)
        joined = _join(prep, head, list(kinds), classifier, float32, threshold, classes,
                       pos_label)
        joined.doc_string = f"{what}, exported by gapless with skl2onnx {skl2onnx.__version__}"
        helper.set_model_props(joined, {**properties, META_PRECISION:
                                        "float32" if float32 else "float64"})
        data = joined.SerializeToString()
        try:
            OnnxModel(data).predict(X_sample.head(5))
        except ValidationError as exc:  # e.g. no float64 kernel: retry in float32
            failure = exc
            continue
        return data
    raise ValidationError(f"{what}: the converted model does not run: {failure}; "
                          f"{_BUNDLE}") from failure


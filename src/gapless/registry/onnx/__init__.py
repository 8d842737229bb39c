"""ONNX export of a fitted gapless model, the runtime that serves it, and the comparison.

:func:`to_onnx` converts what :func:`gapless.training.pipeline.build_pipeline` fits (and
the ``FixedThresholdClassifier(FrozenEstimator(pipeline))`` a threshold-tuned binary model
is saved as) with skl2onnx; :class:`OnnxModel` runs the result with onnxruntime on a
DataFrame; :func:`compare` measures how close and how fast it is next to the original.

What a converted graph guarantees:

* One input per raw column the ``ColumnTransformer`` reads, named after it, shape
  ``[None, 1]``: ``double`` for numbers (NaN is missing), ``string`` for categories and
  text (the metadata value ``gapless.missing_string`` stands for a missing value),
  ``int64`` for booleans (0/1, -1 missing).
* Numbers stay float64 through preprocessing, so the features equal scikit-learn's.
  Decision trees, forests and LightGBM then run in float32, as they do in their own
  libraries; every other model in float64 where onnxruntime has the kernel (SVR has not:
  float32). ``gapless.model_precision`` in the metadata says which.
* Outputs ``label`` and ``probabilities`` (classifiers; no ZipMap) or ``prediction``
  (regressors, ``[None, 1]``). A fixed decision threshold is applied to ``label`` inside
  the graph, so any ONNX runtime predicts what scikit-learn does, and it is recorded in
  the metadata (``gapless.threshold``, ``gapless.pos_label``).

What skl2onnx cannot convert (datetime parts, custom estimators, XGBoost, LightGBM
without onnxmltools, clustering) raises :class:`~gapless.core.errors.ValidationError`
naming the step, its columns and what to do; no skl2onnx or onnxruntime error escapes.
skl2onnx, onnx and onnxruntime (the ``onnx`` extra) are imported only when used.
"""

from gapless.registry.onnx.common import MISSING_STRING
from gapless.registry.onnx.convert import to_onnx
from gapless.registry.onnx.runtime import OnnxModel, compare

__all__ = ["MISSING_STRING", "OnnxModel", "compare", "to_onnx"]

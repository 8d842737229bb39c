"""Loaded models, kept by the digest of their file, so a hot swap loads each version once.

A deployment names models by reference (``churn@production``); the predictor resolves a
reference to a registered version and keeps the loaded model under the version's
``model_digest`` and runtime (``python`` or ``onnx``, see :mod:`gapless.serving.runtimes`):
two aliases of one version, or a version deployed on two endpoints, share one loaded
object and one micro-batching thread, and a deployment change loads only what is new.
Loading happens off the request path (the server warms every variant before switching
to a new deployment revision), and its duration is recorded for the metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gapless.core.records import ModelVersion
from gapless.core.schema import Signature


@dataclass(frozen=True)
class LoadedModel:
    """A registered version ready to predict: the model, its signature and its classes."""

    version: ModelVersion
    model: Any
    signature: Signature | None
    load_seconds: float
    classes: tuple[Any, ...] | None = field(default=None)
    inputs: Any = None  # the signature prepared for checking requests (InputSpec)
    runtime: str = "python"
    batcher: Any = None  # gapless.serving.batching.MicroBatcher, when micro-batching
    score: Any = None  # one pass for predictions and probabilities (see scorer)
    # Features fetched from the online store (serving/feature_lookup.py); ``inputs`` is
    # then what a request carries: entity keys instead of those features.
    features: Any = None

    @property
    def key(self) -> str:
        return _key(self.version.model_digest, self.runtime)

    @property
    def ref(self) -> str:
        return self.version.ref

    def predict(self, frame: Any, *, probabilities: bool = True) -> tuple[Any, Any]:
        """Predictions and, for classifiers when asked, class probabilities (else None).

        Probabilities cost the final step a second call (a pipeline's transforms run
        once, see :func:`scorer`), so protocols that do not return them do not ask."""
        if not probabilities or self.classes is None or not hasattr(self.model,
                                                                    "predict_proba"):
            return self.model.predict(frame), None
        if self.score is None:
            return self.model.predict(frame), self.model.predict_proba(frame)
        return self.score(frame)


class Predictor:
    """Resolves model references and loads each distinct model file once."""

    def __init__(self, models: Any, *, micro_batch: bool = True,
                 feature_plans: Callable[[ModelVersion], Any] | None = None) -> None:
        self.models = models  # gapless.registry.api.Models
        self.micro_batch = micro_batch
        self.feature_plans = feature_plans  # version -> FeaturePlan or None
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> ModelVersion:
        return self.models.get(ref)

    def load(self, ref: str | ModelVersion, runtime: str = "python") -> LoadedModel:
        """The loaded model behind ``ref``; loads it on first use (thread-safe)."""
        version = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        key = _key(version.model_digest, runtime)
        cached = self._loaded.get(key)
        if cached is None:
            with self._lock:
                cached = self._loaded.get(key)
                if cached is None:
                    cached = self._loaded[key] = self._load(version, runtime)
        loaded = cached if cached.version == version else _relabel(cached, version)
        plan = self.feature_plans(version) if self.feature_plans is not None else None
        return loaded if plan is None else replace(loaded, features=plan, inputs=plan.request)

    def _load(self, version: ModelVersion, runtime: str) -> LoadedModel:
        from gapless.serving.validation import InputSpec

        started = time.perf_counter()
        model = self.models.load(version)
        signature = Signature.from_dict(version.signature) if version.signature else None
        classes = tuple(getattr(model, "classes_", ())) or None
        if runtime == "onnx":
            from gapless.serving.runtimes import holdout_rows, to_onnx_runtime

            model = to_onnx_runtime(model, version, signature,
                                    holdout=holdout_rows(self.models, version))
        loaded = LoadedModel(version, model, signature, time.perf_counter() - started,
                             classes, InputSpec(signature) if signature is not None else None,
                             runtime, score=scorer(model, classes) if classes else None)
        if not self.micro_batch:
            return loaded
        from gapless.serving.batching import MicroBatcher

        return replace(loaded, batcher=MicroBatcher(loaded.predict, name=version.ref))

    def keep_only(self, keys: Iterable[str]) -> None:
        """Forget models no deployment uses any more (by :attr:`LoadedModel.key`); their
        batching threads finish what is waiting, then stop."""
        wanted = set(keys)
        with self._lock:
            gone = [self._loaded.pop(key) for key in list(self._loaded) if key not in wanted]
        for loaded in gone:
            if loaded.batcher is not None:
                loaded.batcher.close()

    def close(self) -> None:
        self.keep_only(())

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())


def scorer(model: Any, classes: Sequence[Any] | None) -> Callable[[Any], tuple[Any, Any]]:
    """``score(frame) -> (predictions, probabilities or None)``, built once per model.

    A scikit-learn ``Pipeline`` asked for probabilities runs its transforms once and its
    final step twice, exactly as ``Pipeline.predict`` and ``Pipeline.predict_proba``
    would each do, rather than transforming every row twice (for a one-row request the
    transforms are most of the cost).
    """
    from sklearn.pipeline import Pipeline

    if classes is None:
        return lambda frame: (model.predict(frame), None)
    if not isinstance(model, Pipeline):
        return lambda frame: (model.predict(frame), model.predict_proba(frame))
    transforms = [step for _, step in model.steps[:-1]
                  if step is not None and not isinstance(step, str)]  # "passthrough"
    final = model.steps[-1][1]

    def score(frame: Any) -> tuple[Any, Any]:
        for step in transforms:
            frame = step.transform(frame)
        return final.predict(frame), final.predict_proba(frame)

    return score


def _key(digest: str, runtime: str) -> str:
    return f"{digest}:{runtime}"


def _relabel(loaded: LoadedModel, version: ModelVersion) -> LoadedModel:
    """The same loaded object under another registered version of the same file."""
    return replace(loaded, version=version)

"""Loaded models, kept by the digest of their file, so a hot swap loads each version once.

A deployment names models by reference (``churn@production``); the predictor resolves a
reference to a registered version and keeps the loaded model under the version's
``model_digest``: two aliases of one version, or a version deployed on two endpoints,
share one loaded object, and a deployment change loads only what is new. Loading
happens off the request path (the server warms every variant before switching to a new
deployment revision), and its duration is recorded for the metrics.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
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

    @property
    def ref(self) -> str:
        return self.version.ref

    def predict(self, frame: Any, *, probabilities: bool = True) -> tuple[Any, Any]:
        """Predictions and, for classifiers when asked, class probabilities (else None).

        Probabilities cost a second pass through the pipeline (about as long as the
        prediction itself), so protocols that do not return them do not ask."""
        predictions = self.model.predict(frame)
        if not probabilities:
            return predictions, None
        probabilities = None
        if self.classes is not None and hasattr(self.model, "predict_proba"):
            probabilities = self.model.predict_proba(frame)
        return predictions, probabilities


class Predictor:
    """Resolves model references and loads each distinct model file once."""

    def __init__(self, models: Any) -> None:
        self.models = models  # gapless.registry.api.Models
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> ModelVersion:
        return self.models.get(ref)

    def load(self, ref: str | ModelVersion) -> LoadedModel:
        """The loaded model behind ``ref``; loads it on first use (thread-safe)."""
        version = ref if isinstance(ref, ModelVersion) else self.resolve(ref)
        cached = self._loaded.get(version.model_digest)
        if cached is not None:
            return cached if cached.version == version else _relabel(cached, version)
        with self._lock:
            cached = self._loaded.get(version.model_digest)
            if cached is None:
                started = time.perf_counter()
                from gapless.serving.validation import InputSpec

                model = self.models.load(version)
                signature = (Signature.from_dict(version.signature) if version.signature
                             else None)
                cached = LoadedModel(
                    version, model, signature, time.perf_counter() - started,
                    tuple(getattr(model, "classes_", ())) or None,
                    InputSpec(signature) if signature is not None else None)
                self._loaded[version.model_digest] = cached
        return cached if cached.version == version else _relabel(cached, version)

    def warm(self, refs: Iterable[str]) -> list[LoadedModel]:
        """Load every reference now (before a new deployment revision goes live)."""
        return [self.load(ref) for ref in refs]

    def keep_only(self, digests: Iterable[str]) -> None:
        """Forget models no deployment uses any more."""
        wanted = set(digests)
        with self._lock:
            for digest in list(self._loaded):
                if digest not in wanted:
                    del self._loaded[digest]

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())


def _relabel(loaded: LoadedModel, version: ModelVersion) -> LoadedModel:
    """The same loaded object under another registered version of the same file."""
    return LoadedModel(version, loaded.model, loaded.signature, loaded.load_seconds,
                       loaded.classes, loaded.inputs)

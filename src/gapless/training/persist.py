"""Models as skops files: saved without pickle, loaded only when every type is trusted.

skops refuses to build any type it does not know unless the caller trusts it; we trust
exactly the scikit-learn, numpy and gapless types our pipelines are made of
(:data:`~gapless.training.pipeline.SKOPS_TRUSTED_TYPES`). A file that needs anything
else — a hand-crafted payload, or a model from elsewhere — is refused with the list of
types, never executed.
"""

from __future__ import annotations

from typing import Any

from gapless.core.errors import SecurityError

EXTRA_TRUSTED = (
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.model_selection._classification_threshold.FixedThresholdClassifier",
    "gapless.training.baselines.HeuristicBaseline",
    # Recommenders keep only arrays, sparse matrices and plain values (gapless.recsys).
    "gapless.recsys.popularity.PopularityRecommender",
    "gapless.recsys.item_knn.ItemKNNRecommender",
    "gapless.recsys.content.ContentRecommender",
    "gapless.recsys.matrix_factorization.ALSRecommender",
    "gapless.recsys.matrix_factorization.BPRRecommender",
    "gapless.recsys.graph_walk.GraphWalkRecommender",
    "scipy.sparse._csr.csr_matrix",
)


def dumps(model: Any) -> bytes:
    import skops.io

    return skops.io.dumps(model)


def loads(data: bytes, *, what: str = "model") -> Any:
    """Load a skops payload, refusing any type outside the trusted set.

    One pass: skops itself refuses a file needing an untrusted type; only then is the
    file scanned again, to name those types in the error.
    """
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.loads(data, trusted=trusted_types())
    except UntrustedTypesFoundException:
        unknown = sorted(set(skops.io.get_untrusted_types(data=data)) - set(trusted_types()))
        raise SecurityError(
            f"{what} needs types gapless does not trust: {', '.join(unknown)}; it was not "
            "loaded (models are built only from known scikit-learn and gapless types)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a malformed payload is refused, whatever broke
        raise SecurityError(f"{what} is not a valid skops file: {exc}") from exc


def check_types(data: bytes, *, what: str = "model") -> None:
    """Refuse a skops payload that needs an untrusted type, without building the model."""
    import skops.io

    try:
        needed = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - a malformed payload is refused, whatever broke
        raise SecurityError(f"{what} is not a valid skops file: {exc}") from exc
    unknown = sorted(set(needed) - set(trusted_types()))
    if unknown:
        raise SecurityError(
            f"{what} needs types gapless does not trust: {', '.join(unknown)}; it was not "
            "loaded (models are built only from known scikit-learn and gapless types)"
        )


def trusted_types() -> list[str]:
    from gapless.training.pipeline import SKOPS_TRUSTED_TYPES

    return sorted(set(SKOPS_TRUSTED_TYPES) | set(EXTRA_TRUSTED))

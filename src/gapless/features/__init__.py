"""Features: transforms compiled into the model pipeline, and feature views with
point-in-time training sets (views, registry, offline, api)."""

from gapless.features.transforms import (
    AUTO_DATETIME_PARTS,
    DATETIME_PARTS,
    MIN_CATEGORY_COUNT,
    AsStrings,
    DatetimeParts,
    FeatureSpec,
    build_preprocessor,
    feature_columns,
    semantic_types,
)

__all__ = [
    "AUTO_DATETIME_PARTS",
    "DATETIME_PARTS",
    "MIN_CATEGORY_COUNT",
    "AsStrings",
    "DatetimeParts",
    "FeatureSpec",
    "build_preprocessor",
    "feature_columns",
    "semantic_types",
]

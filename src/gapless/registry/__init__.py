"""Model registry: versions with signatures and lineage, aliases moved through promotion
gates, an append-only audit log, safe packaging (skops, verified hashes, encryption at
rest), export (bundle, ONNX) and import (files, MLflow, bundles).

``workspace.models`` (:class:`gapless.registry.api.Models`) is the way in.
"""

"""gapless: one package for the whole production-ML lifecycle.

Heavy parts load on first use, so ``import gapless`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gapless.core.errors import (
    ConfigError,
    ConflictError,
    FilterSyntaxError,
    GaplessError,
    IntegrityError,
    NotFoundError,
    PromotionRefusedError,
    SecurityError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
    ValidationError,
)

if TYPE_CHECKING:
    from gapless.tracking import active_run
    from gapless.workspace import Workspace, start_run

__version__ = "0.1.0"

_LAZY = {
    "Workspace": "gapless.workspace",
    "start_run": "gapless.workspace",
    "active_run": "gapless.tracking",
}

__all__ = [
    "ConfigError",
    "ConflictError",
    "FilterSyntaxError",
    "GaplessError",
    "IntegrityError",
    "NotFoundError",
    "PromotionRefusedError",
    "SecurityError",
    "StoreError",
    "StoreUnavailableError",
    "StoreWriteError",
    "ValidationError",
    "Workspace",
    "__version__",
    "active_run",
    "start_run",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gapless' has no attribute {name!r}")

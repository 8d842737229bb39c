"""One table from the GaplessError tree to HTTP statuses, so no route decides its own.

A bad request is always a 4xx with a JSON body ``{"error": ..., "message": ...}`` that
names the field and row when known; only a failure of ours is a 5xx.
"""

from __future__ import annotations

from typing import Any

from gapless.core.errors import (
    ConfigError,
    ConflictError,
    GaplessError,
    IntegrityError,
    NotFoundError,
    PromotionRefusedError,
    RequestError,
    SecurityError,
    StoreUnavailableError,
    ValidationError,
)

# Most specific first: the first class an error is an instance of decides.
STATUS: tuple[tuple[type[GaplessError], int], ...] = (
    (PromotionRefusedError, 409),
    (ValidationError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SecurityError, 403),
    (IntegrityError, 500),
    (StoreUnavailableError, 503),
    (ConfigError, 500),
    (GaplessError, 500),
)


def status_of(error: GaplessError) -> int:
    if isinstance(error, RequestError):
        return error.status
    return next(status for cls, status in STATUS if isinstance(error, cls))


def error_body(error: GaplessError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    if isinstance(error, RequestError):
        body.update({k: v for k, v in (("field", error.field), ("row", error.row))
                     if v is not None})
    if isinstance(error, PromotionRefusedError):
        body["gates"] = error.gates
    return body

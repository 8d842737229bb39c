"""The one exception tree of gapless.

Every failure a user can act on is a :class:`GaplessError`; foreign exceptions
(SQLAlchemy, fsspec, botocore, YAML, OS errors) are translated at the boundary
that owns them and re-raised ``from`` the original, so callers catch one tree::

    GaplessError                      anything gapless reports to a user
    ├── ConfigError                   bad settings, unknown URI scheme, bad gapless.yaml
    ├── ValidationError               bad input from a user (values, names, specs)
    │   ├── FilterSyntaxError         a run-search filter that does not parse (has .position)
    │   ├── RequestError              a request to the server that cannot be served as sent
    │   └── PromotionRefusedError     a promotion failed its gates (has .gates, every reason)
    ├── NotFoundError                 a named thing (run, experiment, artifact) does not exist
    ├── ConflictError                 the write contradicts what is stored (duplicate, immutable)
    ├── IntegrityError                stored bytes do not match their recorded SHA-256
    ├── SecurityError                 a path escapes its root, an untrusted artifact, a bad key
    └── StoreError                    a store could not do its job
        ├── StoreUnavailableError     the server or folder cannot be reached or opened
        └── StoreWriteError           a write failed; nothing partial was left behind

Messages name the thing, what was expected, what was received and what to do.
Each class carries ``exit_code`` for the CLI (2: the user can fix it).
"""

from __future__ import annotations


class GaplessError(Exception):
    """Base of every error gapless raises on purpose."""

    exit_code: int = 2


class ConfigError(GaplessError):
    """Settings, URIs or gapless.yaml cannot be used as given."""


class ValidationError(GaplessError):
    """A value given by the user is not acceptable."""


class FilterSyntaxError(ValidationError):
    """A search filter does not parse; ``position`` is the 0-based offset of the fault."""

    def __init__(self, message: str, *, text: str, position: int) -> None:
        self.text = text
        self.position = position
        near = text[position : position + 20]
        where = f"near {near!r}" if near else "at the end"
        super().__init__(f"filter {text!r}: {message} at position {position} ({where})")


class PromotionRefusedError(ValidationError):
    """A promotion failed one or more gates; ``gates`` holds every gate's result."""

    def __init__(self, message: str, *, gates: list[dict[str, object]]) -> None:
        self.gates = gates
        super().__init__(message)


class RequestError(ValidationError):
    """A request that cannot be served as sent: ``status`` is the HTTP status it earns (400
    malformed, 413 too large, 415 unsupported media type, 422 against the signature);
    ``field`` and ``row`` say where, when known."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None,
                 row: int | None = None) -> None:
        self.status, self.field, self.row = status, field, row
        super().__init__(message)


class NotFoundError(GaplessError):
    """The named object does not exist."""


class ConflictError(GaplessError):
    """The write contradicts stored state (a duplicate or a change to something immutable)."""


class IntegrityError(GaplessError):
    """Stored bytes do not hash to the digest they were recorded under."""


class SecurityError(GaplessError):
    """The request would break a safety rule (path traversal, untrusted content)."""


class StoreError(GaplessError):
    """A metadata or artifact store failed."""


class StoreUnavailableError(StoreError):
    """A store cannot be reached or opened."""


class StoreWriteError(StoreError):
    """A write did not complete; the store was left as it was before it."""


__all__ = [
    "ConfigError",
    "ConflictError",
    "FilterSyntaxError",
    "GaplessError",
    "IntegrityError",
    "NotFoundError",
    "PromotionRefusedError",
    "RequestError",
    "SecurityError",
    "StoreError",
    "StoreUnavailableError",
    "StoreWriteError",
    "ValidationError",
]

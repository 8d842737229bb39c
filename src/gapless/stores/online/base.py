"""The online-store protocol, the URI-scheme table, and the encoding both backends share.

A stored row is the latest known feature values of one entity key of one view version::

    (view, version, key) -> (event_time, {feature: value})

Writes keep, per key, the row with the latest event time (ties go to the later write),
so re-running a materialization, or running two out of order, leaves the same state.
Values are stored as compact JSON; a compound key is stored as its parts joined by
``KEY_SEPARATOR``, a character no key part may contain.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gapless.core.config import redact_uri
from gapless.core.errors import ConfigError, ValidationError

Key = tuple[str, ...] | str
Row = tuple[Key, float, Mapping[str, Any]]

KEY_SEPARATOR = "\x1f"
EVENT_TIME = "_event_time"

# Scheme -> "module:Class"; imported only when a URI of that scheme is opened.
BACKENDS: dict[str, str] = {
    "sqlite": "gapless.stores.online.sqlite:SQLiteOnlineStore",
    "redis": "gapless.stores.online.redis:RedisOnlineStore",
    "rediss": "gapless.stores.online.redis:RedisOnlineStore",
}


@runtime_checkable
class OnlineStore(Protocol):
    """Latest feature values per (view, version, entity key)."""

    def write(self, view: str, version: int, rows: Iterable[Row]) -> int:
        """Store ``(key, event_time, values)`` rows in one batch; a row older than the one
        stored for its key is skipped. Records the version's freshness. Returns the
        number of rows stored."""
        ...

    def read(self, view: str, version: int, keys: Sequence[Key],
             features: Sequence[str] | None = None) -> list[dict[str, Any] | None]:
        """One dict per key, in key order (None where the key is not stored), holding
        ``features`` (all when None; a feature the row lacks is None) and ``_event_time``.
        One round trip whatever the number of keys."""
        ...

    def drop(self, view: str, version: int | None = None) -> None:
        """Delete one version's rows, or every version of ``view`` when None."""
        ...

    def versions(self, view: str) -> list[int]:
        """The versions of ``view`` that hold rows, ascending."""
        ...

    def freshness(self, view: str, version: int) -> dict[str, Any]:
        """``rows`` stored, ``max_event_time`` and ``written_at`` (epoch seconds) of the
        last write; NotFoundError when the version was never written (or was dropped)."""
        ...

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...


def open_online_store(uri: str, *, timeout: float = 0.5) -> OnlineStore:
    """Open the online store at ``uri`` (``sqlite:///path/online.db`` or
    ``redis://host:6379/0``). ``timeout`` bounds, in seconds, how long a network
    backend may take to connect or answer before StoreUnavailableError."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    target = BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(
            f"unsupported online store URI {redact_uri(uri)!r}; known schemes: "
            f"{', '.join(sorted(BACKENDS))} (e.g. sqlite:///path/online.db or "
            "redis://127.0.0.1:6379/0)"
        )
    module, name = target.split(":")
    backend = getattr(importlib.import_module(module), name)
    return backend(uri, timeout=timeout)  # type: ignore[no-any-return]


def check_view(view: str, version: int | None = None) -> None:
    """Reject view names and versions that cannot be stored unambiguously."""
    if not isinstance(view, str) or not view or KEY_SEPARATOR in view:
        raise ValidationError(
            f"online store: view name {view!r} must be a non-empty text without \\x1f"
        )
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationError(
            f"online store: view `{view}` version must be an integer, got {version!r}"
        )


def encode_key(key: Key) -> str:
    """The stored form of an entity key: its parts joined by ``KEY_SEPARATOR``."""
    parts = (key,) if isinstance(key, str) else key
    if not isinstance(parts, tuple) or not parts:
        raise ValidationError(
            f"online store: entity key {key!r} must be a text or a non-empty tuple of texts"
        )
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError(
                f"online store: entity key {key!r} has part {part!r} of type "
                f"{type(part).__name__}; give every key part as text (str(value))"
            )
        if KEY_SEPARATOR in part:
            raise ValidationError(
                f"online store: entity key {key!r} has a part containing the reserved "
                "separator \\x1f; remove it from the key"
            )
    return parts[0] if len(parts) == 1 else KEY_SEPARATOR.join(parts)


def encode_values(values: Mapping[str, Any], key: Key) -> str:
    """Compact JSON of one row's feature values."""
    try:
        return json.dumps(dict(values), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"online store: the values of key {key!r} cannot be stored as JSON ({exc}); "
            "give numbers, texts, booleans, None, lists or mappings (NaN as None)"
        ) from exc


def encode_rows(rows: Iterable[Row]) -> list[tuple[str, float, str]]:
    """Validate and encode rows to ``(stored key, event time, JSON)``."""
    encoded = []
    for row in rows:
        try:
            key, event_time, values = row
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"online store: expected rows of (key, event_time, values), got {row!r}"
            ) from exc
        if isinstance(event_time, bool) or not isinstance(event_time, int | float) \
                or event_time != event_time:
            raise ValidationError(
                f"online store: key {key!r}: event time must be epoch seconds (a number), "
                f"got {event_time!r}"
            )
        if not isinstance(values, Mapping):
            raise ValidationError(
                f"online store: key {key!r}: values must be a mapping of feature to value, "
                f"got {type(values).__name__}"
            )
        encoded.append((encode_key(key), float(event_time), encode_values(values, key)))
    return encoded


def decode_row(event_time: float, payload: str | bytes,
               features: Sequence[str] | None) -> dict[str, Any]:
    """A stored row as :meth:`OnlineStore.read` returns it."""
    values: dict[str, Any] = json.loads(payload)
    if features is not None:
        values = {name: values.get(name) for name in features}
    values[EVENT_TIME] = event_time
    return values

"""The production online store: Redis (``redis://host:6379/0``).

Layout, under an optional ``?prefix=`` from the URI (default ``gapless:online``), with
``\\x1f`` (which no view name or key part may hold) between the parts::

    PREFIX \\x1f d \\x1f VIEW \\x1f VERSION \\x1f KEY   hash {t: event time, v: JSON values}
    PREFIX \\x1f i \\x1f VIEW \\x1f VERSION           set of the version's stored keys
    PREFIX \\x1f f \\x1f VIEW \\x1f VERSION           hash {max_event_time, written_at}
    PREFIX \\x1f v \\x1f VIEW                       set of the view's versions

A write runs a Lua script per chunk of rows, pipelined: the script compares event
times and updates the index and freshness atomically, so concurrent writers cannot
interleave a stale row. A read is one pipeline of ``HMGET``. Every socket operation
is bounded by ``timeout`` and never retried, so a Redis that is down fails fast with
StoreUnavailableError naming the URI (password redacted).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gapless.core.config import redact_uri
from gapless.core.errors import (
    ConfigError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)
from gapless.stores.online.base import (
    KEY_SEPARATOR,
    Key,
    Row,
    check_view,
    decode_row,
    encode_key,
    encode_rows,
)

# KEYS: index, freshness, versions, then one data key per row.
# ARGV: version, written_at, then (event time, JSON) per row. Returns rows stored.
_WRITE_SCRIPT = """
local stored, newest = 0, nil
for i = 4, #KEYS do
  local t = ARGV[2 * (i - 4) + 3]
  local old = redis.call('HGET', KEYS[i], 't')
  if (not old) or tonumber(old) <= tonumber(t) then
    redis.call('HSET', KEYS[i], 't', t, 'v', ARGV[2 * (i - 4) + 4])
    redis.call('SADD', KEYS[1], KEYS[i])
    stored = stored + 1
  end
  if (not newest) or tonumber(t) > tonumber(newest) then newest = t end
end
if newest then
  local max = redis.call('HGET', KEYS[2], 'max_event_time')
  if (not max) or tonumber(max) < tonumber(newest) then
    redis.call('HSET', KEYS[2], 'max_event_time', newest)
  end
  redis.call('HSET', KEYS[2], 'written_at', ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[1])
end
return stored
"""
_CHUNK = 500
_DEFAULT_PREFIX = "gapless:online"


class RedisOnlineStore:
    """An :class:`~gapless.stores.online.base.OnlineStore` on a Redis server."""

    def __init__(self, uri: str, *, timeout: float = 0.5) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigError(
                f"online store {redact_uri(uri)!r} needs the redis client; "
                "pip install 'gapless[redis]'"
            ) from exc
        self.uri = uri
        self.display_uri = redact_uri(uri)
        self.timeout = timeout
        client_uri, self.prefix = _split_prefix(uri)
        try:
            self._client = redis.Redis.from_url(
                client_uri, socket_connect_timeout=timeout, socket_timeout=timeout,
                retry_on_timeout=False, retry=None,
            )
        except ValueError as exc:
            raise ConfigError(
                f"malformed online store URI {self.display_uri!r}: {exc}; expected "
                "redis://host:6379/0"
            ) from exc
        self._script = self._client.register_script(_WRITE_SCRIPT)
        with self._translated("connect"):
            self._client.ping()

    # -- the protocol ------------------------------------------------------------------
    def write(self, view: str, version: int, rows: Iterable[Row]) -> int:
        check_view(view, version)
        encoded = encode_rows(rows)
        if not encoded:
            return 0
        fixed = [self._key("i", view, version), self._key("f", view, version),
                 self._key("v", view)]
        data = self._key("d", view, version) + KEY_SEPARATOR
        now = repr(time.time())
        with self._translated(f"write to view `{view}@{version}`", write=True):
            pipe = self._client.pipeline(transaction=False)
            for start in range(0, len(encoded), _CHUNK):
                chunk = encoded[start:start + _CHUNK]
                args: list[Any] = [version, now]
                for _, t, value in chunk:
                    args += [repr(t), value]
                self._script(keys=[*fixed, *(data + key for key, _, _ in chunk)],
                             args=args, client=pipe)
            results = pipe.execute()
        return sum(int(stored) for stored in results)

    def read(self, view: str, version: int, keys: Sequence[Key],
             features: Sequence[str] | None = None) -> list[dict[str, Any] | None]:
        check_view(view, version)
        data = self._key("d", view, version) + KEY_SEPARATOR
        names = [data + encode_key(key) for key in keys]
        with self._translated(f"read view `{view}@{version}`"):
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(name, "t", "v")
            found = pipe.execute() if names else []
        return [None if t is None else decode_row(float(t), value, features)
                for t, value in found]

    def drop(self, view: str, version: int | None = None) -> None:
        check_view(view, version)
        with self._translated(f"drop view `{view}`", write=True):
            chosen = self.versions(view) if version is None else [version]
            for number in chosen:
                index = self._key("i", view, number)
                batch: list[bytes] = []
                for name in self._client.sscan_iter(index, count=1000):
                    batch.append(name)
                    if len(batch) >= 1000:
                        self._client.unlink(*batch)
                        batch = []
                if batch:
                    self._client.unlink(*batch)
                self._client.unlink(index, self._key("f", view, number))
                self._client.srem(self._key("v", view), number)

    def versions(self, view: str) -> list[int]:
        check_view(view)
        with self._translated(f"list versions of view `{view}`"):
            members = self._client.smembers(self._key("v", view))
        return sorted(int(member) for member in members)

    def freshness(self, view: str, version: int) -> dict[str, Any]:
        check_view(view, version)
        with self._translated(f"read freshness of view `{view}@{version}`"):
            pipe = self._client.pipeline(transaction=False)
            pipe.hmget(self._key("f", view, version), "max_event_time", "written_at")
            pipe.scard(self._key("i", view, version))
            (newest, written_at), count = pipe.execute()
        if written_at is None:
            raise NotFoundError(
                f"online store {self.display_uri}: view `{view}@{version}` was never written "
                f"(versions stored: {self.versions(view)}); materialize it first"
            )
        return {"rows": int(count), "max_event_time": float(newest),
                "written_at": float(written_at)}

    def close(self) -> None:
        self._client.close()

    # -- internals ---------------------------------------------------------------------
    def _key(self, kind: str, view: str, version: int | None = None) -> str:
        parts = [self.prefix, kind, view] + ([] if version is None else [str(version)])
        return KEY_SEPARATOR.join(parts)

    @contextmanager
    def _translated(self, action: str, *, write: bool = False) -> Iterator[None]:
        import redis

        try:
            yield
        except redis.AuthenticationError as exc:
            raise StoreUnavailableError(
                f"online store {self.display_uri}: Redis refused the credentials ({exc}); "
                "check the user and password in online_uri"
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(
                f"online store {self.display_uri}: cannot {action}: Redis did not answer "
                f"(timeout {self.timeout:g}s): {exc}; check that Redis is running and the "
                "URI is right"
            ) from exc
        except redis.RedisError as exc:
            error = StoreWriteError if write else StoreError
            raise error(f"online store {self.display_uri}: {action} failed: {exc}") from exc


def _split_prefix(uri: str) -> tuple[str, str]:
    """The URI without its ``prefix`` query parameter, and the prefix."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), _DEFAULT_PREFIX)
    if not prefix or KEY_SEPARATOR in prefix:
        raise ConfigError(f"online store URI {redact_uri(uri)!r}: prefix must be a non-empty "
                          "text without \\x1f")
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix

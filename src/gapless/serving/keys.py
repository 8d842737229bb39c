"""API keys of the REST server: created once, stored as a salted hash, checked per request.

A key is the token ``gl_<key_id>_<secret>``: ``key_id`` is 12 lowercase letters and
digits, public, and names the row; ``secret`` is 32 random bytes in url-safe base64
(256 bits). The token is returned by :meth:`ApiKeys.create` once and never stored:
the row holds only a random per-key ``salt`` and ``HMAC-SHA256(salt, secret)``.

Why a fast hash and not scrypt or PBKDF2: slow KDFs exist to make guessing
low-entropy passwords expensive. A 256-bit random secret cannot be guessed at any
hash speed, so stretching would buy no security and would cost milliseconds on every
request. The salt still makes each stored hash unique, so a leaked table offers no
precomputation across keys. Comparisons use :func:`hmac.compare_digest`.

Scopes, a fixed rule (:func:`allows`)::

    admin   everything: admin, deploy, read, predict
    deploy  deploy and read (changing routing needs seeing what is deployed)
    read    read only
    predict predict only (a client scoring requests sees nothing else)

Verification is on the request path, so :class:`ApiKeys` keeps each verdict, good or
bad, in memory for ``ttl`` seconds (default 5): a revocation reaches every worker
within that time without a database read per request. ``last_used_at`` is written at
most once per ``touch_interval`` (default 60 s) per key, never on every request.
Secrets and hashes are never logged and never part of a repr.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from gapless.core.errors import GaplessError, NotFoundError, ValidationError
from gapless.core.identity import current_user
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import api_keys

log = logging.getLogger(__name__)

SCOPES = ("read", "predict", "deploy", "admin")
# What each scope grants; see the module docstring.
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "predict": frozenset({"predict"}),
    "deploy": frozenset({"deploy", "read"}),
    "admin": frozenset(SCOPES),
}
PREFIX = "gl"
MAX_NAME = 128
DEFAULT_TTL = 5.0
DEFAULT_TOUCH_INTERVAL = 60.0
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 12
_SECRET_BYTES = 32
_TOKEN = re.compile(rf"{PREFIX}_([a-z0-9]{{{_ID_LENGTH}}})_([A-Za-z0-9_-]{{40,128}})")
_MAX_TOKEN = 160
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class ApiKey:
    """A stored API key as callers see it: never its secret, salt or hash."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    revoked: bool
    created_by: str
    created_at: float
    last_used_at: float | None


def allows(key: ApiKey, scope: str) -> bool:
    """Whether ``key`` grants ``scope`` under the rule in the module docstring.

    A revoked key grants nothing; an unknown ``scope`` is a ValidationError.
    """
    _check_scope(scope)
    return not key.revoked and any(scope in GRANTS[held] for held in key.scopes)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None if absent."""
    if not header:
        return None
    kind, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if kind.lower() == "bearer" and token else None


class ApiKeys:
    """The API keys of one metadata store: create, list, revoke, and verify a token.

    One instance should serve a process (its cache is per instance). ``ttl`` is how long
    a verdict is reused and so how late a revocation may apply; ``touch_interval`` how
    often ``last_used_at`` may be written per key; ``clock`` (monotonic seconds) is
    injectable for tests.
    """

    def __init__(self, store: MetadataStore, *, ttl: float = DEFAULT_TTL,
                 touch_interval: float = DEFAULT_TOUCH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.touch_interval = touch_interval
        self.clock = clock
        self._lock = threading.Lock()
        # sha256(token) -> (key or None for a refused token, when it was checked)
        self._verdicts: OrderedDict[bytes, tuple[ApiKey | None, float]] = OrderedDict()
        self._touched: dict[str, float] = {}

    def create(self, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
        """Store a new key; return its record and the token, which cannot be had again."""
        name = _check_name(name)
        wanted = _check_scopes(scopes)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        salt = secrets.token_hex(16)
        row = {"name": name, "scopes": ",".join(wanted), "salt": salt,
               "key_hash": _hash(salt, secret), "revoked": False,
               "created_by": current_user()[:128], "created_at": time.time(),
               "last_used_at": None}

        def work(conn: sa.Connection) -> str:
            while True:  # a 62-bit id collides only in theory; draw again if it does
                key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
                taken = conn.execute(sa.select(api_keys.c.key_id)
                                     .where(api_keys.c.key_id == key_id)).first()
                if taken is None:
                    conn.execute(api_keys.insert().values(key_id=key_id, **row))
                    return key_id

        key_id = self.store.write(work)
        log.info("created API key %s (%s) with scopes %s", key_id, name, row["scopes"])
        return self.get(key_id), f"{PREFIX}_{key_id}_{secret}"

    def get(self, key_id: str) -> ApiKey:
        """The key ``key_id``; NotFoundError if there is none."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} does not exist; `gapless keys list` "
                                "shows the keys of this workspace")
        return _record(row)

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(api_keys)
                                .order_by(api_keys.c.created_at, api_keys.c.key_id)).all()
        return [_record(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke ``key_id`` for good (again is a no-op); NotFoundError if it does not exist.

        This process stops accepting it at once, other processes within ``ttl`` seconds.
        """

        def work(conn: sa.Connection) -> int:
            return conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                                .values(revoked=True)).rowcount

        if not self.store.write(work):
            raise NotFoundError(f"API key {key_id!r} does not exist; `gapless keys list` "
                                "shows the keys of this workspace")
        with self._lock:
            for digest in [d for d, (key, _) in self._verdicts.items()
                           if key is not None and key.key_id == key_id]:
                del self._verdicts[digest]
        log.info("revoked API key %s", key_id)
        return self.get(key_id)

    def verify(self, token: str) -> ApiKey | None:
        """The live key ``token`` belongs to, or None (malformed, unknown, revoked, wrong
        secret). Never raises for a bad token; a failing store raises its StoreError."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN:
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        now = self.clock()
        with self._lock:
            cached = self._verdicts.get(digest)
        if cached is not None and now - cached[1] < self.ttl:
            key = cached[0]
        else:
            key = self._check(*match.groups())
            self._remember(digest, key, now)
        if key is not None:
            self._touch(key.key_id, now)
        return key

    # -- helpers ------------------------------------------------------------------------
    def _check(self, key_id: str, secret: str) -> ApiKey | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or row.revoked:
            return None
        if not hmac.compare_digest(_hash(row.salt, secret), row.key_hash):
            return None
        return _record(row)

    def _remember(self, digest: bytes, key: ApiKey | None, now: float) -> None:
        with self._lock:
            self._verdicts[digest] = (key, now)
            self._verdicts.move_to_end(digest)
            while len(self._verdicts) > _CACHE_SIZE:
                self._verdicts.popitem(last=False)

    def _touch(self, key_id: str, now: float) -> None:
        """Record use of ``key_id`` in the store, at most once per ``touch_interval``."""
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now - last < self.touch_interval:
                return
            self._touched[key_id] = now
        wall = time.time()

        def work(conn: sa.Connection) -> None:
            # The condition keeps several workers from each writing within one interval.
            conn.execute(api_keys.update().where(
                api_keys.c.key_id == key_id,
                sa.or_(api_keys.c.last_used_at.is_(None),
                       api_keys.c.last_used_at < wall - self.touch_interval),
            ).values(last_used_at=wall))

        try:
            self.store.write(work)
        except GaplessError as exc:  # usage stamps are best effort; the request goes on
            log.warning("could not record use of API key %s: %s", key_id, exc)


def _hash(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def _record(row: sa.Row) -> ApiKey:
    return ApiKey(key_id=row.key_id, name=row.name,
                  scopes=tuple(s for s in row.scopes.split(",") if s), revoked=bool(row.revoked),
                  created_by=row.created_by, created_at=row.created_at,
                  last_used_at=row.last_used_at)


def _check_scope(scope: str) -> str:
    if scope not in GRANTS:
        raise ValidationError(f"API key scope {scope!r} is not known; "
                              f"use one of: {', '.join(SCOPES)}")
    return scope


def _check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = [scopes]
    given = {_check_scope(scope) for scope in scopes}
    if not given:
        raise ValidationError(f"an API key needs at least one scope; "
                              f"use one or more of: {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in given)


def _check_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise ValidationError(f"API key name {name!r} is not valid: give 1 to {MAX_NAME} "
                              "printable characters, e.g. --name ci-deployer")
    return cleaned

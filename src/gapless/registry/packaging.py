"""Model files: packed with skops, optionally encrypted, loaded only when verified.

Loading goes through three checks in order: the artifact store verified the stored
bytes against their SHA-256 on read; an encrypted file is opened with the workspace
key (which must be the key it was sealed with); the plain file must hash to the
version's ``model_digest``. Only then is it deserialized — with skops and trusted
types only, or, for a pickle a user explicitly trusted at import, with pickle.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import IntegrityError, SecurityError
from gapless.registry.encryption import ModelCipher, is_encrypted, key_id_of

FORMATS = ("skops", "pickle")
# What a pickle stream starts with (protocol 2+), and joblib's zlib/compressed variants.
_PICKLE_HEADS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"x\x9c", b"x\xda")


@dataclass(frozen=True)
class Packed:
    """A model file ready to store: its bytes (maybe ciphertext) and the plain digest."""

    data: bytes
    model_digest: str
    encrypted: bool
    format: str = "skops"


def cipher_for(key: str | None) -> ModelCipher | None:
    return ModelCipher.from_key(key) if key else None


def pack(model: Any, cipher: ModelCipher | None) -> Packed:
    """Serialize with skops (never pickle) and seal it when a key is configured."""
    from gapless.training.persist import dumps

    return seal(dumps(model), cipher)


def seal(plain: bytes, cipher: ModelCipher | None, *, format: str = "skops") -> Packed:
    digest = hashlib.sha256(plain).hexdigest()
    if cipher is None:
        return Packed(plain, digest, False, format)
    return Packed(cipher.encrypt(plain), digest, True, format)


def plain_bytes(data: bytes, cipher: ModelCipher | None, *, what: str) -> bytes:
    """The model file inside ``data``: decrypted when it was sealed."""
    if not is_encrypted(data):
        return data
    if cipher is None:
        raise SecurityError(
            f"{what} is encrypted (key id {key_id_of(data)}); set GAPLESS_ENCRYPTION_KEY to "
            "the key it was encrypted with"
        )
    return cipher.decrypt(data, what=what)


def unpack(data: bytes, *, cipher: ModelCipher | None, what: str, format: str = "skops",
           model_digest: str | None = None, trusted_pickle: bool = False) -> Any:
    """Decrypt, verify and deserialize a stored model file."""
    plain = plain_bytes(data, cipher, what=what)
    if model_digest is not None and hashlib.sha256(plain).hexdigest() != model_digest:
        raise IntegrityError(f"{what}: the model file does not hash to its recorded SHA-256 "
                             f"{model_digest[:12]}…; it was altered after registration")
    if format == "pickle":
        if not trusted_pickle:
            raise SecurityError(f"{what} is a pickle nobody vouched for; it was not loaded")
        return pickle.loads(plain)  # noqa: S301 - trusted explicitly at import (see trusted_by)
    if looks_like_pickle(plain):
        raise SecurityError(
            f"{what} is a pickle, which can run arbitrary code when loaded; it was not loaded "
            "(import it with `gapless models import FILE --trust` only if you trust its origin)"
        )
    from gapless.training.persist import loads

    return loads(plain, what=what)


def looks_like_pickle(data: bytes) -> bool:
    return data[:2] in _PICKLE_HEADS

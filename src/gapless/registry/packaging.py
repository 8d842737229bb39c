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
# A skops file is a zip archive; anything else offered as a model is treated as a pickle
# or joblib file (every protocol, every compression), i.e. as code that must not run.
_ZIP_HEAD = b"PK\x03\x04"


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
    _refuse_untrusted_pickle(plain, format=format, trusted_pickle=trusted_pickle, what=what)
    if format == "pickle":
        return pickle.loads(plain)  # noqa: S301 - trusted explicitly at import (see trusted_by)
    from gapless.training.persist import loads

    return loads(plain, what=what)


def check_loadable(plain: bytes, *, what: str, format: str = "skops",
                   trusted_pickle: bool = False) -> None:
    """Refuse, without building the model, a file that :func:`unpack` would refuse."""
    _refuse_untrusted_pickle(plain, format=format, trusted_pickle=trusted_pickle, what=what)
    if format == "skops":
        from gapless.training.persist import check_types

        check_types(plain, what=what)


def _refuse_untrusted_pickle(plain: bytes, *, format: str, trusted_pickle: bool,
                             what: str) -> None:
    if format == "pickle" and not trusted_pickle:
        raise SecurityError(f"{what} is a pickle nobody vouched for; it was not loaded")
    if format != "pickle" and looks_like_pickle(plain):
        raise SecurityError(
            f"{what} is not a skops file but a pickle/joblib file (or something else), which "
            "can run arbitrary code when loaded; it was not loaded (import it with `gapless "
            "models import FILE --trust` only if you trust its origin)"
        )


def looks_like_pickle(data: bytes) -> bool:
    """Not a skops (zip) file: pickle, joblib in any compression, or something worse."""
    return data[:4] != _ZIP_HEAD

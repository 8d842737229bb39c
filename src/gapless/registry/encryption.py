"""Encryption at rest for model files: AES-256-GCM with the workspace key.

The key comes from ``GAPLESS_ENCRYPTION_KEY`` (never from gapless.yaml): 32 random
bytes, URL-safe base64 (``gapless models new-key`` prints one). A sealed file starts
with a header naming the key by a short id (a hash, not the key), so loading with the
wrong key says which key is needed instead of failing obscurely; the header is
authenticated with the ciphertext, so neither can be swapped or edited unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from gapless.core.errors import ConfigError, IntegrityError, SecurityError

MAGIC = b"GLENC1\0"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER = len(MAGIC) + _KEY_ID_BYTES + _NONCE_BYTES


def generate_key() -> str:
    """A new random key, ready for ``GAPLESS_ENCRYPTION_KEY``."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def is_encrypted(data: bytes) -> bool:
    return data[: len(MAGIC)] == MAGIC


def key_id_of(data: bytes) -> str:
    """The id of the key a sealed payload needs."""
    return data[len(MAGIC): len(MAGIC) + _KEY_ID_BYTES].hex()


class ModelCipher:
    """Seals and opens model files with one key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)
        self._key_id = hashlib.sha256(b"gapless-key-id\0" + key).digest()[:_KEY_ID_BYTES]

    @classmethod
    def from_key(cls, text: str) -> ModelCipher:
        try:
            key = base64.urlsafe_b64decode(text.strip().encode("ascii") + b"==")
        except (binascii.Error, ValueError, UnicodeEncodeError):
            key = b""
        if len(key) != 32:
            raise ConfigError(
                "GAPLESS_ENCRYPTION_KEY must be 32 random bytes in URL-safe base64 "
                "(44 characters); create one with `gapless models new-key`"
            )
        return cls(key)

    @property
    def key_id(self) -> str:
        return self._key_id.hex()

    def encrypt(self, data: bytes) -> bytes:
        header = MAGIC + self._key_id + os.urandom(_NONCE_BYTES)
        return header + self._aead.encrypt(header[-_NONCE_BYTES:], data, header)

    def decrypt(self, data: bytes, *, what: str = "model") -> bytes:
        from cryptography.exceptions import InvalidTag

        if not is_encrypted(data) or len(data) < _HEADER + 16:
            raise IntegrityError(f"{what} is not an encrypted gapless file (or is truncated)")
        needed = key_id_of(data)
        if needed != self.key_id:
            raise SecurityError(
                f"{what} was encrypted with key id {needed}, but GAPLESS_ENCRYPTION_KEY has "
                f"id {self.key_id}; set the key it was encrypted with"
            )
        header = data[:_HEADER]
        try:
            return self._aead.decrypt(header[-_NONCE_BYTES:], data[_HEADER:], header)
        except InvalidTag:
            raise IntegrityError(
                f"{what} failed authentication: the encrypted bytes were altered or truncated"
            ) from None

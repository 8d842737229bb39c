"""Content-addressed artifact store: objects live under their SHA-256, reads verify it.

Written once above every byte store: hashing, de-duplication, verification and the
spooling that makes writes atomic. A blob is stored before anyone records its
digest, so a failed upload never leaves a record that points at nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gapless.core.errors import IntegrityError, NotFoundError, StoreWriteError
from gapless.core.refs import check_digest
from gapless.stores.bytestores import ByteStore, open_byte_store

CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """A stored object: its SHA-256 and size in bytes."""

    digest: str
    size: int


def blob_key(digest: str) -> str:
    digest = check_digest(digest)
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def hash_file(path: str | os.PathLike[str]) -> Blob:
    """SHA-256 and size of a local file, read in chunks."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return Blob(sha.hexdigest(), size)


class ArtifactStore:
    """Puts and gets immutable blobs by digest over any :class:`ByteStore`."""

    def __init__(self, bytes_store: ByteStore) -> None:
        self.bytes = bytes_store

    @classmethod
    def open(cls, uri: str, options: Mapping[str, Any] | None = None) -> ArtifactStore:
        return cls(open_byte_store(uri, options))

    @property
    def location(self) -> str:
        return self.bytes.location

    def put_file(self, path: str | os.PathLike[str], *, hashed: Blob | None = None) -> Blob:
        """Store a local file; a blob with the same content is stored once.

        ``hashed`` passes a digest the caller computed itself over this very file (a
        file it just wrote), saving a second read of a large snapshot.
        """
        source = Path(path)
        if not source.is_file():
            raise NotFoundError(f"cannot store {source}: no such file")
        blob = hashed or hash_file(source)
        key = blob_key(blob.digest)
        if not self.bytes.exists(key):
            self.bytes.put_file(source, key)
        return blob

    def put_bytes(self, data: bytes) -> Blob:
        return self.put_stream(io.BytesIO(data))

    def put_stream(self, stream: BinaryIO) -> Blob:
        """Spool a stream to a temporary file while hashing it, then store that file.

        If reading the stream fails part-way, nothing reaches the store.
        """
        with tempfile.TemporaryDirectory(prefix="gapless-spool-") as tmp:
            spool = Path(tmp) / "blob"
            try:
                with open(spool, "wb") as out:
                    shutil.copyfileobj(stream, out, CHUNK)
            except OSError as exc:
                raise StoreWriteError(
                    f"cannot spool artifact to {tmp}: {exc}; nothing was stored"
                ) from exc
            return self.put_file(spool)

    def exists(self, digest: str) -> bool:
        return self.bytes.exists(blob_key(digest))

    def get_bytes(self, digest: str) -> bytes:
        """The blob's content, after checking it hashes to ``digest``."""
        with self.bytes.open(blob_key(digest)) as handle:
            data = handle.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _mismatch(digest, actual, self.location)
        return data

    def download(self, digest: str, target: str | os.PathLike[str]) -> Path:
        """Copy the blob to ``target``, verifying while streaming; on a mismatch nothing
        is left at ``target``."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.gapless-partial")
        sha = hashlib.sha256()
        try:
            with self.bytes.open(blob_key(digest)) as src, open(tmp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    sha.update(chunk)
                    dst.write(chunk)
            if sha.hexdigest() != digest:
                raise _mismatch(digest, sha.hexdigest(), self.location)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


def _mismatch(expected: str, actual: str, location: str) -> IntegrityError:
    return IntegrityError(
        f"artifact sha256:{expected} in {location} is corrupt: its content hashes to "
        f"sha256:{actual}; restore it from a backup or log it again"
    )


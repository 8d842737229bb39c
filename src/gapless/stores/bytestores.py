"""The byte layer of the artifact store: put, read, test and delete whole objects by key.

A byte store knows nothing of hashing; :mod:`gapless.stores.artifacts` adds that once,
above every backend. Backends are chosen from the URI scheme through
:data:`BYTE_STORES`, imported lazily, so a local workspace never imports fsspec's
S3 driver. Keys are checked by :func:`~gapless.core.refs.safe_relative_path` before
they touch a path.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gapless.core.errors import (
    ConfigError,
    NotFoundError,
    SecurityError,
    StoreUnavailableError,
    StoreWriteError,
)
from gapless.core.refs import safe_relative_path


class ByteStore(Protocol):
    """Whole-object storage by relative key. Implementations must make ``put_file`` atomic:
    after a failure the key is absent or holds its previous complete content."""

    location: str

    def put_file(self, source: Path, key: str) -> None: ...

    def open(self, key: str) -> Any: ...  # a context manager yielding a binary file

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


class LocalByteStore:
    """A folder on the local disk; writes go to ``.tmp/`` and are renamed into place."""

    def __init__(self, location: str, options: Mapping[str, Any] | None = None) -> None:
        self.root = Path(location).expanduser().resolve()
        self.location = str(self.root)
        try:
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot create the artifact folder {self.root}: {exc.strerror or exc}; "
                "choose a writable artifact_uri"
            ) from exc

    def path(self, key: str) -> Path:
        target = (self.root / safe_relative_path(key, what="artifact key")).resolve()
        if not target.is_relative_to(self.root):
            raise SecurityError(f"artifact key {key!r} resolves outside {self.root}")
        return target

    def put_file(self, source: Path, key: str) -> None:
        target = self.path(key)
        tmp = self.root / ".tmp" / uuid.uuid4().hex
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write artifact {key!r} under {self.root}: {exc.strerror or exc}; "
                "check the folder is writable and has free space"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        path = self.path(key)
        if not path.is_file():
            raise NotFoundError(f"artifact {key!r} is not in {self.root}")
        with open(path, "rb") as handle:
            yield handle

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


class FsspecByteStore:
    """Any fsspec filesystem (S3, GCS, Azure, memory). Objects are uploaded whole, so a
    failed upload leaves no object; ``options`` go to the filesystem (e.g. endpoint_url)."""

    def __init__(self, location: str, options: Mapping[str, Any] | None = None) -> None:
        import fsspec

        self.location = location.rstrip("/")
        protocol = self.location.split("://", 1)[0]
        opts = dict(options or {})
        if protocol == "s3" and "endpoint_url" in opts:
            opts.setdefault("client_kwargs", {})["endpoint_url"] = opts.pop("endpoint_url")
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.location, **opts)
        except ImportError as exc:
            raise ConfigError(
                f"artifact store {self.location!r} needs an fsspec driver that is not "
                f"installed ({exc.name or exc}); pip install 'gapless[{protocol}]'"
            ) from exc
        self.base = self.base.rstrip("/")

    def _full(self, key: str) -> str:
        return f"{self.base}/{safe_relative_path(key, what='artifact key')}"

    def put_file(self, source: Path, key: str) -> None:
        full = self._full(key)
        try:
            self.fs.put_file(str(source), full)
        except Exception as exc:  # drivers raise OSError, botocore and aiohttp errors alike
            raise StoreWriteError(
                f"cannot upload artifact {key!r} to {self.location}: {exc}; "
                "check the bucket exists, the credentials and the endpoint"
            ) from exc

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        full = self._full(key)
        try:
            handle = self.fs.open(full, "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact {key!r} is not in {self.location}") from exc
        except Exception as exc:
            raise StoreUnavailableError(
                f"cannot read artifact {key!r} from {self.location}: {exc}"
            ) from exc
        with handle:
            yield handle

    def exists(self, key: str) -> bool:
        full = self._full(key)
        try:
            return bool(self.fs.exists(full))
        except Exception as exc:
            raise StoreUnavailableError(
                f"cannot reach artifact store {self.location}: {exc}"
            ) from exc

    def delete(self, key: str) -> None:
        if self.exists(key):
            self.fs.rm_file(self._full(key))


# URI scheme -> "module:Class", imported only when a workspace uses it.
BYTE_STORES: dict[str, str] = {
    "file": "gapless.stores.bytestores:LocalByteStore",
    "s3": "gapless.stores.bytestores:FsspecByteStore",
    "gs": "gapless.stores.bytestores:FsspecByteStore",
    "gcs": "gapless.stores.bytestores:FsspecByteStore",
    "az": "gapless.stores.bytestores:FsspecByteStore",
    "abfs": "gapless.stores.bytestores:FsspecByteStore",
    "memory": "gapless.stores.bytestores:FsspecByteStore",
}


def open_byte_store(uri: str, options: Mapping[str, Any] | None = None) -> ByteStore:
    """Pick the byte store for ``uri`` by its scheme (a plain path means a local folder)."""
    import importlib

    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError(f"artifact_uri must be a path or URI, got {uri!r}")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else "file"
    if scheme not in BYTE_STORES:
        raise ConfigError(
            f"unknown artifact store scheme {scheme!r} in {uri!r}; "
            f"known schemes: {', '.join(sorted(BYTE_STORES))} (or a plain folder path)"
        )
    location = uri[len("file://") :] if scheme == "file" and "://" in uri else uri
    module_name, class_name = BYTE_STORES[scheme].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(location, options)

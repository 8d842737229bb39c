"""One behaviour suite for the artifact store, run on a local folder and on S3 (moto server)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from gapless import IntegrityError, NotFoundError, SecurityError, StoreWriteError
from gapless.stores.artifacts import ArtifactStore, blob_key


@pytest.fixture
def store(artifact_location: tuple[str, dict]) -> ArtifactStore:
    uri, options = artifact_location
    return ArtifactStore.open(uri, options)


def _corrupt(store: ArtifactStore, digest: str, content: bytes, tmp_path: Path) -> None:
    """Overwrite a stored blob behind the store's back, as bit rot or an intruder would."""
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    store.bytes.put_file(bad, blob_key(digest))


def test_put_and_get_round_trip_under_the_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"model bytes \x00\x01" * 1000
    blob = store.put_bytes(data)
    assert blob.digest == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert store.exists(blob.digest)
    assert store.get_bytes(blob.digest) == data
    target = store.download(blob.digest, tmp_path / "out" / "model.bin")
    assert target.read_bytes() == data


def test_identical_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    second = tmp_path / "b.txt"
    first.write_text("same")
    second.write_text("same")
    assert store.put_file(first) == store.put_file(second) == store.put_bytes(b"same")


def test_large_file_streams_through(store: ArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, several read chunks
    path.write_bytes(payload)
    blob = store.put_file(path)
    assert store.download(blob.digest, tmp_path / "copy.bin").read_bytes() == payload


def test_reads_verify_the_hash(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"the real content")
    _corrupt(store, blob.digest, b"tampered content", tmp_path)
    with pytest.raises(IntegrityError, match=blob.digest):
        store.get_bytes(blob.digest)
    target = tmp_path / "restored.bin"
    with pytest.raises(IntegrityError):
        store.download(blob.digest, target)
    assert not target.exists()
    assert list(tmp_path.glob("*partial*")) == []


def test_missing_blob_is_not_found(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(digest)
    with pytest.raises(NotFoundError):
        store.get_bytes(digest)


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "C:/x", "a\\..\\b",
                                 "s3://other-bucket/x", "a/\x00/b"])
def test_no_key_escapes_the_root(store: ArtifactStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_text("x")
    with pytest.raises(SecurityError):
        store.bytes.put_file(source, key)
    with pytest.raises(SecurityError):
        store.bytes.exists(key)


def test_a_stream_failing_half_way_stores_nothing(store: ArtifactStore) -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls > 3:
                raise OSError("connection reset while reading the upload")
            buffer[: len(buffer)] = b"x" * len(buffer)
            return len(buffer)

    with pytest.raises(StoreWriteError, match="nothing was stored"):
        store.put_stream(io.BufferedReader(Failing(), buffer_size=1024))
    assert _stored_files(store) == []


def _stored_files(store: ArtifactStore) -> list[str]:
    """Every object under the store's root, temporary files included."""
    if hasattr(store.bytes, "fs"):
        return list(store.bytes.fs.find(store.bytes.base))
    return [str(p) for p in Path(store.bytes.location).rglob("*") if p.is_file()]

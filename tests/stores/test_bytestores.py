from __future__ import annotations

import os
from pathlib import Path

import pytest

from gapless import ConfigError, SecurityError, StoreUnavailableError, StoreWriteError
from gapless.stores.bytestores import LocalByteStore, open_byte_store


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown artifact store scheme 'ftp'.*known.*s3"):
        open_byte_store("ftp://host/path")


def test_plain_paths_and_file_uris_are_local(tmp_path: Path) -> None:
    assert isinstance(open_byte_store(str(tmp_path / "a")), LocalByteStore)
    assert isinstance(open_byte_store(f"file://{tmp_path}/b"), LocalByteStore)


def test_unwritable_artifact_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailableError, match="a-file"):
        LocalByteStore(str(blocker / "artifacts"))


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    store = LocalByteStore(str(tmp_path / "root"))
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "root" / "link")
    source = tmp_path / "f"
    source.write_text("x")
    with pytest.raises(SecurityError, match="outside"):
        store.put_file(source, "link/escaped.txt")
    assert list(outside.iterdir()) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalByteStore(str(tmp_path / "root"))
    (tmp_path / "root" / "taken").mkdir()  # a folder where the object should go
    (tmp_path / "root" / "taken" / "child").write_text("keep me")
    source = tmp_path / "f"
    source.write_text("x")
    with pytest.raises(StoreWriteError, match="taken"):
        store.put_file(source, "taken")
    assert list((tmp_path / "root" / ".tmp").iterdir()) == []
    assert (tmp_path / "root" / "taken" / "child").read_text() == "keep me"

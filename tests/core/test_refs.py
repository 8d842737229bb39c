from __future__ import annotations

import pytest

from gapless import SecurityError, ValidationError
from gapless.core.refs import check_digest, safe_relative_path


@pytest.mark.parametrize("name, expected", [
    ("model.skops", "model.skops"), ("a/b/c.txt", "a/b/c.txt"), ("./a//b/", "a/b"),
])
def test_safe_relative_paths_are_normalised(name: str, expected: str) -> None:
    assert safe_relative_path(name) == expected


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/abs", "C:/win", "a\\b", "s3://b/k",
                                  "a\x00b"])
def test_escaping_paths_are_refused(name: str) -> None:
    with pytest.raises(SecurityError):
        safe_relative_path(name)


@pytest.mark.parametrize("name", ["", "  ", ".", "./"])
def test_empty_paths_are_invalid(name: str) -> None:
    with pytest.raises(ValidationError):
        safe_relative_path(name)


def test_digests_must_be_sha256_hex() -> None:
    assert check_digest("a" * 64) == "a" * 64
    for bad in ["A" * 64, "a" * 63, "../" + "a" * 61, 5]:
        with pytest.raises(ValidationError):
            check_digest(bad)  # type: ignore[arg-type]

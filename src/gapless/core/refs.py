"""Names and references: ``name@version`` refs, SHA-256 digests and safe relative paths.

Every name that becomes part of a storage path passes through
:func:`safe_relative_path` first, so no user-supplied name can point outside
the root it is stored under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gapless.core.errors import SecurityError, ValidationError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a lowercase hex SHA-256, else raise ValidationError."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ValidationError(
            f"expected a SHA-256 digest (64 lowercase hex characters), got {digest!r}"
        )
    return digest


def safe_relative_path(name: str, *, what: str = "path") -> str:
    """Normalise ``name`` to a relative POSIX path that cannot leave its root.

    Rejects absolute paths, ``..`` components, backslashes, drive letters, NUL and
    empty names with a SecurityError (traversal) or ValidationError (malformed).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}")
    if "\x00" in name or "\\" in name:
        raise SecurityError(f"{what} {name!r} contains a NUL or backslash; use '/' separators")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "://" in name:
        raise SecurityError(f"{what} {name!r} is absolute; give a path relative to the store")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise SecurityError(f"{what} {name!r} contains '..'; it would escape its root")
    if not parts:
        raise ValidationError(f"{what} {name!r} names no file")
    return "/".join(parts)


_NAME = re.compile(r"^[A-Za-z0-9][\w\-.]{0,249}$")


@dataclass(frozen=True)
class Ref:
    """``name@selector``: a version number (``sales@3``), ``latest``, or an alias."""

    name: str
    selector: str = "latest"

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector.isdigit() else None

    def __str__(self) -> str:
        return f"{self.name}@{self.selector}"


def check_name(name: str, *, what: str = "name") -> str:
    """Names of datasets and models: letters, digits, ``_ - .``; start with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"{what} {name!r} is not valid: use up to 250 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def parse_ref(text: str, *, what: str = "reference") -> Ref:
    """Parse ``name``, ``name@3``, ``name@latest`` or ``name@alias``; a bare name means latest."""
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be text like 'sales@3', got {text!r}")
    name, _, selector = text.partition("@")
    check_name(name, what=what)
    selector = selector or "latest"
    if not re.match(r"^[A-Za-z0-9][\w\-]*$", selector):
        raise ValidationError(
            f"{what} {text!r}: after '@' give a version number, 'latest' or an alias"
        )
    if selector.isdigit() and int(selector) < 1:
        raise ValidationError(f"{what} {text!r}: versions start at 1")
    return Ref(name, selector.lower() if selector.lower() == "latest" else selector)

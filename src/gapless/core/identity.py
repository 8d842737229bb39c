"""Who is acting: recorded as ``created_by``/``user`` on runs, versions and audit entries."""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    """``GAPLESS_USER`` if set (service accounts, CI), else the login name."""
    explicit = os.environ.get("GAPLESS_USER")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"

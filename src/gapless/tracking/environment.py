"""What a run records about where it ran: git commit and dirty flag, Python, packages, host."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

# Packages whose versions decide whether a model can be reproduced.
TRACKED_PACKAGES = ("gapless", "numpy", "pandas", "scikit-learn", "scipy", "sqlalchemy",
                    "pyarrow", "lightgbm", "xgboost", "torch")


def capture_environment(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The code and machine a run executes on: git commit and dirty flag, Python, packages."""
    commit, dirty = git_state(cwd)
    return {
        "git_commit": commit,
        "git_dirty": dirty if commit else None,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "host": socket.gethostname(),
        "source": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "",
        "packages": package_versions(),
    }


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state(cwd: str | os.PathLike[str] | None = None) -> tuple[str | None, bool]:
    """(HEAD commit, whether tracked files differ from it), or (None, False) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None, False
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit.stdout.strip(), bool(status.stdout.strip())

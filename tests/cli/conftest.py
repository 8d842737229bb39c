"""Run the real ``gapless`` command in a child process (for exit codes and stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def gapless_cli() -> Cli:
    def run(*args: str, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAPLESS_")}
        return subprocess.run([sys.executable, "-m", "gapless.cli.main", *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=timeout)

    return run

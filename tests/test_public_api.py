"""The public surface is pinned, and importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import gapless

PUBLIC = [
    "ConfigError", "ConflictError", "FilterSyntaxError", "GaplessError", "IntegrityError",
    "NotFoundError", "PromotionRefusedError",
    "SecurityError", "StoreError", "StoreUnavailableError", "StoreWriteError",
    "ValidationError", "Workspace", "__version__", "active_run", "start_run",
]
HEAVY = ["optuna", "dask", "plotly", "shap", "fastapi", "sqlalchemy", "pandas", "sklearn",
         "alembic", "fsspec"]


def test_all_is_sorted_and_pinned() -> None:
    assert gapless.__all__ == sorted(gapless.__all__) == PUBLIC
    for name in gapless.__all__:
        assert getattr(gapless, name) is not None


def _modules_loaded_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.strip().splitlines()[-1])}


def test_import_gapless_loads_no_heavy_library() -> None:
    assert not _modules_loaded_by("import gapless") & set(HEAVY)


def test_cli_help_loads_no_heavy_library() -> None:
    code = ("import sys; sys.argv=['gapless','--help']\n"
            "from gapless.cli.main import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass")
    assert not _modules_loaded_by(code) & set(HEAVY)

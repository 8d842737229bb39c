"""The evaluation surface is pinned, and importing it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import gapless.evaluation as evaluation


def test_all_is_sorted_and_resolves() -> None:
    assert evaluation.__all__ == sorted(evaluation.__all__)
    for name in evaluation.__all__:
        assert getattr(evaluation, name) is not None


def test_import_loads_neither_sklearn_nor_shap() -> None:
    code = ("import sys, json, gapless.evaluation; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = set(json.loads(out))
    assert not {"sklearn", "shap", "scipy", "gapless.training"} & loaded

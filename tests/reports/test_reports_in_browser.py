"""The HTML reports, opened offline in headless Chromium: every Plotly figure renders."""

from __future__ import annotations

import re
from pathlib import Path

from gapless import Workspace
from gapless.data.sample_data import make_loans
from gapless.reports.model_card import model_card_html
from gapless.reports.profile import profile_html
from gapless.reports.render import write_html
from gapless.reports.validation import validation_html


def _figures(html: str) -> int:
    return len(re.findall(r'class="plotly-graph-div"', html))


def test_profile_validation_and_model_card_render_their_figures(
    workspace: Workspace, tmp_path: Path, render_dom
) -> None:
    ref = workspace.data.add("loans", make_loans(800, seed=2)).version.ref
    outcome = workspace.data.validate(ref, {"columns": {"age": {"max": 100}}}, on_fail="warn")
    trained = workspace.train({
        "dataset": ref, "target": "defaulted", "budget": {"trials": 2}, "cv": {"folds": 3},
        "candidates": [{"family": "decision_tree"}], "fairness": {"sensitive": ["region"]},
    }, executor="local:1")
    pages = {
        "profile.html": profile_html(workspace.data.profile(ref, target="defaulted")),
        "validation.html": validation_html(outcome.result),
        "model_card.html": model_card_html(trained.evaluation),
    }
    for name, html in pages.items():
        assert "<script src=" not in html  # opens with no network
        expected = _figures(html)
        assert expected >= 1, name
        assert 'class="plot-container plotly"' not in html  # only running plotly.js adds it
        dom = render_dom(write_html(tmp_path / name, html))
        # Plotly fills each figure div with a plot container once its JavaScript ran.
        rendered = len(re.findall(r'class="plot-container plotly"', dom))
        assert rendered == expected, f"{name}: {rendered} of {expected} figures rendered"

"""The HTML reports, opened offline in headless Chromium: every Plotly figure renders."""

from __future__ import annotations

import re
from pathlib import Path

from gapless import Workspace
from gapless.data.sample_data import make_loans
from gapless.reports.profile import profile_html
from gapless.reports.render import write_html
from gapless.reports.validation import validation_html


def _figures(html: str) -> int:
    return len(re.findall(r'class="plotly-graph-div"', html))


def test_profile_and_validation_reports_render_their_figures(
    workspace: Workspace, tmp_path: Path, render_dom
) -> None:
    ref = workspace.data.add("loans", make_loans(800, seed=2)).version.ref
    outcome = workspace.data.validate(ref, {"columns": {"age": {"max": 100}}}, on_fail="warn")
    pages = {
        "profile.html": profile_html(workspace.data.profile(ref, target="defaulted")),
        "validation.html": validation_html(outcome.result),
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

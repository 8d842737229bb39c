"""A summary page: links to other reports, and tables of what happened (steps, versions,
deployments), one offline HTML file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gapless.reports.render import render


def render_summary(title: str, *, subtitle: str = "",
                   links: Sequence[tuple[str, str, str]] = (),
                   tables: Sequence[dict[str, Any]] = ()) -> str:
    """``links``: (label, relative href, note); ``tables``: each ``{"title", "header",
    "rows"}`` with cells as text (escaped when rendered)."""
    return render("summary.html.j2", title=title, subtitle=subtitle, links=list(links),
                  tables=[{"title": t["title"], "header": list(t["header"]),
                           "rows": [[str(c) for c in row] for row in t["rows"]]}
                          for t in tables])
